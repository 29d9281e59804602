"""Data parallelism: S shards in S threads compute what one pass over the whole batch computes
(networks without batch statistics), or what S separate passes compute (batch norm: ghost
batches); a seed fixes the run; the trainer runs on it."""

from __future__ import annotations

import numpy as np
import pytest
from test_train import CFG, make_trainer, split

from scratchnet import zoo
from scratchnet.data_parallel import DataParallel
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.train import TrainConfig


def batch(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 12, 12)), rng.integers(0, 10, n)


def step(runner, model, x, y) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    loss = SoftmaxCrossEntropy()
    scores = runner.forward(x)
    loss.forward(scores, y)
    dx = runner.backward(loss.backward())
    return scores, {p.name: p.grad.copy() for p in model.parameters()}, dx


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_compute_the_whole_batch_pass(shards):
    """No batch statistics: the same scores, parameter and input gradients (float64)."""
    x, y = batch()
    one = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0).astype(np.float64)
    many = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0).astype(np.float64)
    s1, g1, dx1 = step(one, one, x, y)
    s2, g2, dx2 = step(DataParallel(many, shards), many, x, y)
    np.testing.assert_allclose(s2, s1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx2, dx1, rtol=1e-12, atol=1e-12)
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_shards_on_one_thread_give_the_same_result_as_on_two():
    """A thread budget of one (a job sharing the machine): the shards run one after the other in
    the calling thread, with the same arithmetic in the same order; batch norm, dropout and
    running statistics included (fmnist-cnn in train mode)."""
    x, y = batch(32, seed=3)
    results = []
    for threads in (1, 2):
        model = zoo.build("fmnist-cnn", in_shape=(1, 12, 12), rng=0)
        runner = DataParallel(model, 2, threads=threads)
        assert (runner.threads, runner.blas_threads) == ((1, 1) if threads == 1 else (2, 1))
        assert (runner._pool is None) == (threads == 1)
        scores, grads, _ = step(runner, model, x.astype(np.float32), y)
        results.append((scores, grads, {k: v.copy() for k, v in model.state_dict().items()}))
    (s1, g1, st1), (s2, g2, st2) = results
    np.testing.assert_array_equal(s1, s2)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)
    for k in st1:
        np.testing.assert_array_equal(st1[k], st2[k], err_msg=k)


def test_the_thread_budget_is_the_blas_limit_in_force():
    """``--threads``/a job's share limits BLAS; that limit is the budget the shards run on."""
    from threadpoolctl import threadpool_limits

    from scratchnet.runtime import available_cores, compute_threads

    model = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0)
    with threadpool_limits(limits=1, user_api="blas"):
        assert compute_threads() == 1
        assert DataParallel(model, 2).threads == 1
    assert compute_threads() <= available_cores()
    import scipy.special  # noqa: F401  (SciPy brings its own OpenBLAS: its thread count is not NumPy's)
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    others = [i["filepath"] for i in controller.info()
              if i["user_api"] == "blas" and "numpy" not in i["filepath"]]  # fmt: skip
    budget = compute_threads()
    for path in others:
        with controller.select(filepath=path).limit(limits=1):
            assert compute_threads() == budget
    many = DataParallel(model, 2, threads=4)
    assert (many.threads, many.blas_threads) == (2, 2)


def test_batch_norm_normalises_each_shard_on_its_own():
    """Ghost batch norm: shard s is normalised with its own statistics; the gradients are the sum
    of the shards' (each shard's loss scaled to the whole batch); running statistics the mean."""
    x, y = batch(20)
    ref = zoo.build("fmnist-cnn", in_shape=(1, 12, 12), dropout=0.0, rng=0).astype(np.float64)
    many = zoo.build("fmnist-cnn", in_shape=(1, 12, 12), dropout=0.0, rng=0).astype(np.float64)
    start = {k: v.copy() for k, v in ref.state_dict().items()}
    scores, grads, _ = step(DataParallel(many, 2), many, x, y)
    expected_grads: dict[str, np.ndarray] = {}
    running = []
    for half in (slice(0, 10), slice(10, 20)):
        ref.load_state_dict(start)
        loss = SoftmaxCrossEntropy()
        s = ref.forward(x[half])
        np.testing.assert_allclose(scores[half], s, rtol=1e-12, atol=1e-12)
        loss.forward(s, y[half])
        ref.backward(loss.backward() / 2)  # each half's mean loss, as a share of the batch mean
        for p in ref.parameters():
            expected_grads[p.name] = expected_grads.get(p.name, 0) + p.grad
        running.append({k: v.copy() for k, v in ref.state_dict().items() if "running" in k})
    for k in grads:
        np.testing.assert_allclose(grads[k], expected_grads[k], rtol=1e-10, atol=1e-13, err_msg=k)
    state = many.state_dict()
    for k in running[0]:
        np.testing.assert_allclose(state[k], (running[0][k] + running[1][k]) / 2, rtol=1e-12, err_msg=k)


def test_a_batch_smaller_than_the_shard_count_and_errors():
    model = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0)
    dp = DataParallel(model, 4)
    x, y = batch(3)
    with pytest.raises(RuntimeError, match="before forward"):
        dp.backward(np.zeros((3, 10), np.float32))
    scores, _, _ = step(dp, model, x.astype(np.float32), y)
    assert scores.shape == (3, 10)
    with pytest.raises(ValueError, match="at least 2 shards"):
        DataParallel(model, 1)


def test_training_with_shards_is_reproducible_and_learns(tmp_path):
    """Dropout masks come from the layers' seeded generators: the same seed, the same run."""
    runs = []
    for k in range(2):
        trainer = make_trainer(tmp_path / str(k), TrainConfig(**{**CFG, "shards": 2}))
        trainer.fit(*split())
        runs.append(trainer)
    a, b = (r.model.state_dict() for r in runs)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert runs[0].history.epochs[-1]["val_accuracy"] > 0.5


def test_the_callers_floating_point_error_handling_holds_in_the_shards():
    """``np.errstate`` is per thread: the shards' threads follow the caller's (a diverging run is
    reported by the trainer, not by warnings from worker threads)."""
    import warnings

    import scratchnet as sn
    from scratchnet.layers import Dense

    model = sn.Sequential(Dense(2, 2, rng=0))
    model.layers[0].params["W"][:] = 1e38
    dp = DataParallel(model, 2)
    x = np.full((4, 2), 1e38, np.float32)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        dp.forward(x)
    with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(dp.forward(x)).all()
