"""The figures' arithmetic: smoothing that does not lag, iterations placed on the epoch axis."""

from __future__ import annotations

import numpy as np

from scratchnet import viz

PNG = b"\x89PNG\r\n\x1a\n"


def test_smoothing_is_centred_and_does_not_lag():
    # a straight line is its own centred mean, away from the ends: no lag behind a falling curve
    line = np.linspace(3.0, 1.0, 101)
    np.testing.assert_allclose(viz.smooth(line, 9)[4:-4], line[4:-4], rtol=1e-12)
    # at the ends the window shrinks: the first value is the mean of the first five (window 9)
    assert viz.smooth(line, 9)[0] == np.mean(line[:5])
    # log=True is a geometric mean: exp(mean(log)) of 1, 10, 100 is 10
    assert np.isclose(viz.smooth([1.0, 10.0, 100.0], 3, log=True)[1], 10.0)
    # the default window is about a 25th of the run, odd, 1 for very short runs
    assert [viz.smoothing_window(n) for n in (10, 100, 1000, 100_000)] == [1, 5, 41, 201]


def test_iterations_on_the_epoch_axis():
    # epoch 0 has 4 steps, epoch 1 has 2: each epoch's last step lands on its record's x
    iterations = {"epoch": [0, 0, 0, 0, 1, 1]}
    np.testing.assert_allclose(viz.epoch_positions(iterations), [0.25, 0.5, 0.75, 1.0, 1.5, 2.0])


def test_accuracy_figure_with_one_validation_point_and_loss_of_one_step(tmp_path):
    iterations = {"epoch": [0] * 20 + [1] * 20, "iteration": list(range(40)),
                  "loss": list(np.linspace(2, 0.5, 40)), "accuracy": list(np.linspace(0.1, 0.9, 40))}
    epochs = [{"epoch": 1, "train_accuracy": 0.4}, {"epoch": 2, "train_accuracy": 0.8, "val_accuracy": 0.85,
                                                    "test_accuracy": 0.84}]  # fmt: skip
    viz.plot_accuracy(epochs, tmp_path / "a.png", iterations=iterations)
    viz.plot_loss(iterations, tmp_path / "l.png")
    viz.plot_loss({"iteration": [0], "loss": [3.4]}, tmp_path / "one.png")  # a run that diverged at once
    for name in ("a.png", "l.png", "one.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
