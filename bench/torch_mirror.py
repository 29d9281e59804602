"""The PyTorch twin of a scratchnet ``Sequential``, layer by layer, with the same weights."""

from __future__ import annotations

import functools
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
    if kind in ("LSTM", "RNN"):
        return [_torch_module_classes()[0](layer)]
    if kind == "Embedding":
        emb = nn.Embedding(layer.vocab, layer.dim)
        with torch.no_grad():
            emb.weight.copy_(torch.from_numpy(layer.params["E"]))
        return [emb]
    if kind == "Reshape":
        return [_torch_module_classes()[1](layer.shape)]
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


@functools.cache
def _torch_module_classes() -> tuple[type, type]:
    """The two torch modules torch lacks, defined once (torch is imported only when needed)."""
    import torch

    class Recurrent(torch.nn.Module):
        """``torch.nn.LSTM``/``RNN`` (batch first) returning all outputs or the last one, like ours."""

        def __init__(self, layer: Any) -> None:
            super().__init__()
            kind = torch.nn.LSTM if type(layer).__name__ == "LSTM" else torch.nn.RNN
            self.rnn = kind(layer.input_size, layer.hidden_size, batch_first=True)
            self.return_sequences = layer.return_sequences
            with torch.no_grad():
                self.rnn.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["Wx"].T)))
                self.rnn.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["Wh"].T)))
                self.rnn.bias_ih_l0.copy_(torch.from_numpy(layer.params["b"]))
                self.rnn.bias_hh_l0.zero_()

        def forward(self, x: Any) -> Any:
            out, _ = self.rnn(x)
            return out if self.return_sequences else out[:, -1]

    class Reshape(torch.nn.Module):
        def __init__(self, shape: tuple[int, ...]) -> None:
            super().__init__()
            self.shape = shape

        def forward(self, x: Any) -> Any:
            return x.reshape(x.shape[0], *self.shape)

    return Recurrent, Reshape


def mirror(model: Any) -> Any:
    """``torch.nn.Sequential`` equivalent to the scratchnet ``model``."""
    import torch

    return torch.nn.Sequential(*(m for layer in model.modules() for m in torch_layers(layer)))
