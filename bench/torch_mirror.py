"""The PyTorch twin of a scratchnet ``Sequential``, layer by layer, with the same weights."""

from __future__ import annotations

from typing import Any

import numpy as np


def torch_layers(layer: Any) -> list[Any]:
    """The torch module(s) computing what ``layer`` computes (weights copied in)."""
    import torch

    nn = torch.nn
    kind = type(layer).__name__
    if kind in ("Conv2D", "ConvPool2D"):
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         bias="b" in layer.params)  # fmt: skip
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["W"])))
            if "b" in layer.params:
                conv.bias.copy_(torch.from_numpy(layer.params["b"]))
        return [conv, nn.MaxPool2d(2)] if kind == "ConvPool2D" else [conv]
    if kind == "Dense":
        lin = nn.Linear(layer.in_features, layer.out_features, bias="b" in layer.params)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["W"].T)))
            if "b" in layer.params:
                lin.bias.copy_(torch.from_numpy(layer.params["b"]))
        return [lin]
    if kind == "BatchNorm2D":
        bn = nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(layer.params["gamma"]))
            bn.bias.copy_(torch.from_numpy(layer.params["beta"]))
        return [bn]
    if kind == "MaxPool2D":
        return [nn.MaxPool2d(layer.kernel_size, layer.stride)]
    if kind == "Dropout":
        return [nn.Dropout(layer.p)]
    simple = {
        "ReLU": nn.ReLU,
        "Flatten": nn.Flatten,
        "Tanh": nn.Tanh,
        "Sigmoid": nn.Sigmoid,
        "Identity": nn.Identity,
    }
    if kind in simple:
        return [simple[kind]()]
    raise SystemExit(f"bench: no torch twin for {layer!r}; add it to bench/torch_mirror.py")


def mirror(model: Any) -> Any:
    """``torch.nn.Sequential`` equivalent to the scratchnet ``model``."""
    import torch

    return torch.nn.Sequential(*(m for layer in model.modules() for m in torch_layers(layer)))
