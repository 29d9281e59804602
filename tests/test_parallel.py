"""Independent jobs in this process or in local worker processes: same results, failures kept apart."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.parallel import JobFailure, run_jobs


def fit_line(seed: int, fail: bool = False) -> dict:
    """A tiny deterministic 'training': least squares on seeded data."""
    if fail:
        raise RuntimeError(f"job with seed {seed} diverged")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((200, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5], np.float32) + 0.01 * rng.standard_normal(200).astype(np.float32)
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {"seed": seed, "w": w.tolist()}


JOBS = [{"seed": s} for s in range(4)]


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_same_results_in_job_order(workers):
    done = []
    results = run_jobs(fit_line, JOBS, workers=workers, on_done=lambda i, r: done.append(i))
    assert [r["seed"] for r in results] == [0, 1, 2, 3] and sorted(done) == [0, 1, 2, 3]
    reference = run_jobs(fit_line, JOBS, workers=1)
    for a, b in zip(results, reference, strict=True):
        np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_is_reported_and_the_others_kept(workers):
    jobs = [{"seed": 0}, {"seed": 1, "fail": True}, {"seed": 2}]
    results = run_jobs(fit_line, jobs, workers=workers)
    assert isinstance(results[1], JobFailure) and results[1].index == 1
    assert "RuntimeError: job with seed 1 diverged" in str(results[1]) and "Traceback" in results[1].traceback
    assert results[0]["seed"] == 0 and results[2]["seed"] == 2


def test_progress_lines_name_jobs_finishing_out_of_order():
    from scratchnet.parallel import JobProgress

    lines: list[str] = []
    names = ["lr 0.1", "lr 0.01", "lr 1"]
    progress = JobProgress(names, lambda r: f"loss {r['loss']}", lines.append, bar=False)
    progress(2, {"loss": 3})
    progress(0, JobFailure(0, "RuntimeError: boom", ""))
    progress(1, {"loss": 1})
    assert lines == ["[1/3] lr 1: loss 3", "[2/3] lr 0.1: job 0 failed: RuntimeError: boom",
                     "[3/3] lr 0.01: loss 1"]  # fmt: skip


def test_bad_worker_count():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_jobs(fit_line, JOBS, workers=0)


def test_sweep_with_two_workers_matches_one(tmp_path):
    """The same seeds give the same runs whether the sweep's trainings run one after the other or
    in two worker processes."""
    import json

    from test_cli import FAST
    from test_data import write_idx_set

    from scratchnet.cli import main

    write_idx_set(tmp_path / "data" / "mnist", n_train=96, n_test=24)
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"sweep{workers}"
        code = main(["sweep", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--lr", "0.1", "0.01",
                     "--epochs", "1", "--workers", workers, "--out", str(out), *FAST])  # fmt: skip
        assert code == 0
        runs[workers] = json.loads((out / "sweep.json").read_text())["runs"]
    assert [r["val_accuracy"] for r in runs["1"]] == pytest.approx([r["val_accuracy"] for r in runs["2"]])
    assert [r["train_loss"] for r in runs["1"]] == pytest.approx([r["train_loss"] for r in runs["2"]], rel=1e-5)


def test_jobs_on_a_real_dask_cluster():
    """A LocalCluster of 2 worker processes started here (no mocks): same results as in-process,
    and a failing job comes back as a JobFailure while the others are kept."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:  # fmt: skip
        jobs = [*JOBS, {"seed": 9, "fail": True}]
        results = run_jobs(fit_line, jobs, scheduler=cluster.scheduler_address)
    reference = run_jobs(fit_line, JOBS, workers=1)
    for a, b in zip(results[:4], reference, strict=True):
        np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)
    assert isinstance(results[4], JobFailure) and "seed 9 diverged" in results[4].error


def thread_budget() -> int:
    """A job that reports the thread budget it runs with (what its training's shards may use)."""
    from scratchnet.runtime import compute_threads

    return compute_threads()


def test_workers_never_get_more_threads_than_cores():
    """In-process the job has every core; W local workers get cores // W each; on a cluster of
    2 worker processes on this machine, each job gets half the cores."""
    from scratchnet.runtime import available_cores

    cores = available_cores()
    assert run_jobs(thread_budget, [{}], workers=1) == [cores]
    assert run_jobs(thread_budget, [{}, {}], workers=2) == [max(1, cores // 2)] * 2
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:  # fmt: skip
        on_cluster = run_jobs(thread_budget, [{}, {}], scheduler=cluster.scheduler_address)
    assert on_cluster == [max(1, cores // 2)] * 2


def load_array(path: str) -> float:
    """A job that reads a file (as a training reads its dataset)."""
    return float(np.load(path, allow_pickle=False).sum())


def test_missing_file_on_a_cluster_worker_says_the_workers_need_it(tmp_path):
    """A job that cannot find its file on a worker: the error says the data must be visible to
    every worker; the job whose file exists succeeds."""
    distributed = pytest.importorskip("dask.distributed")
    np.save(tmp_path / "here.npy", np.arange(4.0))
    jobs = [{"path": str(tmp_path / "here.npy")}, {"path": str(tmp_path / "nowhere.npy")}]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:  # fmt: skip
        ok, missing = run_jobs(load_array, jobs, scheduler=cluster.scheduler_address)
    assert ok == 6.0
    assert isinstance(missing, JobFailure) and missing.error.startswith("FileNotFoundError")
    assert "nowhere.npy" in missing.error and "visible to every worker" in missing.error
    # the same failure in local processes carries no cluster hint
    [local] = run_jobs(load_array, jobs[1:], workers=1)
    assert "visible to every worker" not in local.error
