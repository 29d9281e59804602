"""Problem set 1 (``000_...``): convolution and max-pooling backpropagation by hand, a fully
dimensioned CNN for Fashion-MNIST, and its implementation from scratch (NumPy and matplotlib
only: the hand-in part D asks for), each piece under its derivation, trained above 90%."""

from .scratch_cnn import CODE

HEADER = r"""# Problem set 1: backpropagation through convolution and max-pooling, and a CNN for Fashion-MNIST

**A hand-in that stands alone.** Everything below — the convolution, pooling, batch norm, ReLU,
dense and loss layers with their backward passes, the training loop and the data loading — is
written in this notebook with **NumPy and matplotlib only** (both come with Colab and with any
scientific Python), as part D of the problem set asks: nothing to install. Open it in Colab
(*File → Upload notebook*, or the download button of its page on the documentation site) or in
any Jupyter and run it top to bottom; it reads the official Fashion-MNIST files from the folder
that `SCRATCHNET_DATA` names, or downloads them once (checking their published checksums). The
last cell checks the layers against scratchnet's proven ones where scratchnet is installed.

Notation: $dV$ is the gradient (or Jacobian) of the loss with respect to $V$; the upstream
gradient $dz$ is known. Arrays are indexed from 0; the convolution is the deep-learning one
(cross-correlation, no kernel flip)."""

SETUP = CODE["imports"] + '''
import matplotlib.pyplot as plt

FAST = os.environ.get("SCRATCHNET_FAST") == "1"  # the tests' quick run: 3,000 images, one epoch


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f() at the float64 array x (changed in place,
    each entry restored)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


print("fast mode" if FAST else "full run", "· NumPy", np.__version__)'''

