"""Stateful layers: each owns ``params``/``grads`` and wraps a forward/backward pair of ops."""

from .activations import ELU, GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .base import Layer, Parameter
from .conv import Conv1D, Conv2D, ConvPool2D
from .dense import Dense
from .dropout import Dropout
from .merge import Add, Concat
from .norm import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm
from .pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .recurrent import GRU, LSTM, RNN, Embedding
from .residual import Residual
from .shape import Flatten, Identity, Reshape

__all__ = [
    "ELU",
    "GELU",
    "GRU",
    "LSTM",
    "RNN",
    "Add",
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Concat",
    "Conv1D",
    "Conv2D",
    "ConvPool2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAvgPool2D",
    "GroupNorm",
    "Identity",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "MaxPool2D",
    "Parameter",
    "ReLU",
    "Reshape",
    "Residual",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
