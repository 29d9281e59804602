"""Stateful layers: each owns ``params``/``grads`` and wraps a forward/backward pair of ops."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Parameter
from .conv import Conv2D, ConvPool2D
from .dense import Dense
from .dropout import Dropout
from .norm import BatchNorm2D
from .pool import AvgPool2D, MaxPool2D
from .recurrent import LSTM, RNN, Embedding
from .shape import Flatten, Identity, Reshape

__all__ = [
    "LSTM",
    "RNN",
    "AvgPool2D",
    "BatchNorm2D",
    "Conv2D",
    "ConvPool2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "Parameter",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
