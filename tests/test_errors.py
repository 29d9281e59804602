"""Bad input beyond single layers' forward passes: constructors and whole models.
(Each op's bad inputs live in the op table: ``tests/op_table.py``.)"""

from __future__ import annotations

import pytest

import scratchnet as sn
from scratchnet.layers import Conv2D, Dense, Dropout, Flatten, ReLU


def test_constructor_errors():
    with pytest.raises(ValueError, match="kernel"):
        Conv2D(1, 1, 0)
    with pytest.raises(ValueError, match="padding"):
        Conv2D(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="int or a pair"):
        Conv2D(1, 1, "3")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        Dropout(1.5)
    with pytest.raises(TypeError, match="not a layer"):
        sn.Sequential(ReLU(), "relu")


def test_summary_reports_the_failing_layer():
    model = sn.Sequential(Conv2D(1, 4, 3), Flatten(), Dense(100, 10))
    with pytest.raises(
        ValueError, match=r"Dense\(100, 10\): expected input of shape \(N, 100\), got \(N, 2704\)"
    ):
        model.summary((1, 28, 28), print_fn=None)


def test_a_zoo_model_names_the_layers_the_user_wrote():
    """The zoo builds fused models: a shape error in a ConvPool2D says it is Conv2D + MaxPool2D."""
    import numpy as np

    from scratchnet import zoo

    model = zoo.build("fmnist-fast")
    fused = r"\(the fused Conv2D\(1, 32, kernel_size=\(3, 3\), padding=\(1, 1\), bias=False\) \+ MaxPool2D\(2\)"
    with pytest.raises(ValueError, match=r"ConvPool2D\(1, 32.*" + fused + r"\): expected input of shape "
                                         r"\(N, 1, H, W\), got \(2, 3, 28, 28\)"):  # fmt: skip
        model.forward(np.zeros((2, 3, 28, 28), np.float32))
