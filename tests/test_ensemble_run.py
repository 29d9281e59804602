"""``scratchnet ensemble`` end to end on a tiny MNIST-format set: outputs, evaluation of the saved
ensemble, members that diverge or crash left out, resuming, and the same members whether trained
in this process, in 2 worker processes or on a real Dask cluster."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_cli import FAST
from test_data import write_idx_set

from scratchnet.cli import main
from scratchnet.ensemble import Ensemble
from scratchnet.ensemble_run import ensemble_run
from scratchnet.evaluation import evaluate_ensemble
from scratchnet.experiment import train_run
from scratchnet.train import TrainConfig

CFG = TrainConfig(epochs=1, batch_size=16, val_size=16, lr=0.05, crop_padding=0, flip=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_idx_set(root / "mnist", n_train=96, n_test=24)
    return root


def run(out: Path, data_dir: Path, members: int = 3, cfgs=None, models=("reference-cnn",), **kw) -> dict:
    cfgs = cfgs or {"reference-cnn": CFG}
    return ensemble_run("mnist", out, list(models), cfgs, members=members, data_dir=data_dir, progress=False,
                        log=None, **kw)  # fmt: skip


def member_arrays(out: Path) -> list[dict[str, np.ndarray]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return [dict(np.load(out / e["file"], allow_pickle=False)) for e in manifest["members"]]


def test_cli_writes_the_ensemble_and_evaluate_reads_it(tmp_path, data_dir, capsys):
    out = tmp_path / "ens"
    code = main(["ensemble", "--dataset", "mnist", "--data-dir", str(data_dir), "--members", "3",
                 "--epochs", "1", "--out", str(out), *FAST])  # fmt: skip
    assert code == 0
    for name in ("metrics.json", "ensemble.md", "ensemble.png", "confusion.png", "manifest.json", "plan.json"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert [r["seed"] for r in m["members"]] == [0, 1, 2] and m["members_used"] == 3
    assert len(m["test_accuracy_by_size"]) == 3 and m["test_accuracy"] == m["test_accuracy_by_size"][-1]
    assert np.sum(m["confusion_matrix"]) == 24
    # every member's test accuracy is the one its own run measured
    for r in m["members"]:
        own = json.loads((out / r["run"] / "metrics.json").read_text())
        assert r["test_accuracy"] == pytest.approx(own["test_accuracy"])
    # the saved ensemble gives the same numbers, through the API and the CLI
    again = evaluate_ensemble(out, data_dir=data_dir)
    assert again["accuracy"] == pytest.approx(m["test_accuracy"])
    assert again["member_accuracy"] == pytest.approx([r["test_accuracy"] for r in m["members"]])
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data-dir", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(m["test_accuracy"])


def test_members_differ_and_share_one_validation_split(tmp_path, data_dir):
    out = tmp_path / "ens"
    run(out, data_dir, members=2)
    a, b = member_arrays(out)
    assert any(not np.array_equal(a[k], b[k]) for k in a)  # different seeds, different networks
    norms = [e["normalizer"] for e in json.loads((out / "manifest.json").read_text())["members"]]
    assert norms[0] == norms[1]  # the same training part (shared split, no bagging)


def test_bagging_gives_each_member_its_own_sample(tmp_path, data_dir):
    out = tmp_path / "bag"
    run(out, data_dir, members=2, bagging=True)
    norms = [e["normalizer"] for e in json.loads((out / "manifest.json").read_text())["members"]]
    assert norms[0] != norms[1]  # normalisers fitted on different bootstrap samples
    assert Ensemble.load(out).transforms[0].mean == tuple(norms[0]["mean"])


def test_a_diverging_member_is_reported_and_left_out(tmp_path, data_dir):
    """Members alternate between two models; the second one's rate makes it diverge."""
    cfgs = {"reference-cnn": CFG, "mnist-cnn": replace(CFG, lr=1e8, weight_decay=0.0)}
    out = tmp_path / "div"
    m = run(out, data_dir, members=3, cfgs=cfgs, models=("reference-cnn", "mnist-cnn"))
    assert [r["status"] for r in m["members"]] == ["completed", "diverged", "completed"]
    assert "training loss became" in m["members"][1]["error"]
    assert m["members_used"] == 2 and len(Ensemble.load(out).members) == 2
    assert "diverged" in (out / "ensemble.md").read_text()


