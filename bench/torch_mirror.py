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
    if kind in ("BatchNorm2D", "BatchNorm1D", "LayerNorm", "GroupNorm"):
        if kind == "LayerNorm":
            norm = nn.LayerNorm(layer.normalized_shape, eps=layer.eps)
        elif kind == "GroupNorm":
            norm = nn.GroupNorm(layer.num_groups, layer.num_channels, eps=layer.eps)
        else:
            batchnorm = nn.BatchNorm2d if kind == "BatchNorm2D" else nn.BatchNorm1d
            norm = batchnorm(layer.num_features, eps=layer.eps, momentum=layer.momentum)
        with torch.no_grad():
            norm.weight.copy_(torch.from_numpy(layer.params["gamma"]))
            norm.bias.copy_(torch.from_numpy(layer.params["beta"]))
        return [norm]
    if kind == "Conv1D":
        conv = nn.Conv1d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         layer.dilation, bias="b" in layer.params)  # fmt: skip
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["W"])))
            if "b" in layer.params:
                conv.bias.copy_(torch.from_numpy(layer.params["b"]))
        return [conv]
    if kind in ("LSTM", "RNN", "GRU"):
        return [_torch_module_classes()[0](layer)]
    if kind == "Residual":
        return [_torch_module_classes()[2](layer)]
    if kind == "GlobalAvgPool2D":
        return [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if kind == "GELU":
        return [nn.GELU(approximate=layer.approximate)]
    if kind == "ELU":
        return [nn.ELU(layer.alpha)]
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
        "SiLU": nn.SiLU,
        "Identity": nn.Identity,
    }
    if kind in simple:
        return [simple[kind]()]
    raise SystemExit(f"bench: no torch twin for {layer!r}; add it to bench/torch_mirror.py")


@functools.cache
def _torch_module_classes() -> tuple[type, type, type]:
    """The torch modules torch lacks, defined once (torch is imported only when needed)."""
    import torch

    class Recurrent(torch.nn.Module):
        """``torch.nn.LSTM``/``GRU``/``RNN`` (batch first) returning all outputs or the last one,
        like ours."""

        def __init__(self, layer: Any) -> None:
            super().__init__()
            name = type(layer).__name__
            kind = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}.get(name, torch.nn.RNN)
            self.rnn = kind(layer.input_size, layer.hidden_size, batch_first=True)
            self.return_sequences = layer.return_sequences
            p = layer.params
            with torch.no_grad():
                self.rnn.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(p["Wx"].T)))
                self.rnn.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(p["Wh"].T)))
                self.rnn.bias_ih_l0.copy_(torch.from_numpy(p["bx"] if name == "GRU" else p["b"]))
                if name == "GRU":
                    self.rnn.bias_hh_l0.copy_(torch.from_numpy(p["bh"]))
                else:
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

    class Residual(torch.nn.Module):
        """``x + block(x)``, the block mirrored layer by layer."""

        def __init__(self, layer: Any) -> None:
            super().__init__()
            self.block = mirror(layer.block)

        def forward(self, x: Any) -> Any:
            return x + self.block(x)

    return Recurrent, Reshape, Residual


def mirror(model: Any) -> Any:
    """``torch.nn.Sequential`` equivalent to the scratchnet ``model`` (or single layer); nested
    ``Sequential``s are flattened, residual blocks kept."""
    import torch

    def leaves(m: Any) -> list[Any]:
        if type(m).__name__ == "Residual":
            return [m]
        return [x for layer in m.layers for x in leaves(layer)] if hasattr(m, "layers") else [m]

    return torch.nn.Sequential(*(t for layer in leaves(model) for t in torch_layers(layer)))


def graph_twin(model: Any) -> tuple[Any, dict[str, Any]]:
    """A scratchnet ``Graph`` of the layers ResNet-style models use (convolutions, batch norm in
    training mode, ReLU, ``Add``, ``Concat``, dense, flatten, global average pool) as a PyTorch
    function ``forward(x)``, every call in the graph's order, and its parameters as torch leaf
    tensors named as scratchnet names them (``layers.<k>.W``): the same weights, gradients
    comparable name by name."""
    import torch
    import torch.nn.functional as fn

    params = {p.name: torch.tensor(p.value, requires_grad=True) for p in model.parameters()}

    def call(layer: Any, name: str, ins: list) -> Any:
        kind = type(layer).__name__
        if kind == "Conv2D":
            return fn.conv2d(ins[0], params[f"{name}.W"], params.get(f"{name}.b"), stride=layer.stride,
                             padding=layer.padding)  # fmt: skip
        if kind == "BatchNorm2D":
            gamma, beta = params[f"{name}.gamma"], params[f"{name}.beta"]
            return fn.batch_norm(ins[0], None, None, gamma, beta, training=True, eps=layer.eps)
        if kind == "Dense":
            return fn.linear(ins[0], params[f"{name}.W"].T, params.get(f"{name}.b"))
        simple = {"ReLU": lambda: fn.relu(ins[0]), "Add": lambda: sum(ins[1:], ins[0]),
                  "Concat": lambda: torch.cat(ins, dim=layer.axis), "Flatten": lambda: ins[0].flatten(1),
                  "GlobalAvgPool2D": lambda: ins[0].mean(dim=(2, 3))}  # fmt: skip
        if kind not in simple:
            raise SystemExit(f"bench: no torch twin for {layer!r} in a graph; add it to bench/torch_mirror.py")
        return simple[kind]()

    def forward(x: Any) -> Any:
        values = [x]
        for k, args in model._steps:
            values.append(call(model.layers[k], f"layers.{k}", [values[a] for a in args]))
        return values[model._outputs[0]]

    return forward, params
