"""CIFAR-10 end to end on the real files (skipped with a reason when they are not found): the
default recipe's network and the assignment's CNN train, write their colour figures, resume,
evaluate, and vote in an ensemble. (Damaged files are tested on generated ones in test_data.py.)"""

from __future__ import annotations

import json

import numpy as np
from real_data import needs
from test_cli import PNG, run

pytestmark = needs("cifar10")
QUICK = ["--limit", "600", "--val-size", "100", "--batch-size", "64", "--no-progress"]


def test_the_default_recipe_trains_resumes_and_evaluates(tmp_path, capsys):
    out = tmp_path / "cifar"
    code, stdout, err = run(capsys, "train", "--dataset", "cifar10", "--epochs", "1", "--out", str(out), *QUICK)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "cifar-fast" and metrics["config"]["alternate_flips"]
    assert metrics["config"]["tta_shifts"] == 1 and metrics["test_samples"] == 100
    assert 0.1 <= metrics["test_accuracy"] <= 1.0  # one epoch on 500 images: above chance is all we ask
    assert "airplane" in json.dumps(metrics) or len(metrics["confusion_matrix"]) == 10
    for name in ("loss.png", "accuracy.png", "confusion.png", "misclassified.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    code, _, err = run(capsys, "train", "--resume", str(out), "--epochs", "2", "--no-progress")
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["epochs_completed"] == 2
    code, stdout, _ = run(capsys, "evaluate", str(out), "--json", "--no-progress")
    result = json.loads(stdout)
    assert code == 0 and result["dataset"] == "cifar10"
    assert set(result["per_class_accuracy"]) >= {"airplane", "truck"}


def test_the_assignment_cnn_on_colour_images(tmp_path, capsys):
    """``mnist-cnn`` with three input channels: its first-layer filters are RGB."""
    out = tmp_path / "assignment"
    code, _, err = run(capsys, "train", "--dataset", "cifar10", "--model", "mnist-cnn", "--epochs", "1",
                       "--out", str(out), *QUICK)  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["crop_padding"] == 4 and not metrics["config"]["alternate_flips"]
    from scratchnet.evaluation import load_trained

    net, _, _ = load_trained(out / "checkpoint.npz")
    first = next(m for m in net.modules() if "W" in m.params)
    assert first.params["W"].shape == (32, 3, 3, 3)


def test_an_ensemble_of_cifar10_networks(tmp_path, capsys):
    out = tmp_path / "ensemble"
    code, stdout, err = run(capsys, "ensemble", "--dataset", "cifar10", "--members", "2", "--epochs", "1",
                            "--out", str(out), *QUICK)  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["members_used"] == 2 and np.isfinite(metrics["test_accuracy"])
    code, stdout, _ = run(capsys, "evaluate", str(out), "--json")
    assert code == 0 and json.loads(stdout)["accuracy"] == metrics["test_accuracy"]