def test_no_finished_member_is_a_clear_error(tmp_path, data_dir):
    with pytest.raises(ValueError, match="no ensemble member finished"):
        run(tmp_path / "none", data_dir, members=2, cfgs={"reference-cnn": replace(CFG, lr=1e8)})


def test_resume_reuses_finished_members_continues_interrupted_ones_and_retries_crashed(tmp_path, data_dir):
    # (a constant rate, so that a first run of 1 epoch is exactly a 2-epoch run cut after epoch 1)
    cfg2 = replace(CFG, epochs=2, schedule="constant")
    whole = tmp_path / "whole"
    run(whole, data_dir, members=3, cfgs={"reference-cnn": cfg2})
    # The same run cut short: member 0 finished, member 1 stopped after its first epoch (checkpoint,
    # no final metrics), member 2 crashed with a corrupt checkpoint the first time.
    cut = tmp_path / "cut"
    shutil.copytree(whole / "runs" / "member-0", cut / "runs" / "member-0")
    kwargs = {"data_dir": data_dir, "split_seed": 0, "progress": False, "log": None}
    train_run("mnist", cut / "runs" / "member-1", "reference-cnn", replace(cfg2, epochs=1, seed=1), **kwargs)
    (cut / "runs" / "member-1" / "metrics.json").unlink()
    (cut / "runs" / "member-2").mkdir(parents=True)
    (cut / "runs" / "member-2" / "checkpoint.npz").write_bytes(b"not a checkpoint")
    finished = (cut / "runs" / "member-0" / "checkpoint.npz").stat().st_mtime_ns
    m = run(cut, data_dir, members=3, cfgs={"reference-cnn": cfg2})
    assert (cut / "runs" / "member-0" / "checkpoint.npz").stat().st_mtime_ns == finished  # not retrained
    assert [r["status"] for r in m["members"]] == ["completed", "completed", "failed"]
    assert "checkpoint" in m["members"][2]["error"]
    # member 1, resumed from its epoch-1 checkpoint, is the network trained in one go
    one_go, resumed = member_arrays(whole)[1], member_arrays(cut)[1]
    for k in one_go:
        np.testing.assert_allclose(resumed[k], one_go[k], rtol=1e-5, atol=1e-7)
    # the crashed member is trained again the next time, and the ensemble is then whole
    (cut / "runs" / "member-2" / "checkpoint.npz").unlink()
    m = run(cut, data_dir, members=3, cfgs={"reference-cnn": cfg2})
    assert m["members_used"] == 3
    whole_metrics = json.loads((whole / "metrics.json").read_text())
    assert m["test_accuracy"] == pytest.approx(whole_metrics["test_accuracy"])


def test_a_different_recipe_in_the_same_folder_is_refused_but_more_members_are_added(tmp_path, data_dir):
    out = tmp_path / "ens"
    run(out, data_dir, members=1)
    with pytest.raises(ValueError, match="different recipe"):
        run(out, data_dir, members=1, cfgs={"reference-cnn": replace(CFG, lr=0.01)})
    m = run(out, data_dir, members=2)
    assert m["members_used"] == 2


def test_same_members_in_process_with_two_workers_and_on_a_dask_cluster(tmp_path, data_dir):
    """Whole trainings: a seed gives the same network wherever it is trained (to float32
    rounding: BLAS thread counts differ)."""
    distributed = pytest.importorskip("dask.distributed")
    ref = run(tmp_path / "one", data_dir, members=2)
    two = run(tmp_path / "two", data_dir, members=2, workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:  # fmt: skip
        dask = run(tmp_path / "dask", data_dir, members=2, scheduler=cluster.scheduler_address)
    for other, name in ((two, "two"), (dask, "dask")):
        assert [r["test_accuracy"] for r in other["members"]] == [r["test_accuracy"] for r in ref["members"]]
        for a, b in zip(member_arrays(tmp_path / name), member_arrays(tmp_path / "one"), strict=True):
            for k in a:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=f"{name}: {k}")
