"""Pure functions: one ``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache)`` pair per op.

No hidden state, no I/O, NumPy only. Scratch memory comes from the calling layer's
:class:`~scratchnet.ops.workspace.Workspace` (optional argument ``ws``; without it every array is
new). The stateful layers in :mod:`scratchnet.layers` are thin wrappers around these;
:mod:`scratchnet.ops.reference` holds slow loop twins of the conv and pooling passes.
"""

from .activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    tanh_backward,
    tanh_forward,
)
from .conv import col2im, conv2d_backward, conv2d_forward, im2col
from .convpool import convpool2d_backward, convpool2d_forward
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .losses import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    log_softmax,
    mse_backward,
    mse_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .norm import batchnorm2d_backward, batchnorm2d_forward
from .pool import avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward
from .workspace import Workspace, scratch

__all__ = [
    "Workspace",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "batchnorm2d_backward",
    "batchnorm2d_forward",
    "bce_with_logits_backward",
    "bce_with_logits_forward",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "convpool2d_backward",
    "convpool2d_forward",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "im2col",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "log_softmax",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "mse_backward",
    "mse_forward",
    "relu_backward",
    "relu_forward",
    "scratch",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "tanh_backward",
    "tanh_forward",
]
