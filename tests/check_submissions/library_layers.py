"""scratchnet's own layers and losses, in the layer convention: the checker must pass them."""

from scratchnet.layers import (
    AvgPool2D,
    BatchNorm1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from scratchnet.losses import MSE, BinaryCrossEntropy, MulticlassHinge, SoftmaxCrossEntropy

__all__ = ["MSE", "AvgPool2D", "BatchNorm1D", "BinaryCrossEntropy", "Conv2D", "Dense", "Dropout", "Embedding",
           "MaxPool2D", "MulticlassHinge", "ReLU", "Sigmoid", "SoftmaxCrossEntropy", "Tanh"]  # fmt: skip
