"""Ensembles: soft and hard voting, weights, evaluation as members are added, save/load."""

from __future__ import annotations

import numpy as np
import pytest

import scratchnet as sn
from scratchnet import zoo
from scratchnet.ensemble import Ensemble
from scratchnet.layers import Dense


class Fixed(sn.Sequential):
    """A 'model' whose scores are given: votes can be computed by hand."""

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__(Dense(1, scores.shape[1], rng=0))
        self.scores = scores

    def predict(self, x, batch_size=1000, transform=None):
        return self.scores[: len(x)]


def test_soft_and_hard_voting_by_hand():
    # three members, two samples, three classes
    a = np.log(np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]))
    b = np.log(np.array([[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]]))
    c = np.log(np.array([[0.2, 0.5, 0.3], [0.3, 0.4, 0.3]]))
    members, x = [Fixed(a), Fixed(b), Fixed(c)], np.zeros((2, 1))
    soft = Ensemble(members).predict_proba(x)
    np.testing.assert_allclose(soft, [[0.3, 1.3 / 3, 0.8 / 3], [0.2, 1.1 / 3, 1.3 / 3]], atol=1e-12)
    assert Ensemble(members).predict(x).tolist() == [1, 2]
    # hard: votes [0, 1, 1] and [2, 1, 1] -> class 1 twice
    assert Ensemble(members, voting="hard").predict(x).tolist() == [1, 1]
    # weights: member a alone outweighs the others
    assert Ensemble(members, weights=[5, 1, 1], voting="hard").predict(x).tolist() == [0, 2]


def test_evaluate_reports_members_and_growth():
    y = np.array([1, 2])
    a = np.log(np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]))
    b = np.log(np.array([[0.1, 0.5, 0.4], [0.2, 0.5, 0.3]]))
    res = Ensemble([Fixed(a), Fixed(b)]).evaluate(np.zeros((2, 1)), y)
    assert res["member_accuracy"] == [0.5, 0.5] and res["accuracy_by_size"][0] == 0.5
    assert res["accuracy"] == res["accuracy_by_size"][-1] and res["best_member_accuracy"] == 0.5


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(ValueError, match="voting must be 'soft' or 'hard'"):
        Ensemble([Fixed(np.zeros((1, 2)))], voting="mean")
    with pytest.raises(ValueError, match="non-negative weights"):
        Ensemble([Fixed(np.zeros((1, 2)))], weights=[-1])


def test_save_and_load_round_trip(tmp_path):
    specs = [{"name": "reference-cnn", "kwargs": {"in_shape": [1, 8, 8], "num_classes": 3}} for _ in range(2)]
    members = [zoo.build("reference-cnn", in_shape=(1, 8, 8), num_classes=3, rng=k) for k in range(2)]
    ens = Ensemble(members, weights=[2.0, 1.0], specs=specs)
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    ens.save(tmp_path / "ens")
    assert sorted(p.name for p in (tmp_path / "ens").iterdir()) == [
        "manifest.json",
        "member-0.npz",
        "member-1.npz",
    ]
    again = Ensemble.load(tmp_path / "ens")
    np.testing.assert_allclose(again.predict_proba(x), ens.predict_proba(x), rtol=1e-6)
    assert again.weights.tolist() == [2.0, 1.0] and again.voting == "soft"
    with pytest.raises(ValueError, match="not an ensemble directory"):
        Ensemble.load(tmp_path)