CELLS = [
    ("md", HEADER),
    ("code", SETUP),
    ("md", r"""## A. The downstream $dW$ of a convolution (stride 1, no padding)

$X$ is $n_x\times n_x$, $W$ is $n_k\times n_k$, $z = X * W$ with $z_{i,j} = \sum_{a=0}^{n_k-1}\sum_{b=0}^{n_k-1}
W_{a,b}\,X_{i+a,\,j+b}$ for $i,j = 0,\dots,n_z-1$, $n_z = n_x - n_k + 1$.

Each weight $W_{a,b}$ is used by every output $z_{i,j}$, with the factor $X_{i+a,j+b}$
($\partial z_{i,j}/\partial W_{a,b} = X_{i+a,j+b}$: differentiate the sum term by term; only the term
$(a,b)$ contains $W_{a,b}$). The chain rule sums over all of them:

$$\boxed{dW_{a,b} = \sum_{i=0}^{n_z-1}\sum_{j=0}^{n_z-1} dz_{i,j}\;X_{i+a,\,j+b}}$$

i.e. $dW = X * dz$, the valid correlation of the input with the upstream gradient.

For $n_x = 3$, $n_k = 2$ ($n_z = 2$), written out entry by entry:

$$\begin{aligned}
dW_{0,0} &= dz_{0,0}X_{0,0} + dz_{0,1}X_{0,1} + dz_{1,0}X_{1,0} + dz_{1,1}X_{1,1},\\
dW_{0,1} &= dz_{0,0}X_{0,1} + dz_{0,1}X_{0,2} + dz_{1,0}X_{1,1} + dz_{1,1}X_{1,2},\\
dW_{1,0} &= dz_{0,0}X_{1,0} + dz_{0,1}X_{1,1} + dz_{1,0}X_{2,0} + dz_{1,1}X_{2,1},\\
dW_{1,1} &= dz_{0,0}X_{1,1} + dz_{0,1}X_{1,2} + dz_{1,0}X_{2,1} + dz_{1,1}X_{2,2}.
\end{aligned}$$

(And $db = \sum_{i,j}dz_{i,j}$ if the layer has a bias.) The same for many channels, filters,
images, a stride $s$ and a zero padding $p$: with $\tilde x$ the padded input,
$y_{n,f,i,j} = b_f + \sum_{c,u,v}W_{f,c,u,v}\,\tilde x_{n,c,si+u,sj+v}$, a weight collects the
products of every output it produces with the input under it, and an input pixel collects from
every output whose window covers it:

$$\begin{aligned}
dW_{f,c,u,v} &= \sum_{n,i,j} g_{n,f,i,j}\,\tilde x_{n,c,si+u,sj+v}, & db_f &= \sum_{n,i,j} g_{n,f,i,j},\\
d\tilde x_{n,c,si+u,sj+v} &\mathrel{+}= \sum_f g_{n,f,i,j}\,W_{f,c,u,v} & &
\end{aligned}$$

($dx$ is the centre of $d\tilde x$: the padding is a constant). **The implementation (im2col).**
Every receptive field becomes a row of a matrix $X_{\text{col}}$ of shape
$(N H' W')\times(C k_h k_w)$; with $G$ the $(N H' W')\times F$ upstream gradient and $W$ reshaped
to $F\times(C k_h k_w)$, the three sums above are three matrix products,

$$Y = X_{\text{col}}W^\top + b,\qquad dW = G^\top X_{\text{col}},\qquad dX_{\text{col}} = G\,W,$$

and $dX_{\text{col}}$ is added back onto the pixels its rows came from (col2im: the windows
overlap, so the contributions add — $k_h k_w$ strided additions). One matrix product per pass for
the whole batch:"""),
    ("code", CODE["conv"]),
    ("md", r"""The $3\times3$ / $2\times2$ example: the entry-by-entry formula, the backward pass above, and
finite differences of the forward pass agree (float64):"""),
    ("code", """rng = np.random.default_rng(0)
X, W, dz = rng.standard_normal((3, 3)), rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
dW = np.array([[np.sum(dz * X[a:a + 2, b:b + 2]) for b in range(2)] for a in range(2)])  # the boxed formula
w, x, no_bias = W[None, None].copy(), X[None, None], np.zeros(1)
out, cache = conv_forward(x, w, no_bias, {"stride": 1, "pad": 0})
_, dw, _ = conv_backward(dz[None, None], cache)
fd = numeric_gradient(lambda: float(np.sum(dz * conv_forward(x, w, no_bias, {"stride": 1, "pad": 0})[0])), w)
print(dW)
print(f"max |formula - conv_backward| = {np.max(np.abs(dW - dw[0, 0])):.1e}, "
      f"max |formula - finite differences| = {np.max(np.abs(dW - fd[0, 0])):.1e}")"""),
    ("md", r"""## B. The downstream $dX$ of a max-pooling layer

Max-pooling with an $n_k\times n_k$ window and stride $n_k$ (non-overlapping windows):
$z_{i,j} = \max_{0\le a,b<n_k} X_{n_k i + a,\ n_k j + b}$. Within a window the maximum is locally
one of its inputs, $z_{i,j} = X_{p^*,q^*}$ with $(p^*,q^*) = \operatorname{argmax}$ of the window,
so $\partial z_{i,j}/\partial X_{p,q} = 1$ if $(p,q) = (p^*,q^*)$ and 0 otherwise (the other entries of the
window can move a little without changing the maximum). Each input belongs to exactly one
window, so

$$\boxed{dX_{p,q} = \begin{cases} dz_{\lfloor p/n_k\rfloor,\ \lfloor q/n_k\rfloor} & \text{if } X_{p,q} \text{ is the maximum of its window}\\ 0 & \text{otherwise}\end{cases}}$$

the upstream gradient routed to each window's arg-max. Ties (equal maxima) get the gradient at
one of them: here, as in PyTorch, the first in row-major order. With overlapping windows
(stride $< n_k$) an input can be the arg-max of several windows and then collects the sum of
their $dz$. **The implementation** walks the $n_k^2$ positions of a window over the whole batch at
once (one strided slice each), keeping the running maximum and which position holds it; the
backward pass sends each $dz$ to that position:"""),
    ("code", CODE["pool"]),
    ("md", r"""For $n_x = 4$, $n_k = 2$: $dX$ is $4\times4$ with exactly one non-zero entry, $dz_{i,j}$, in each
of the four $2\times2$ blocks — the formula written as a loop, the backward pass above and finite
differences:"""),
    ("code", """X = rng.permutation(16).reshape(4, 4).astype(float)       # distinct values: one maximum per window
dz = np.array([[1.0, 2.0], [3.0, 4.0]])
dX = np.zeros_like(X)
for i in range(2):
    for j in range(2):
        block = X[2 * i:2 * i + 2, 2 * j:2 * j + 2]
        a, b = np.unravel_index(np.argmax(block), block.shape)
        dX[2 * i + a, 2 * j + b] = dz[i, j]
pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
out, cache = max_pool_forward(X[None, None], pool)
fd = numeric_gradient(lambda: float(np.sum(dz * max_pool_forward(X[None, None], pool)[0][0, 0])), X)
print(X, dX, sep="\\n\\n")
print(f"max |formula - max_pool_backward| = {np.max(np.abs(dX - max_pool_backward(dz[None, None], cache)[0, 0])):.1e}, "
      f"max |formula - finite differences| = {np.max(np.abs(dX - fd)):.1e}")"""),
    ("md", r"""## C. The architecture, every dimension specified

Fashion-MNIST: $28\times28$ grey images (one channel), 10 classes. The blocks are the assignment's
convolution → ReLU → max-pool, with a batch norm between the convolution and the ReLU (it lets the
network train at a high rate and in few epochs):

| # | layer | output $(C, H, W)$ | parameters |
|---|---|---|---:|
| | input | $1\times28\times28$ | |
| 1 | conv $3\times3$, 1→32, stride 1, padding 1, no bias | $32\times28\times28$ | $32\cdot1\cdot9 = 288$ |
| 2 | batch norm (per channel $\gamma, \beta$) | $32\times28\times28$ | $2\cdot32 = 64$ |
| 3 | ReLU | $32\times28\times28$ | 0 |
| 4 | max-pool $2\times2$, stride 2 | $32\times14\times14$ | 0 |
| 5 | conv $3\times3$, 32→64, stride 1, padding 1, no bias | $64\times14\times14$ | $64\cdot32\cdot9 = 18{,}432$ |
| 6 | batch norm | $64\times14\times14$ | $2\cdot64 = 128$ |
| 7 | ReLU | $64\times14\times14$ | 0 |
| 8 | max-pool $2\times2$, stride 2 | $64\times7\times7$ | 0 |
| 9 | flatten | $3136$ | 0 |
| 10 | dense 3136→128 | $128$ | $3136\cdot128 + 128 = 401{,}536$ |
| 11 | ReLU | $128$ | 0 |
| 12 | dense 128→10 | $10$ | $128\cdot10 + 10 = 1{,}290$ |
| | softmax cross-entropy | | **421,738** in all |

Every spatial size follows $\lfloor(n + 2p - k)/s\rfloor + 1$: $28 + 2 - 3 + 1 = 28$ for the first
convolution, $\lfloor(28 - 2)/2\rfloor + 1 = 14$ for the first pool, and so on. The convolutions
have no bias because the batch norm right after each subtracts the channel's mean (a bias would
cancel). Part D prints the code's own count and every layer's output shape, once the layers are
written."""),
    ("md", r"""## D. The implementation and its backpropagation equations

For a batch of $N$ images, with $g = \partial L/\partial(\text{layer output})$ arriving from above,
each layer type of the network from the top down, its equations and then its code (the
convolution and the pool are in A and B). Every function follows the courses' convention:
`out, cache = layer_forward(...)`, then `layer_backward(dout, cache)` returns the gradients.

**Softmax cross-entropy** on scores $s\in\mathbb R^{N\times10}$, labels $y_n$:
$p_{nk} = e^{s_{nk}}/\sum_c e^{s_{nc}}$, $L = -\frac1N\sum_n\log p_{n,y_n}$; since
$\log p_{n,y_n} = s_{n,y_n} - \log\sum_c e^{s_{nc}}$, $\frac{\partial\log p_{n,y_n}}{\partial s_{nk}} = [k = y_n] - p_{nk}$ and

$$\frac{\partial L}{\partial s_{nk}} = \frac1N\big(p_{nk} - [k = y_n]\big).$$

Subtracting each row's maximum from the scores first changes neither $p$ nor $L$ (the factor
$e^{-\max}$ cancels in the ratio) and keeps $e^{s}$ from overflowing:"""),
    ("code", CODE["loss"]),
    ("md", r"""**Dense** $Y = XW + \mathbf 1b^\top$ ($X$: $N\times D$, $W$: $D\times K$): $Y_{nk} = \sum_d X_{nd}W_{dk} + b_k$, so
$\frac{\partial L}{\partial W_{dk}} = \sum_n G_{nk}X_{nd}$, $\frac{\partial L}{\partial b_k} = \sum_n G_{nk}$,
$\frac{\partial L}{\partial X_{nd}} = \sum_k G_{nk}W_{dk}$:

$$dW = X^\top G,\qquad db = G^\top\mathbf 1,\qquad dX = GW^\top .$$

The flatten before the first dense layer, $(N, C, H, W)\to(N, CHW)$, is a reshape: its backward
pass is the reshape back (`affine_backward` returns $dX$ in the input's shape)."""),
    ("code", CODE["dense"]),
    ("md", r"""**ReLU** $a = \max(b, 0)$ element-wise: $\partial a/\partial b = [b > 0]$, so $db = g\odot[b > 0]$
(at $b = 0$ exactly the derivative is taken as 0, as PyTorch does)."""),
    ("code", CODE["relu"]),
    ("md", r"""**Batch norm** per channel over its $M = NHW$ values $x_i$ (training mode):
$\mu = \frac1M\sum_i x_i$, $\sigma^2 = \frac1M\sum_i(x_i - \mu)^2$, $\hat x_i = (x_i - \mu)/\sqrt{\sigma^2 + \epsilon}$,
$y_i = \gamma\hat x_i + \beta$. Directly $d\beta = \sum_i g_i$ and $d\gamma = \sum_i g_i\hat x_i$. For the
input, $\hat x_i$ depends on $x_j$ three ways: through $x_i$ itself, through $\mu$
($\partial\mu/\partial x_j = \frac1M$) and through $\sigma^2$
($\partial\sigma^2/\partial x_j = \frac1M\sum_i 2(x_i-\mu)([i=j] - \frac1M) = \frac2M(x_j - \mu)$, the
$-\frac1M$ terms summing to zero because $\sum_i(x_i-\mu) = 0$). With $s = (\sigma^2+\epsilon)^{-1/2}$,
$\partial s/\partial\sigma^2 = -\frac12 s^3$, so

$$\frac{\partial\hat x_i}{\partial x_j} = s\Big([i=j] - \frac1M\Big) - \frac12(x_i-\mu)s^3\,\frac2M(x_j - \mu) = \frac sM\big(M[i=j] - 1 - \hat x_i\hat x_j\big),$$

$$dx_j = \sum_i\gamma g_i\frac{\partial\hat x_i}{\partial x_j} = \frac{\gamma s}{M}\Big(Mg_j - \sum_i g_i - \hat x_j\sum_i g_i\hat x_i\Big).$$

At test time the batch's $\mu, \sigma^2$ are replaced by running averages kept during training
(constants then, so $dx = \gamma s\,g$). The function normalises axis 1 over every other axis, so
the same code serves $(N, D)$ features and $(N, C, H, W)$ maps:"""),
    ("code", CODE["batchnorm"]),
    ("md", r"""**The network**: the layers of part C in order, and the backward pass taking them in reverse
order, each backward function receiving its own forward call's cache. The table of part C,
computed from the code:"""),
    ("code", CODE["model"]),
    ("code", """params = init_params(np.random.default_rng(0))
print(f"{sum(p.size for p in params.values()):,} parameters")
h, shapes = np.zeros((1, 1, 28, 28), np.float32), []
for k in (1, 2):
    h = conv_forward(h, params[f"w{k}"], np.zeros(len(params[f"w{k}"]), np.float32), CONV)[0]
    shapes.append(("conv, batch norm, ReLU", h.shape[1:]))
    h = max_pool_forward(h, POOL)[0]
    shapes.append(("max-pool", h.shape[1:]))
shapes += [("flatten", (h.size,)), ("dense, ReLU", (params["w3"].shape[1],)), ("dense", (params["w4"].shape[1],))]
for name, shape in shapes:
    print(f"{name:24s} {shape}")"""),
    ("md", r"""**The whole network's gradient, checked.** Every parameter gradient of the backward pass against
central finite differences of the loss, in float64, on two images, with batch norm in **training
mode** (the batch's mean and variance are part of the function, so this checks the three-way
derivative above, not only the test-time scaling). A small copy of the network (3 and 4
channels, 5 hidden units) keeps the check fast; the code is the same:"""),
    ("code", """check_rng = np.random.default_rng(1)
small = {k: v.astype(np.float64) + (0.1 * check_rng.standard_normal(v.shape) if not k.startswith("w") else 0)
         for k, v in init_params(check_rng, channels=(3, 4), hidden=5).items()}   # gamma, beta, biases not at 1 and 0
x_check, y_check = check_rng.standard_normal((2, 1, 28, 28)), np.array([3, 7])
train_mode = [{"mode": "train"}, {"mode": "train"}]
loss_of = lambda: softmax_loss(forward(small, x_check, train_mode)[0], y_check)[0]  # noqa: E731
scores, caches = forward(small, x_check, train_mode)
grads = backward(softmax_loss(scores, y_check)[1], caches)
for name, p in small.items():
    worst = np.max(np.abs(grads[name] - numeric_gradient(loss_of, p)))
    print(f"{name:7s} {p.shape!s:16s} max |backward - finite differences| = {worst:.1e}")"""),
    ("md", r"""## The data

The four official files, read as the IDX format defines them (a magic number whose last byte is
the number of dimensions, the sizes as big-endian 32-bit integers, then the bytes), each checked
against its published MD5 before it is used:"""),
    ("code", CODE["data"]),
    ("code", """x_train, y_train, x_test, y_test = load_fashion_mnist()
if FAST:
    x_train, y_train, x_test, y_test = x_train[:3000], y_train[:3000], x_test[:1000], y_test[:1000]
print(f"train {x_train.shape}, test {x_test.shape}; pixel values in [{x_train.min()}, {x_train.max()}]")
fig, axes = plt.subplots(1, 10, figsize=(12, 1.6))
for k, ax in enumerate(axes):
    ax.imshow(x_train[np.flatnonzero(y_train == k)[0], 0], cmap="gray_r")
    ax.set_title(CLASSES[k], fontsize=8)
    ax.axis("off")
plt.show()""", (  # what each figure shows (its alt text on the site)
        'One example image of each of the ten Fashion-MNIST classes, T-shirt/top to ankle boot, with its class name above it',
    )),
    ("md", r"""## Training

SGD with momentum 0.9 and weight decay $5\cdot10^{-4}$ on the weights, batches of 128; the rate
follows one cycle (up from 0.005 to 0.05 over the first 20% of the steps, then linearly down to
zero); every image is mirrored left-right with probability ½ (a mirrored garment is the same
garment: twice the data for free). At test time each image is scored twice, as is and mirrored,
and the two scores added. The update, with $v$ the velocity and $\lambda$ the weight decay:
$v \leftarrow 0.9\,v - \eta\,(g + \lambda w)$, $w \leftarrow w + v$."""),
    ("code", CODE["train"]),
    ("code", """epochs = 1 if FAST else 4
start = time.perf_counter()
params, bn_params, losses = train(x_train, y_train, epochs)
minutes = (time.perf_counter() - start) / 60
scores = predict(params, bn_params, x_test)
accuracy = np.mean(scores.argmax(1) == y_test)
lines = open("/proc/cpuinfo").read().splitlines() if os.path.exists("/proc/cpuinfo") else []  # Linux, as Colab
info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
flags = info.get("flags", "").split()
vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
cpu = f"{info.get('model name', 'this CPU')} ({vector}, {os.cpu_count()} cores)"
print(f"test accuracy {accuracy:.2%} after {epochs} epochs, {minutes:.1f} min of training on {cpu}")"""),
    ("code", """fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
steps = np.arange(len(losses))
left.plot(steps, losses, lw=0.3, alpha=0.4, label="each batch")
window = min(50, len(losses) // 4 or 1)
left.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, mode="valid"),
          label=f"mean of {window} batches")
left.set(xlabel="step", ylabel="training loss", yscale="log", title="Training loss")
left.legend()
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (y_test, scores.argmax(1)), 1)
right.imshow(confusion, cmap="Blues")
for (i, j), n in np.ndenumerate(confusion):
    right.text(j, i, n, ha="center", va="center", fontsize=7, color="white" if n > confusion.max() / 2 else "black")
right.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true", title="Test confusion matrix")
right.set_xticklabels(CLASSES, rotation=60, fontsize=8)
right.set_yticklabels(CLASSES, fontsize=8)
plt.tight_layout()
plt.show()
per_class = confusion.diagonal() / confusion.sum(1)
print("accuracy per class:", ", ".join(f"{c} {a:.1%}" for c, a in zip(CLASSES, per_class, strict=True)))
off = confusion - np.diag(confusion.diagonal())
i, j = np.unravel_index(off.argmax(), off.shape)
print(f"the most frequent mistake: {off[i, j]} {CLASSES[i]} images taken for {CLASSES[j]}")""", (  # what each figure shows (its alt text on the site)
        "Left: the training loss of every batch and its running mean falling over the training steps, on a log scale. Right: the test set's confusion matrix, true class by row and predicted class by column, heaviest off the diagonal where shirts are taken for T-shirts, pullovers and coats",
    )),
    ("md", r"""The run above clears the course's 80% within its first epoch and ends above 90% (its exact
figures are printed above, with the CPU they were measured on). The confusion matrix shows where
the rest is lost: shirts against T-shirts, pullovers and coats — garments whose 28x28 silhouettes
genuinely overlap — while trousers, bags, sandals and sneakers are almost never wrong.
scratchnet's default network (`scratchnet train --dataset fashion-mnist`, a larger network with
three convolution blocks and dropout) reaches about 93% in about four minutes on two cores."""),
    ("md", r"""## Checking the layers with scratchnet

Where scratchnet is installed, its checker runs each layer function of this notebook on its
cases (shapes, strides, paddings, ties, batches of one) against scratchnet's layers, which are
themselves checked against PyTorch and finite differences, and names the classic mistake when a
check fails. Elsewhere (Colab with nothing installed) the cell says so and the hand-in is complete
without it."""),
    ("code", """import importlib.util

if importlib.util.find_spec("scratchnet") is None:
    print("scratchnet is not installed here: nothing to check against (the hand-in stands without it)")
else:
    from scratchnet.check import check_op

    for op, f, b in [("conv2d", conv_forward, conv_backward), ("maxpool2d", max_pool_forward, max_pool_backward),
                     ("batchnorm", batchnorm_forward, batchnorm_backward), ("relu", relu_forward, relu_backward),
                     ("dense", affine_forward, affine_backward), ("softmax-ce", softmax_loss, None)]:
        report = check_op(op, forward=f, backward=b, verbose=False)
        passed = sum(c.passed for c in report.checks)
        print(f"{op:10s} {passed} of {len(report.checks)} checks passed on {len(report.cases)} cases")
        if not report.passed:
            print(report.text())"""),
]
