"""The command line, end to end, on small generated datasets (and on the real ones if present)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from real_data import needs
from test_data import idx_bytes, write_idx_set

from scratchnet.cli import main

PNG = b"\x89PNG\r\n\x1a\n"
FAST = ["--model", "reference-cnn", "--batch-size", "16", "--val-size", "16", "--no-progress"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    write_idx_set(tmp_path / "data" / "mnist", n_train=96, n_test=24)
    return str(tmp_path / "data")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_resume(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", data_dir, "--epochs", "2",
                            "--out", str(out), *FAST)  # fmt: skip
    assert code == 0, err
    assert "test accuracy" in stdout
    for name in ("loss.png", "accuracy.png", "confusion.png", "misclassified.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    for key in (
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
        "train_loss",
        "train_seconds",
        "wall_seconds",
    ):
        assert isinstance(metrics[key], float), key
    assert metrics["config"]["batch_size"] == 16 and len(metrics["confusion_matrix"]) == 10
    assert np.sum(metrics["confusion_matrix"]) == 24
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,iteration,loss,accuracy,lr" and len(rows) == 1 + 2 * 5  # 80 images / 16

    for target in (out / "checkpoint.npz", out):  # the checkpoint, or the run's folder
        code, stdout, _ = run(capsys, "evaluate", str(target), "--data-dir", data_dir, "--json",
                              "--no-progress")  # fmt: skip
        assert code == 0
        assert json.loads(stdout)["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    code, _, err = run(capsys, "evaluate", str(tmp_path), "--data-dir", data_dir)
    assert code == 2 and "holds no checkpoint.npz" in err

    code, _, err = run(capsys, "train", "--resume", str(out / "checkpoint.npz"), "--epochs", "3",
                       "--data-dir", data_dir, "--no-progress")  # fmt: skip
    assert code == 0, err
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["epochs_completed"] == 3 and resumed["iterations"] == 15
    # the same first two epochs; the test set was evaluated once at the end of each run, so only
    # the last record of each run carries a test accuracy
    first_run = [{k: v for k, v in e.items() if not k.startswith("test_")} for e in metrics["epochs"]]
    assert resumed["epochs"][:2] == first_run and "test_accuracy" in metrics["epochs"][-1]
    assert [("test_accuracy" in e) for e in resumed["epochs"]] == [False, False, True]


def test_sweep(tmp_path, data_dir, capsys):
    out = tmp_path / "sweep"
    code, _, err = run(capsys, "sweep", "--lr", "0.05", "0.005", "1e30", "--dataset", "mnist", "--data-dir",
                            data_dir, "--epochs", "1", "--out", str(out), *FAST)  # fmt: skip
    assert code == 0, err
    assert (out / "sweep.png").read_bytes()[:8] == PNG
    table = (out / "sweep.md").read_text()
    assert "| 1e+30 | diverged |" in table
    assert "Best learning rate (highest validation accuracy): " in table
    result = json.loads((out / "sweep.json").read_text())
    assert result["best_lr"] in (0.05, 0.005)
    assert (out / "lr_0.05" / "metrics.json").exists()


def test_sweep_then_train_at_the_best_rate(tmp_path, data_dir, capsys):
    out = tmp_path / "sweep"
    code, _, err = run(capsys, "sweep", "--lr", "0.05", "0.005", "--dataset", "mnist", "--data-dir", data_dir,
                       "--epochs", "1", "--then-train", "2", "--out", str(out), *FAST)  # fmt: skip
    assert code == 0, err
    result = json.loads((out / "sweep.json").read_text())
    final = json.loads((out / "best" / "metrics.json").read_text())
    assert result["then_train"]["lr"] == result["best_lr"] == final["config"]["lr"]
    assert final["epochs_completed"] == 2 and result["then_train"]["test_accuracy"] == final["test_accuracy"]
    assert f"Then trained for 2 epochs at {result['best_lr']:g}" in (out / "sweep.md").read_text()


def test_tensorboard_option_writes_one_folder_per_run(tmp_path, data_dir, capsys):
    pytest.importorskip("tensorboardX")
    from test_callbacks import read_tensorboard_scalars

    tb = tmp_path / "tb"
    code, _, err = run(capsys, "sweep", "--lr", "0.05", "0.005", "--dataset", "mnist", "--data-dir", data_dir,
                       "--epochs", "1", "--tensorboard", str(tb), "--out", str(tmp_path / "s"),
                       *FAST)  # fmt: skip
    assert code == 0, err
    for lr in ("0.05", "0.005"):
        metrics = json.loads((tmp_path / "s" / f"lr_{lr}" / "metrics.json").read_text())
        [(step, acc)] = read_tensorboard_scalars(tb / f"lr_{lr}")["epoch/val_accuracy"]
        assert step == 1 and acc == pytest.approx(metrics["val_accuracy"])


def test_bad_data_gives_message_and_exit_code(tmp_path, data_dir, capsys):
    code, _, err = run(
        capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--epochs", "1", *FAST
    )
    assert code == 2 and "missing" in err and "Traceback" not in err
    labels = Path(data_dir) / "mnist" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(23)))
    code, _, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", data_dir, "--epochs", "1", *FAST)
    assert code == 2 and "t10k-labels-idx1-ubyte holds 23 labels" in err


def test_divergence_exit_code(tmp_path, data_dir, capsys):
    args = [
        "--dataset",
        "mnist",
        "--data-dir",
        data_dir,
        "--epochs",
        "1",
        "--lr",
        "1e30",
        "--schedule",
        "constant",
    ]
    code, _, err = run(capsys, "train", *args, "--out", str(tmp_path / "nan"), *FAST)
    assert code == 1 and "smaller learning rate" in err
    assert json.loads((tmp_path / "nan" / "metrics.json").read_text())["status"] == "diverged"


def test_summary_and_models(capsys):
    code, out, _ = run(capsys, "summary", "--model", "reference-cnn")
    assert code == 0 and "total parameters: 421,642" in out
    code, out, _ = run(capsys, "models")
    assert code == 0 and "fmnist-cnn" in out and "reference-cnn" in out


def test_module_entry_point():
    res = subprocess.run(
        [sys.executable, "-m", "scratchnet", "--version"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and res.stdout.startswith("scratchnet ")


@pytest.mark.parametrize(("dataset", "train", "shape", "fewest"), [
    pytest.param("fashion-mnist", 60000, (1, 28, 28), 1000, marks=needs("fashion-mnist")),
    pytest.param("mnist", 60000, (1, 28, 28), 892, marks=needs("mnist")),
    pytest.param("cifar10", 50000, (3, 32, 32), 1000, marks=needs("cifar10")),
])  # fmt: skip
def test_real_datasets_load_and_verify(dataset, train, shape, fewest):
    """The official files: checksums verified (every extracted CIFAR-10 file too), shapes and
    class balance of the test set."""
    from scratchnet.data import load_dataset

    ds = load_dataset(dataset, download=False, progress=False)
    assert ds.x_train.shape == (train, *shape) and ds.x_test.shape == (10000, *shape)
    assert ds.x_train.dtype == np.uint8
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.sum() == 10000 and counts.min() == fewest


def test_piped_output_is_one_line_per_epoch(tmp_path, data_dir):
    """Progress left on, output not a terminal (a CI log, nohup, a pipe): no bar frames, a line
    per epoch."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    res = subprocess.run(
        [sys.executable, "-m", "scratchnet", "train", "--dataset", "mnist", "--data-dir", data_dir,
         "--epochs", "2", "--out", str(tmp_path / "run"), *[a for a in FAST if a != "--no-progress"]],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "\r" not in res.stdout + res.stderr and "it/s" not in res.stderr
    assert [line.split()[:2] for line in res.stdout.splitlines() if line.startswith("epoch")] == [
        ["epoch", "1/2"],
        ["epoch", "2/2"],
    ]


