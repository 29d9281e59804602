"""Data parallelism: S shards in S threads compute what one pass over the whole batch computes
(networks without batch statistics), or what S separate passes compute (batch norm: ghost
batches); a seed fixes the run; the trainer runs on it."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from test_train import CFG, make_trainer, split

from scratchnet import zoo
from scratchnet.data_parallel import DataParallel
from scratchnet.layers import Dense
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.model import Sequential
from scratchnet.shard_processes import processes_available
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
        runner = DataParallel(model, 2, threads=threads, processes=False)
        assert (runner.threads, runner.blas_threads) == ((1, 1) if threads == 1 else (2, 1))
        scores, grads, _ = step(runner, model, x.astype(np.float32), y)
        assert (runner._pool is None) == (threads == 1)
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
    """Dropout masks come from the layers' seeded generators: the same seed, the same run, whether
    the second shard runs in a process (the default on Linux) or in a thread."""
    runs = []
    for k, processes in enumerate((True, False)):
        cfg = TrainConfig(**{**CFG, "shards": 2, "shard_processes": processes})
        trainer = make_trainer(tmp_path / str(k), cfg)
        assert trainer.runner.processes == (processes and processes_available() and trainer.runner.threads == 2)
        trainer.fit(*split())
        assert not trainer.runner._workers  # the fit ends its processes
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


needs_fork = pytest.mark.skipif(not processes_available(), reason="shards in processes need Linux's fork")


def train_steps(runner, model, x, y, steps: int = 3) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A few SGD steps through ``runner``: the last scores and input gradient, the final state."""
    for _ in range(steps):
        scores, _, dx = step(runner, model, x, y)
        for p in model.parameters():
            p.value -= 0.05 * p.grad
    return scores, dx, {k: v.copy() for k, v in model.state_dict().items()}


@needs_fork
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shards_in_processes_are_bit_for_bit_the_shards_in_threads(dtype):
    """Batch norm (ghost batches, running statistics), dropout (seeds drawn from the model's
    generators), three steps with updates in between: the same bits on processes as on threads."""
    x, y = batch(30, seed=5)
    runs = []
    for processes in (False, True):
        model = zoo.build("fmnist-cnn", in_shape=(1, 12, 12), rng=0).astype(dtype)
        runner = DataParallel(model, 2, threads=2, processes=processes)
        assert runner.processes == processes
        runs.append(train_steps(runner, model, x.astype(dtype), y))
        assert (len(runner._workers) == 1) == processes
        runner.close()
        assert not runner._workers
    (s1, dx1, st1), (s2, dx2, st2) = runs
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(dx1, dx2)
    for k in st1:
        np.testing.assert_array_equal(st1[k], st2[k], err_msg=k)


class FailsOnTwo(Dense):
    """A dense layer that refuses batches of two (the second shard of a batch of five)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 2:
            raise ValueError("FailsOnTwo: a batch of two")
        return super().forward(x)


@needs_fork
def test_a_shard_process_error_is_raised_in_the_parent_and_a_dead_one_named():
    model = Sequential(FailsOnTwo(4, 3, rng=0))
    dp = DataParallel(model, 2, threads=2, processes=True)
    x = np.ones((6, 4), np.float32)
    with pytest.raises(ValueError, match=r"(?s)a batch of two.*scratchnet-shard-1.*Traceback"):
        dp.forward(x[:5])
    assert dp.forward(x).shape == (6, 3)  # the worker lives on
    os.kill(dp._workers[0].process.pid, signal.SIGKILL)
    dp._workers[0].process.join()
    with pytest.raises(RuntimeError, match=r"scratchnet-shard-1.*died"):
        dp.forward(x)
    dp.close()
    assert dp.forward(x).shape == (6, 3)  # closed: started again
    dp.close()


@needs_fork
def test_shard_processes_survive_ctrl_c_and_an_unread_reply():
    """A worker ignores SIGINT (the parent decides what stops); a reply left unread (a command
    interrupted in the parent) is never taken for the next command's; a model whose parameters
    changed shape gets new workers."""
    x, _ = batch(8)
    model = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0).astype(np.float64)
    ref = zoo.build("reference-cnn", in_shape=(1, 12, 12), rng=0).astype(np.float64)
    dp = DataParallel(model, 2, threads=2, processes=True)
    expected = ref.forward(x)
    np.testing.assert_allclose(dp.forward(x), expected, rtol=1e-12)
    worker = dp._workers[0]
    os.kill(worker.process.pid, signal.SIGINT)
    worker.send("forward", x=x[:1], modes=[(False, True, None)] * len(dp._layers[0]))  # never received
    np.testing.assert_allclose(dp.forward(x), expected, rtol=1e-12)
    assert worker.process.is_alive() and dp._workers == [worker]
    last = dp._layers[0][-1]
    last.params["W"] = np.zeros((last.params["W"].shape[0], 3))
    last.params["b"] = np.zeros(3)
    assert dp.forward(x).shape == (8, 3) and dp._workers[0] is not worker
    dp.close()
    assert not worker.process.is_alive()
    with pytest.raises(RuntimeError, match="before forward"):  # the shard's caches went with its process
        dp.backward(np.zeros((8, 3)))
