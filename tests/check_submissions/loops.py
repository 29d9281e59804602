"""A student's correct solutions, written the way the courses' assignments are: literal loops in
the functional convention (``out, cache = op_forward(...)``, ``op_backward(dout, cache)``).

The checker must pass every one of them; ``tests/test_check.py`` also derives each catalogued
mistake from this file by changing the one line a student gets wrong (the lines marked ``# <name>``
are the ones those tests edit).
"""

import numpy as np


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = 1 + (H + 2 * p - HH) // s, 1 + (W + 2 * p - WW) // s
    out = np.zeros((N, F, Ho, Wo))
    k = w  # conv-kernel
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = np.sum(xp[n, :, i * s : i * s + HH, j * s : j * s + WW] * k[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))  # conv-db
    st = s  # conv-backward-stride
    for n in range(N):  # conv-batch
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    if i * st + HH > xp.shape[2] or j * st + WW > xp.shape[3]:
                        continue
                    window = (n, slice(None), slice(i * st, i * st + HH), slice(j * st, j * st + WW))
                    dxp[window] += dout[n, f, i, j] * w[f]
                    dw[f] += dout[n, f, i, j] * xp[window]  # conv-dw
    dx = dxp[:, :, p : p + H, p : p + W]  # conv-dx
    return dx, dw, db  # conv-return


def _pool_windows(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    Ho, Wo = 1 + (x.shape[2] - ph) // s, 1 + (x.shape[3] - pw) // s
    for i in range(Ho):
        for j in range(Wo):
            yield i, j, (slice(i * s, i * s + ph), slice(j * s, j * s + pw))


def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i, j, (r, c) in _pool_windows(x, pool_param):
        out[:, :, i, j] = x[:, :, r, c].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    dx = np.zeros_like(x)
    for i, j, (r, c) in _pool_windows(x, pool_param):  # pool-windows
        for n in range(x.shape[0]):
            for ch in range(x.shape[1]):
                window = x[n, ch, r, c]
                u, v = np.unravel_index(np.argmax(window), window.shape)  # pool-argmax
                dx[n, ch, r.start + u, c.start + v] += dout[n, ch, i, j]
    return dx


def avg_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i, j, (r, c) in _pool_windows(x, pool_param):
        out[:, :, i, j] = x[:, :, r, c].mean(axis=(2, 3))
    return out, (x, pool_param)


def avg_pool_backward_naive(dout, cache):
    x, pool_param = cache
    dx = np.zeros_like(x)
    area = pool_param["pool_height"] * pool_param["pool_width"]  # avg-area
    for i, j, (r, c) in _pool_windows(x, pool_param):
        dx[:, :, r, c] += dout[:, :, i, j][:, :, None, None] / area
    return dx


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)  # relu-dx


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out  # sigmoid-forward


def sigmoid_backward(dout, cache):
    s = cache  # sigmoid-cache
    return dout * s * (1 - s)  # sigmoid-dx


def tanh_forward(x):
    out = np.tanh(x)
    return out, out  # tanh-forward


def tanh_backward(dout, cache):
    t = cache  # tanh-cache
    return dout * (1 - t**2)  # tanh-dx


def softplus_forward(x):
    out = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # log(1 + e^x), without overflow
    return out, x


def softplus_backward(dout, cache):
    s = 1 / (1 + np.exp(-cache))  # softplus-sigmoid
    return dout * s  # softplus-dx


def affine_forward(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)  # affine-dx
    dw = x.reshape(len(x), -1).T @ dout  # affine-dw
    db = dout.sum(axis=0)  # affine-db
    return dx, dw, db


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    N = len(x)
    loss = -np.log(p[np.arange(N), y]).sum() / N  # softmax-loss
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N  # softmax-dx


def svm_loss(x, y):
    N = len(x)
    correct = x[np.arange(N), y][:, None]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0  # svm-correct
    loss = margins.sum() / N  # svm-loss
    dx = (margins > 0).astype(float)
    dx[np.arange(N), y] = -dx.sum(axis=1)
    return loss, dx / N  # svm-dx


def bce_loss(x, y):
    loss = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    dx = (1 / (1 + np.exp(-x)) - y) / x.size  # bce-dx
    return loss, dx


def mse_loss(x, y):
    loss = np.mean((x - y) ** 2)
    dx = 2 * (x - y) / x.size  # mse-dx
    return loss, dx


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p  # dropout-mask
        out = x * mask
    else:
        out = x  # dropout-test
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout  # dropout-dx


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)  # bn-var
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, np.sqrt(var + eps))


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    N = len(dout)
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    g = dout * gamma
    dx = (N * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0)) / (N * std)  # bn-dx
    return dx, dgamma, dbeta


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, caches, prev = np.zeros((N, T, h0.shape[1])), [], h0
    for t in range(T):
        prev, cache = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev, cache[t])  # rnn-carry
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev, dWx, dWh, db


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    ai, af, ao, ag = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]  # lstm-gates
    i, f, o, g = _sigmoid(ai), _sigmoid(af), _sigmoid(ao), np.tanh(ag)
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    di, df = dc * g * i * (1 - i), dc * prev_c * f * (1 - f)
    do, dg = dnext_h * tc * o * (1 - o), dc * i * (1 - g**2)
    da = np.concatenate([di, df, do, dg], axis=1)  # lstm-da
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    H = h0.shape[1]
    h, caches, prev_h, prev_c = np.zeros((N, T, H)), [], h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c, cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        upstream = dh[:, t] + dprev_h  # lstm-carry
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(upstream, dprev_c, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    x, shape = cache
    dW = np.zeros(shape)
    np.add.at(dW, x, dout)  # embedding-add
    return dW