def test_recipe_flags_override_the_dataset_defaults():
    from scratchnet.cli import _config, build_parser

    def config(*argv: str):
        return _config(build_parser().parse_args(["train", *argv]))

    model, cfg = config("--dataset", "fashion-mnist")
    assert model == "fmnist-fast" and cfg.flip_tta and cfg.shards == 2 and cfg.crop_padding == 0
    model, cfg = config("--dataset", "fashion-mnist", "--model", "fmnist-cnn", "--no-flip-tta", "--shards", "1",
                        "--crop-padding", "2", "--val-every", "1")  # fmt: skip
    assert model == "fmnist-cnn" and not cfg.flip_tta and cfg.shards == 1 and cfg.crop_padding == 2
    assert cfg.val_every == 1
    _, cfg = config("--dataset", "mnist", "--model", "lstm-rows")  # the LSTM recipe keeps its own settings
    assert cfg.shards == 2 and not cfg.flip_tta and cfg.val_every == 1 and cfg.optimizer == "adam"


def test_rough_edges_a_new_user_hits(tmp_path, data_dir, capsys):
    """Aliases of dataset names, a run that fails at start leaves no folder, --limit scales the
    validation split and says what it cut, a corrupt checkpoint says so."""
    from scratchnet.cli import _config, build_parser

    args = build_parser().parse_args(["train", "--dataset", "fashion_mnist", "--limit", "5000"])
    assert args.dataset == "fashion-mnist"
    assert _config(args)[1].val_size == 500  # a tenth of the limit
    explicit = build_parser().parse_args(["train", "--limit", "5000", "--val-size", "64"])
    assert _config(explicit)[1].val_size == 64
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "nope"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice: 'nope'" in err and "fashion-mnist" in err

    out = tmp_path / "failed"
    code, _, err = run(capsys, "train", "--dataset", "fashion-mnist", "--data-dir", data_dir, "--out", str(out),
                       "--no-progress")  # fmt: skip
    assert code == 2 and "Fashion-MNIST: missing" in err
    assert not out.exists(), "a run that fails at start leaves nothing behind"
    code, _, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", data_dir, "--limit", "40",
                       "--val-size", "40", "--out", str(out), *FAST[:-3])  # fmt: skip
    assert code == 2 and "validation split of 40 images (--val-size" in err and "left by --limit 40" in err
    assert not out.exists()

    code, stdout, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", data_dir, "--limit", "60",
                            "--epochs", "1", "--out", str(out), "--model", "reference-cnn",
                            "--batch-size", "16", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "--limit 60: the first 60 of 96 training, 10 of 24 test images are used" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_samples"] == 10 and "10 of 24 test" in metrics["limited"]
    assert len(metrics["confusion_matrix"]) == 10 and np.sum(metrics["confusion_matrix"]) == 10

    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 cut short")
    code, _, err = run(capsys, "evaluate", str(out), "--data-dir", data_dir)
    assert code == 2 and "not a readable .npz file of arrays" in err and "allow_pickle" not in err


def test_every_training_option_has_help_and_the_recipes_are_listed(capsys):
    from scratchnet.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("train", "sweep", "ensemble"):
        p = sub.choices[name]
        missing = [a.dest for a in p._actions if a.dest != "help" and not a.help]
        assert not missing, f"{name}: options without help: {missing}"
        text = p.format_help()
        assert "recipes" in text and "fashion-mnist: model=fmnist-fast" in text
