"""scratchnet's own slow loop twins (``scratchnet.ops.naive``) in the courses' functional
convention: the checker must pass them (they are independent of the fast kernels the expected
results come from)."""

import numpy as np

from scratchnet.ops import naive


def conv_forward_naive(x, w, b, conv_param):
    cache = (x, w, conv_param["stride"], conv_param["pad"])
    return naive.conv2d_naive(x, w, b, conv_param["stride"], conv_param["pad"]), cache


def conv_backward_naive(dout, cache):
    return naive.conv2d_backward_naive(dout, *cache)


def _pool(mode):
    def forward(x, pool_param):
        size, stride = (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"]
        return naive.pool2d_naive(x, size, stride, mode), (x, size, stride)

    def backward(dout, cache):
        x, size, stride = cache
        return naive.pool2d_backward_naive(dout, x, size, stride, mode)

    return forward, backward


max_pool_forward_naive, max_pool_backward_naive = _pool("max")
avg_pool_forward_naive, avg_pool_backward_naive = _pool("avg")


def word_embedding_forward(x, W):
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    for v in range(len(W)):
        dW[v] = dout[x == v].sum(axis=0)
    return dW
