"""Batch normalisation of ``(N, D)`` features, training mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import layers
from ...ops.naive.norm import batchnorm_backward_naive, batchnorm_naive
from ..spec import Arrays, Mistake, OpSpec, with_dout


def batchnorm_cases(rng: np.random.Generator) -> list[dict[str, Any]]:
    out = []
    for k, (N, D) in enumerate([(8, 5), (4, 3), (16, 2), (5, 7)]):
        out.append({"x": rng.standard_normal((N, D)) * 3 + 1, "gamma": rng.uniform(0.5, 2, D),
                    "beta": rng.standard_normal(D), "eps": 1e-5, "dout_seed": 600 + k})  # fmt: skip
    return out


def batchnorm_expected(case: dict[str, Any]) -> Arrays:
    bn = layers.BatchNorm1D(case["x"].shape[1], eps=case["eps"]).astype(np.float64)
    bn.params["gamma"], bn.params["beta"] = case["gamma"].copy(), case["beta"].copy()
    out = bn.forward(case["x"])
    dx = bn.backward(with_dout(case, out.shape))
    return {"out": out, "dx": dx, "dgamma": bn.grads["gamma"], "dbeta": bn.grads["beta"]}


def _batchnorm_mistakes() -> tuple[Mistake, ...]:
    def dx(c, **mistake):
        return {"dx": batchnorm_backward_naive(c["dout"], c["x"], c["gamma"], c["eps"], **mistake)[0]}

    def constant_stats(c):
        return dx(c, mean_term=False, var_term=False)

    def unbiased(c):
        return {"out": batchnorm_naive(c["x"], c["gamma"], c["beta"], c["eps"], unbiased=True)}

    def no_mean_term(c):
        return dx(c, mean_term=False)

    def no_var_term(c):
        return dx(c, var_term=False)

    return (
        Mistake(
            "batch statistics treated as constants",
            "your dx is dout * gamma / sqrt(var + eps): it "
            "leaves out that the mean and the variance depend on x (both terms are missing)",
            constant_stats,
        ),
        Mistake(
            "the mean's term missing",
            "your dx lacks the term of the mean's dependence on x: subtract the mean of gamma * dout",
            no_mean_term,
        ),
        Mistake(
            "the variance's term missing",
            "your dx lacks the term of the variance's dependence on x: "
            "subtract xhat * mean(gamma * dout * xhat)",
            no_var_term,
        ),
        Mistake(
            "unbiased variance in the forward pass",
            "you normalise with the unbiased variance (divided "
            "by N - 1); batch norm normalises with the batch's own variance (divided by N)",
            unbiased,
        ),
    )


SPECS = (
    OpSpec(
        name="batchnorm",
        about="batch normalisation of (N, D) features, training mode",
        results=("out", "dx", "dgamma", "dbeta"),
        cases=batchnorm_cases,
        expected=batchnorm_expected,
        signature="out, cache = batchnorm_forward(x, gamma, beta, bn_param)    # x (N, D), gamma, beta (D,),\n"
                  "#   bn_param = {'mode': 'train', 'eps': eps, 'momentum': 0.9}\n"
                  "dx, dgamma, dbeta = batchnorm_backward(dout, cache)",
        equations="xhat = (x - mean) / sqrt(var + eps) (mean, var over the batch, var divided by N)\n"
                  "out = gamma * xhat + beta\n"
                  "dx = gamma / (N sqrt(var + eps)) * (N dout - dout.sum(0) - xhat * (dout*xhat).sum(0))",
        doc="docs/batchnorm.md",
        layer="BatchNorm1D",
        mistakes=_batchnorm_mistakes(),
    ),
)  # fmt: skip
