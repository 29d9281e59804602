"""The from-scratch CNN of problem set 000 D, as the code cells of a hand-in that stands alone:
NumPy and matplotlib only, no scratchnet. Each ``CODE`` entry is one cell (its key says what it
holds); ``ps1.py`` places them under their derivations. The functions follow the courses'
functional convention (``out, cache = f_forward(...)``, ``grads = f_backward(dout, cache)``), so
``scratchnet check`` grades them against the library's proven ops:
``tests/test_scratch_cnn.py`` does, for every op's cases, so that the notebook's code and the
library never drift.
"""

CODE = {
    "imports": '''\
import gzip
import hashlib
import os
import time
import urllib.request
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view''',

    "data": '''\
# The official Fashion-MNIST files: read from the folder SCRATCHNET_DATA names (its fashion-mnist/
# subfolder), else downloaded once into ./data/fashion-mnist, each checked against its published MD5.
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")


def fetch(name):
    """The path of one official file, downloaded if missing; its MD5 checked either way."""
    shared = os.environ.get("SCRATCHNET_DATA")
    for folder in ([Path(shared) / "fashion-mnist"] if shared else []) + [Path("data/fashion-mnist")]:
        if (folder / name).is_file():
            path = folder / name
            break
    else:
        path = Path("data/fashion-mnist") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(MIRROR + name, path.with_suffix(".part"))
        path.with_suffix(".part").rename(path)
    if hashlib.md5(path.read_bytes()).hexdigest() != FILES[name]:
        raise ValueError(f"{path}: not the official file (MD5 differs); delete it to download it again")
    return path


def read_idx(name):
    """An IDX file as an array: a magic number (its last byte the number of dimensions), the sizes
    as big-endian 32-bit integers, then the unsigned bytes."""
    raw = gzip.decompress(fetch(name).read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist():
    """Images as float32 in [0, 1] of shape (N, 1, 28, 28), labels as int64."""
    x_train, y_train = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    x_test, y_test = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    scale = lambda x: (x.astype(np.float32) / 255)[:, None]  # noqa: E731
    return scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64)''',

    "conv": '''\
def im2col(xp, kh, kw, stride):
    """Every kh x kw window of the padded input as a row: (N * Ho * Wo, C * kh * kw), a view made
    into one copy (sliding_window_view, then the stride's subsampling)."""
    N, C = xp.shape[:2]
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, kh, kw)
    Ho, Wo = win.shape[2:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * kh * kw), Ho, Wo


def conv_forward(x, w, b, conv_param):
    """out[n, f, i, j] = sum_{c,u,v} xp[n, c, i*s + u, j*s + v] w[f, c, u, v] + b[f]: one product
    of the window rows (N*Ho*Wo, C*kh*kw) with the filters (C*kh*kw, F)."""
    s, p = conv_param["stride"], conv_param["pad"]
    F, C, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols, Ho, Wo = im2col(xp, kh, kw, s)
    out = cols @ w.reshape(F, -1).T + b
    out = np.ascontiguousarray(out.reshape(x.shape[0], Ho, Wo, F).transpose(0, 3, 1, 2))
    return out, (x.shape, xp.shape, cols, w, s, p)


def conv_backward(dout, cache):
    """dW = G^T cols, db = sum of G, dcols = G W; dx scatters each window row back where it came
    from (col2im: the windows overlap, so contributions add), then drops the padding."""
    x_shape, xp_shape, cols, w, s, p = cache
    F, C, kh, kw = w.shape
    N, _, Ho, Wo = dout.shape
    g = dout.transpose(0, 2, 3, 1).reshape(-1, F)                 # (N*Ho*Wo, F)
    dw = (g.T @ cols).reshape(w.shape)
    db = g.sum(axis=0)
    dcols = (g @ w.reshape(F, -1)).reshape(N, Ho, Wo, C, kh, kw).transpose(4, 5, 0, 3, 1, 2).copy()
    dxp = np.zeros(xp_shape, dtype=dout.dtype)
    for u in range(kh):                                             # kh*kw strided additions
        for v in range(kw):
            dxp[:, :, u:u + s * Ho:s, v:v + s * Wo:s] += dcols[u, v]
    H, W = x_shape[2:]
    return dxp[:, :, p:p + H, p:p + W], dw, db''',

    "pool": '''\
def max_pool_forward(x, pool_param):
    """The maximum of each window, found by walking the ph * pw positions of a window over the
    whole batch at once (a strided slice each); the cache keeps which position won: the first
    maximum in row-major order on ties, as PyTorch (a later position must be strictly larger)."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // s + 1, (W - pw) // s + 1
    out = x[:, :, :s * Ho:s, :s * Wo:s].copy()
    arg = np.zeros(out.shape, dtype=np.int64)
    for k in range(1, ph * pw):
        u, v = divmod(k, pw)
        candidate = x[:, :, u:u + s * Ho:s, v:v + s * Wo:s]
        larger = candidate > out
        out = np.where(larger, candidate, out)
        arg[larger] = k
    return out, (x.shape, arg, ph, pw, s)


def max_pool_backward(dout, cache):
    """Each window's gradient to its winner alone; where windows overlap, an input collects the sum."""
    x_shape, arg, ph, pw, s = cache
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for k in range(ph * pw):
        u, v = divmod(k, pw)
        dx[:, :, u:u + s * Ho:s, v:v + s * Wo:s] += np.where(arg == k, dout, 0)
    return dx''',

    "relu": '''\
def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)''',

    "dense": '''\
def affine_forward(x, w, b):
    """out = x W + b on x flattened to (N, D)."""
    return x.reshape(len(x), -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    """dW = x^T dout, db = sum of dout over the batch, dx = dout W^T (in x's shape)."""
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(axis=0)''',

    "loss": '''\
def softmax_loss(x, y):
    """The mean cross-entropy of softmax(x) and the labels y, and its gradient (p - onehot(y)) / N."""
    shifted = x - x.max(axis=1, keepdims=True)                   # the same softmax, no overflow
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = len(x)
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1
    return -log_p[np.arange(N), y].mean(), dx / N''',
    "batchnorm": '''\
def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of each feature (axis 1) over every other axis: (N, D) features, or
    (N, C, H, W) maps normalised per channel over N, H and W. In "train" mode with the batch's
    mean and (biased) variance, updating bn_param's running averages; in "test" mode with those."""
    axes = (0, *range(2, x.ndim))
    shape = (1, -1, *[1] * (x.ndim - 2))                         # gamma, beta broadcast over axis 1
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    if bn_param["mode"] == "train":
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        for key, value in (("running_mean", mean), ("running_var", var)):
            bn_param[key] = momentum * bn_param.get(key, value) + (1 - momentum) * value
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    return gamma.reshape(shape) * xhat + beta.reshape(shape), (xhat, gamma, inv_std, axes, shape)


def batchnorm_backward(dout, cache):
    """dbeta = sum g, dgamma = sum g xhat, dx = gamma s / M (M g - sum g - xhat sum g xhat), each
    sum over the M values of a feature (the derivation above)."""
    xhat, gamma, inv_std, axes, shape = cache
    M = dout.size // dout.shape[1]
    dbeta, dgamma = dout.sum(axis=axes), (dout * xhat).sum(axis=axes)
    dx = (gamma * inv_std / M).reshape(shape) * (M * dout - dbeta.reshape(shape) - xhat * dgamma.reshape(shape))
    return dx, dgamma, dbeta''',

    "model": '''\
def init_params(rng, channels=(32, 64), hidden=128):
    """He-initialised weights (variance 2 / fan-in, for ReLU) of the network
    [conv 3x3 -> batch norm -> ReLU -> max-pool 2x2] x 2 -> dense -> ReLU -> dense to the 10 classes.
    The convolutions have no bias: the batch norm after each would subtract it again."""
    c1, c2 = channels
    he = lambda shape, fan_in: (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)  # noqa: E731
    ones, zeros = lambda n: np.ones(n, np.float32), lambda n: np.zeros(n, np.float32)
    return {"w1": he((c1, 1, 3, 3), 9), "gamma1": ones(c1), "beta1": zeros(c1),
            "w2": he((c2, c1, 3, 3), 9 * c1), "gamma2": ones(c2), "beta2": zeros(c2),
            "w3": he((c2 * 7 * 7, hidden), c2 * 7 * 7), "b3": zeros(hidden),
            "w4": he((hidden, 10), hidden), "b4": zeros(10)}


CONV, POOL = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}


def forward(params, x, bn_params):
    """The scores (N, 10) and every layer's cache, in order. bn_params holds one dict per batch
    norm ({"mode": "train"} or "test", and the running averages it keeps)."""
    caches = []
    h = x
    for k in (1, 2):                                               # (N,1,28,28) -> (N,32,14,14) -> (N,64,7,7)
        w = params[f"w{k}"]
        h, c_conv = conv_forward(h, w, np.zeros(len(w), w.dtype), CONV)
        h, c_bn = batchnorm_forward(h, params[f"gamma{k}"], params[f"beta{k}"], bn_params[k - 1])
        h, c_relu = relu_forward(h)
        h, c_pool = max_pool_forward(h, POOL)
        caches += [c_conv, c_bn, c_relu, c_pool]
    h, c3 = affine_forward(h, params["w3"], params["b3"])         # (N, 3136) -> (N, 128)
    h, c_relu3 = relu_forward(h)
    scores, c4 = affine_forward(h, params["w4"], params["b4"])    # (N, 128) -> (N, 10)
    return scores, [*caches, c3, c_relu3, c4]


def backward(dscores, caches):
    """Every parameter's gradient, the layers taken in reverse order."""
    grads = {}
    dh, grads["w4"], grads["b4"] = affine_backward(dscores, caches[10])
    dh = relu_backward(dh, caches[9])
    dh, grads["w3"], grads["b3"] = affine_backward(dh, caches[8])
    for k in (2, 1):
        c_conv, c_bn, c_relu, c_pool = caches[4 * (k - 1): 4 * k]
        dh = relu_backward(max_pool_backward(dh, c_pool), c_relu)
        dh, grads[f"gamma{k}"], grads[f"beta{k}"] = batchnorm_backward(dh, c_bn)
        dh, grads[f"w{k}"], _ = conv_backward(dh, c_conv)
    return grads''',

    "train": '''\
def sgd_momentum(params, grads, velocity, lr, momentum=0.9, weight_decay=5e-4):
    """v <- mu v - lr (g + lambda w); w <- w + v (weight decay on the weights w*, not on the
    biases and the batch norms' gamma and beta)."""
    for k, w in params.items():
        g = grads[k] + (weight_decay * w if k.startswith("w") else 0)
        velocity[k] = momentum * velocity.get(k, 0) - lr * g
        w += velocity[k]


def predict(params, bn_params, x, batch=1000):
    """Test-mode scores, each image's averaged with its mirror image's."""
    test = [dict(p, mode="test") for p in bn_params]
    return np.concatenate([forward(params, x[i:i + batch], test)[0] + forward(params, x[i:i + batch, ..., ::-1], test)[0]
                           for i in range(0, len(x), batch)])


def rate(step, steps, peak, warmup=0.2):
    """One cycle: up linearly from peak / 10 for the first 20% of the steps, then down to zero."""
    if step < warmup * steps:
        return peak * (0.1 + 0.9 * step / (warmup * steps))
    return peak * (steps - step) / ((1 - warmup) * steps)


def train(x, y, epochs, lr=0.05, batch=128, seed=0):
    """Mini-batch SGD with momentum on randomly mirrored images; returns the parameters, the batch
    norms' state and the loss of every step."""
    rng = np.random.default_rng(seed)
    params, velocity, losses = init_params(rng), {}, []
    bn_params = [{"mode": "train"}, {"mode": "train"}]
    per_epoch = len(x) // batch
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        start = time.perf_counter()
        for i in range(per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            xb = x[idx]
            flip = rng.random(len(xb)) < 0.5
            xb[flip] = xb[flip, ..., ::-1]                        # a garment mirrored is still that garment
            scores, caches = forward(params, xb, bn_params)
            loss, dscores = softmax_loss(scores, y[idx])
            if not np.isfinite(loss):
                raise FloatingPointError(f"the loss is {loss} at step {len(losses)}: lower the rate")
            sgd_momentum(params, backward(dscores, caches), velocity, rate(len(losses), epochs * per_epoch, lr))
            losses.append(loss)
        print(f"epoch {epoch + 1}/{epochs}: mean loss {np.mean(losses[-per_epoch:]):.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return params, bn_params, losses''',
}
