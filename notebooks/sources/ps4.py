"""Problem set 4 (``003_...``): cross-entropy vs squared error through a sigmoid, softmax
identities and Jacobian, sigmoid vs tanh networks, conv shapes, 1-D convolutions and the
gradients of a 1-D convolution chain; the worked answers of the copy judged."""

from . import NEEDS, SETUP

CELLS = [
    ("md", r"""# Problem set 4: losses through a sigmoid, softmax, sigmoid vs tanh, 1-D convolutions

Every question restated, derived step by step, and checked by scratchnet against finite
differences. The copy of this problem set carries one student's worked answers; where one of them
slips, the section says where (the summary is at the end).""" + NEEDS),
    ("code", SETUP),
    ("md", r"""## Question 1: a binary classifier's output and its loss

A feed-forward network computes a pre-activation $a = a(\mathbf x, \boldsymbol\theta)$ and an output
$f = g(a)$; one SGD step on one example $(\mathbf x, y)$ is considered.

**1.1 The output activation for binary classification.** The **sigmoid**, $\boxed{g(a) = \sigma(a) =
\dfrac{1}{1 + e^{-a}}}$: it maps any real $a$ into $(0, 1)$, monotonically, with $\sigma(0) = \frac12$.

**1.2 What the output means.** With $y \in \{0, 1\}$, $f = \sigma(a)$ is read as
$\boxed{f(\mathbf x, \boldsymbol\theta) = p(y = 1 \mid \mathbf x)}$, the model's probability that the
example belongs to class 1 (and $1 - f = p(y = 0 \mid \mathbf x)$). Why it suits the task: a
probability must lie in $[0, 1]$, and the two class probabilities must sum to 1, which one output
and its complement give; the log-odds are then linear in the last layer, $\log\frac{p(y=1\mid\mathbf
x)}{p(y=0\mid\mathbf x)} = \log\frac{\sigma(a)}{1-\sigma(a)} = a$ (since $\frac{\sigma(a)}{1-\sigma(a)} =
\frac{1}{e^{-a}} = e^a$), the logistic-regression model on the learnt features; and the prediction
is $[f > \frac12] = [a > 0]$.

**1.3 Cross-entropy as a function of $f$ and $y$.** The negative log-likelihood of a Bernoulli
variable with $p(y=1\mid\mathbf x) = f$: $p(y\mid\mathbf x) = f^{y}(1-f)^{1-y}$, so

$$\boxed{L_{CE}(f, y) = -\log p(y\mid\mathbf x) = -y\log f - (1-y)\log(1-f)}.$$

**1.4 $\partial L_{CE}/\partial a$.** The chain rule through $f = \sigma(a)$:
$\frac{\partial L_{CE}}{\partial a} = \frac{\partial L_{CE}}{\partial f}\,\frac{\partial f}{\partial a}$, with

$$\frac{\partial L_{CE}}{\partial f} = -\frac{y}{f} + \frac{1-y}{1-f} = \frac{-y(1-f) + (1-y)f}{f(1-f)} = \frac{f - y}{f(1-f)}.$$

The sigmoid's derivative, step by step: $\sigma(a) = (1 + e^{-a})^{-1}$, so by the chain rule

$$\begin{aligned}
\frac{\partial f}{\partial a} &= -(1 + e^{-a})^{-2}\cdot\frac{\partial(1 + e^{-a})}{\partial a}
= -(1 + e^{-a})^{-2}\cdot(-e^{-a})\\
&= \frac{e^{-a}}{(1 + e^{-a})^2}
= \frac{1}{1 + e^{-a}}\cdot\frac{e^{-a}}{1 + e^{-a}},
\end{aligned}$$

and since $\frac{e^{-a}}{1 + e^{-a}} = \frac{(1 + e^{-a}) - 1}{1 + e^{-a}} = 1 - \sigma(a)$,

$$\frac{\partial f}{\partial a} = \sigma(a)\,(1 - \sigma(a)) = f(1-f).$$

The product:

$$\boxed{\frac{\partial L_{CE}}{\partial a} = \frac{f-y}{f(1-f)}\cdot f(1-f) = f - y = \sigma(a) - y}.$$

**1.5 Squared error** (the factor $\frac12$ or $\frac1N$ dropped): $\boxed{L_{MSE}(f, y) = (f - y)^2}$.

**1.6 $\partial L_{MSE}/\partial a$,** step by step: $\frac{\partial L_{MSE}}{\partial f} = 2(f - y)\cdot\frac{\partial(f-y)}{\partial f} = 2(f-y)$,
and $\frac{\partial f}{\partial a} = f(1-f)$ as in 1.4, so

$$\boxed{\frac{\partial L_{MSE}}{\partial a} = 2\,(f - y)\,f\,(1 - f) = 2\,(\sigma(a) - y)\,\sigma(a)\,(1-\sigma(a))}.$$

The check: both gradients from scratchnet's losses (`BinaryCrossEntropy` on logits; `MSE` after a
`Sigmoid` layer, backpropagated through it) against the formulas and finite differences, over a
range of logits."""),
    ("code", """a = np.linspace(-8, 8, 33)
y = np.ones_like(a)
f = 1 / (1 + np.exp(-a))
bce, mse, sig = sn.losses.BinaryCrossEntropy(), sn.losses.MSE(), sn.layers.Sigmoid()
bce.forward(a, y)
g_ce = bce.backward() * a.size                 # the losses are means: undo the 1/M for one example each
mse.forward(sig.forward(a), y)
g_mse = sig.backward(mse.backward()) * a.size


def L_ce():
    return float(np.sum(-y * np.log(1 / (1 + np.exp(-a))) - (1 - y) * np.log(1 - 1 / (1 + np.exp(-a)))))


def L_mse():
    return float(np.sum((1 / (1 + np.exp(-a)) - y) ** 2))


compare("dL_CE/da", f - y, g_ce, numeric_gradient(L_ce, a))
compare("dL_MSE/da", 2 * (f - y) * f * (1 - f), g_mse, numeric_gradient(L_mse, a))
for logit in (-8.0, -4.0, 0.0):
    i = int(np.argmin(np.abs(a - logit)))
    print(f"a = {logit:+.0f}, y = 1: dL_CE/da = {g_ce[i]:+.4f}   dL_MSE/da = {g_mse[i]:+.6f}")"""),
    ("md", r"""**1.7 Which loss suits binary classification, and why.** Cross-entropy. The decisive
difference is in 1.4 against 1.6: the squared error's gradient carries the factor
$\sigma'(a) = f(1-f)$, which vanishes when the unit saturates. For a *confidently wrong*
prediction ($y = 1$ but $a \ll 0$, so $f \approx 0$) cross-entropy's gradient is $f - y \approx -1$,
as large as it can be, while the squared error's is $2(f-1)f(1-f) \approx -2f \to 0$: at $a = -8$
above it is about $-6.7\cdot10^{-4}$, 1,500 times smaller. So the examples the model gets most
wrong are the ones squared error learns least from. Two further reasons: cross-entropy is the
negative log-likelihood of the Bernoulli model of 1.2 (it makes $f$ a calibrated $p(y=1\mid\mathbf
x)$), and with a linear last layer it is convex in that layer's weights while squared error
through a sigmoid is not. (The copy's answer — that squared error "is not punishing enough
because the distances are small" — points the right way but misses this mechanism: the
distances $|f - y|$ are the same for both losses; what differs is the $\sigma'$ factor.)

Where it shows, and where it does not: a two-class cut of Fashion-MNIST (sneaker vs ankle boot),
the same small network trained with each loss (`Trainer(loss="bce")` on the logit, and a `Sigmoid`
output with `loss="mse"`, which thresholds at $\frac12$) from an ordinary start, and again from a
*confidently wrong* start (the output bias set to $-12$, so that $f \approx 6\cdot10^{-6}$ for
every image: every class-1 image is a confident mistake)."""),
    ("code", """from scratchnet.data import Normalizer
from scratchnet.layers import Dense, Flatten, ReLU, Sigmoid
from scratchnet.train import Trainer

ds = load_dataset("fashion-mnist", progress=False)
keep_tr, keep_te = np.isin(ds.y_train, (7, 9)), np.isin(ds.y_test, (7, 9))
x_tr, y_tr = ds.x_train[keep_tr], (ds.y_train[keep_tr] == 9).astype(np.int64)   # ankle boot = 1
x_te, y_te = ds.x_test[keep_te], (ds.y_test[keep_te] == 9).astype(np.int64)
if FAST:
    x_tr, y_tr, x_te, y_te = x_tr[:1000], y_tr[:1000], x_te[:400], y_te[:400]
norm = Normalizer.fit(x_tr)
print(f"{len(x_tr):,} training and {len(x_te):,} test images, sneaker = 0, ankle boot = 1")


def binary_run(loss, bias=0.0, epochs=1 if FAST else 5):
    net = sn.Sequential(Flatten(), Dense(784, 32, rng=0), ReLU(), Dense(32, 1, rng=1),
                        *([Sigmoid()] if loss == "mse" else []))
    net[3].params["b"][:] = bias
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=0.05, schedule="constant", weight_decay=0.0,
                      momentum=0.0, nesterov=False, val_size=0, loss=loss, shards=1)
    trainer = Trainer(net, cfg, norm, progress=False, log=None)
    trainer.fit(x_tr, y_tr, x_te[:0], y_te[:0])
    return trainer.evaluate(x_te, y_te)["accuracy"], np.asarray(trainer.history.iterations["loss"])


results, curves = {}, {}
for start, bias in (("ordinary start", 0.0), ("confidently wrong start", -12.0)):
    for loss in ("bce", "mse"):
        results[start, loss], curves[start, loss] = binary_run(loss, bias)
        print(f"{start:24s} {loss}: test accuracy {results[start, loss]:.4f}")"""),
    ("code", """import matplotlib.pyplot as plt
from scratchnet.viz import smooth

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, start in zip(axes, ("ordinary start", "confidently wrong start"), strict=True):
    for loss in ("bce", "mse"):
        ax.plot(smooth(curves[start, loss]), label=f"{loss} (test {results[start, loss]:.3f})")
    ax.set(title=start, xlabel="iteration", ylabel="training loss (each its own)", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend()
plt.tight_layout()
plt.show()
from scratchnet.viz import plot_bce_vs_mse
display(Image(filename=str(plot_bce_vs_mse(f"{OUT}/bce-vs-mse.png"))))""", (  # what each figure shows (its alt text on the site)
        'Training loss of binary cross-entropy and of mean squared error through a sigmoid on the same task, from an ordinary start (left) and from a confidently wrong start (right), where the squared-error model stays stuck',
        "The gradient of each loss with respect to the logit when the target is 1: cross-entropy's stays near -1 where the network is confidently wrong, the squared error's vanishes there",
    )),
    ("md", r"""What the numbers show. From an ordinary start both losses separate sneakers from ankle
boots equally well: the images are easy, few predictions are confidently wrong and the
$\sigma'$ factor rarely bites, so the two end level (0.9620 each in the committed run). The
theory predicts a difference only where the unit is saturated on the wrong side, and that is what
the second start shows: with every class-1 image a confident mistake, cross-entropy's gradient
is $\approx -1$ for each of them and it recovers within the first epoch, while squared error's
gradient is $\approx -2f \approx -10^{-5}$ and it stays stuck near 50% (all images called class 0)
for as long as the run lasts. So the answer to 1.7 is cross-entropy, for the reason of 1.4 vs 1.6,
and the first experiment is an honest reminder that on an easy problem from a good start the
difference can be invisible."""),
    ("md", r"""## Question 2: softmax identities

$S(\mathbf x)_i = e^{x_i}/\sum_{j} e^{x_j}$ for $\mathbf x\in\mathbb R^K$.

**2.1 Translation invariance.** For a scalar $c$:
$S(\mathbf x + c)_i = \dfrac{e^{x_i + c}}{\sum_j e^{x_j + c}} = \dfrac{e^{c}e^{x_i}}{e^{c}\sum_j e^{x_j}} =
\dfrac{e^{x_i}}{\sum_j e^{x_j}} = S(\mathbf x)_i$ (the common factor $e^c > 0$ cancels), so
$\boxed{S(\mathbf x + c) = S(\mathbf x)}$. This is why the library subtracts $\max_j x_j$ before
exponentiating: no overflow, same result.

**2.2 Two classes are a sigmoid.** For $K = 2$, divide numerator and denominator by $e^{x_1}$:
$S(\mathbf x)_1 = \dfrac{e^{x_1}}{e^{x_1} + e^{x_2}} = \dfrac{1}{1 + e^{x_2 - x_1}} = \sigma(x_1 - x_2)$, and
$S(\mathbf x)_2 = 1 - S(\mathbf x)_1 = 1 - \sigma(x_1 - x_2)$. So $\boxed{S(\mathbf x) = [\sigma(z),\ 1 - \sigma(z)]^\top
\text{ with } z = x_1 - x_2}$.

**2.3 $K - 1$ parameters suffice.** By 2.1 with $c = -x_1$:
$S(\mathbf x) = S(\mathbf x - x_1) = S([0,\ x_2 - x_1,\ \dots,\ x_K - x_1]^\top)$, so
$\boxed{S(\mathbf x) = S([0, y_1, \dots, y_{K-1}]^\top) \text{ with } y_i = x_{i+1} - x_1,\ i = 1,\dots,K-1}$.
(The copy writes $y_i = x_i - x_1$ for $1 \le i \le K-1$, which is off by one: that would make $y_1 =
0$ and lose $x_K$; the $i$-th free coordinate is $x_{i+1} - x_1$.)

**2.4 The Jacobian, by the quotient rule.** Write $S_i = u/v$ with $u = e^{x_i}$, $v = \sum_k
e^{x_k}$; then $\partial u/\partial x_j = [i = j]\,e^{x_i}$ and $\partial v/\partial x_j = e^{x_j}$, and the
quotient rule $(u/v)' = (u'v - uv')/v^2$ gives

$$\begin{aligned}
\frac{\partial S_i}{\partial x_j} &= \frac{[i=j]\,e^{x_i}\sum_k e^{x_k} - e^{x_i}e^{x_j}}{\left(\sum_k e^{x_k}\right)^2}\\
&= [i=j]\frac{e^{x_i}}{\sum_k e^{x_k}} - \frac{e^{x_i}}{\sum_k e^{x_k}}\cdot\frac{e^{x_j}}{\sum_k e^{x_k}}
= [i=j]\,S_i - S_i S_j .
\end{aligned}$$

In matrix form, with $\mathbf p = S(\mathbf x)$: the first term is the diagonal matrix of $\mathbf p$,
the second the outer product, so $\boxed{J_{\text{softmax}}(\mathbf x) = \operatorname{Diag}(\mathbf p) - \mathbf p\mathbf p^\top}$."""),
    ("code", """from scratchnet.ops.activations import softmax, softmax_jacobian

x = np.random.default_rng(1).standard_normal(5)
p = softmax(x)
print("2.1  S(x + 7) == S(x):", np.allclose(softmax(x + 7.0), p))
z = x[0] - x[1]
print("2.2  two classes:", np.allclose(softmax(x[:2]), [1 / (1 + np.exp(-z)), 1 - 1 / (1 + np.exp(-z))]))
print("2.3  K-1 parameters:", np.allclose(softmax(np.concatenate([[0.0], x[1:] - x[0]])), p))
x_work = x.copy()
fd = np.stack([numeric_gradient(lambda i=i: float(softmax(x_work)[i]), x_work) for i in range(5)])
compare("2.4  Jacobian", np.diag(p) - np.outer(p, p), softmax_jacobian(x), fd)"""),
    ("md", r"""## Question 3: a sigmoid network is a tanh network

$y_k = \sum_{j=1}^M \omega^{(2)}_{kj}\,\sigma\!\left(\sum_{i=1}^D \omega^{(1)}_{ji}x_i + \omega^{(1)}_{j0}\right) + \omega^{(2)}_{k0}$:
find parameters $\Theta'$ of the same network with $\tanh$ hidden units computing the same
function.

**The identity $\tanh(x) = 2\sigma(2x) - 1$.** Multiply numerator and denominator of
$\tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}$ by $e^{-x}$: $\tanh x = \frac{1 - e^{-2x}}{1 + e^{-2x}}$.
Then

$$2\sigma(2x) - 1 = \frac{2}{1 + e^{-2x}} - \frac{1 + e^{-2x}}{1 + e^{-2x}} = \frac{1 - e^{-2x}}{1 + e^{-2x}} = \tanh x .$$

Solved for the sigmoid, with $x = t/2$: $\boxed{\sigma(t) = \tfrac12\big(\tanh(t/2) + 1\big)}$.

**The parameters.** Substitute in each hidden unit, with $t_j = \sum_i\omega^{(1)}_{ji}x_i + \omega^{(1)}_{j0}$:

$$\begin{aligned}
y_k &= \sum_j \omega^{(2)}_{kj}\,\tfrac12\Big(\tanh\big(\tfrac{t_j}{2}\big) + 1\Big) + \omega^{(2)}_{k0}\\
&= \sum_j \frac{\omega^{(2)}_{kj}}{2}\tanh\Big(\sum_i\frac{\omega^{(1)}_{ji}}{2}x_i + \frac{\omega^{(1)}_{j0}}{2}\Big)
+ \Big(\omega^{(2)}_{k0} + \sum_j\frac{\omega^{(2)}_{kj}}{2}\Big).
\end{aligned}$$

This is the tanh network with $\boxed{\tilde\omega^{(1)}_{ji} = \tfrac12\omega^{(1)}_{ji},\
\tilde\omega^{(1)}_{j0} = \tfrac12\omega^{(1)}_{j0},\ \tilde\omega^{(2)}_{kj} = \tfrac12\omega^{(2)}_{kj},\
\tilde\omega^{(2)}_{k0} = \omega^{(2)}_{k0} + \tfrac12\sum_{j=1}^M\omega^{(2)}_{kj}}$ — the copy's answer, which is
right. `scratchnet.convert.sigmoid_to_tanh` applies these rules to any stack of dense layers:"""),
    ("code", """from scratchnet.convert import sigmoid_to_tanh

sig_net = sn.Sequential(Dense(4, 6, rng=0), sn.layers.Sigmoid(), Dense(6, 3, rng=1)).astype(np.float64)
tanh_net = sigmoid_to_tanh(sig_net)
xs = np.random.default_rng(2).standard_normal((10, 4))
print(tanh_net)
compare("y(x, Theta', tanh) vs y(x, Theta, sigma)", tanh_net.forward(xs), sig_net.forward(xs))
W1, b1 = sig_net[0].params["W"], sig_net[0].params["b"]
W2, b2 = sig_net[2].params["W"], sig_net[2].params["b"]
compare("the derived Theta'", np.concatenate([(W1 / 2).ravel(), b1 / 2, (W2 / 2).ravel(), b2 + W2.sum(0) / 2]),
        np.concatenate([tanh_net[0].params["W"].ravel(), tanh_net[0].params["b"],
                        tanh_net[2].params["W"].ravel(), tanh_net[2].params["b"]]))"""),
    ("md", r"""## Question 4: shapes, parameters, and 1-D convolutions

A 128x128 RGB image; conv 1: 32 kernels 8x8, stride 2, zero padding 3; a 2x2 non-overlapping
max-pool; conv 2: 64 kernels 3x3, stride 1, padding 1.

**4.1 The number of scalars out of the last layer.** The output size of a window of $k$ with
stride $s$ and padding $p$ over $n$ is $\lfloor (n + 2p - k)/s\rfloor + 1$ (the number of window
positions). Conv 1: $\lfloor(128 + 6 - 8)/2\rfloor + 1 = 63 + 1 = 64$: $32\times64\times64$. Pool:
$\lfloor(64 - 2)/2\rfloor + 1 = 32$: $32\times32\times32$. Conv 2: $\lfloor(32 + 2 - 3)/1\rfloor + 1 =
32$: $64\times32\times32$, so $\boxed{64\cdot32\cdot32 = 65{,}536}$ scalars.

**4.2 Parameters of the last layer, no biases.** Each of the 64 kernels spans the 32 input
channels over 3x3: $\boxed{3\cdot3\cdot32\cdot64 = 18{,}432}$. (The copy reaches this number, but its
sentence calls "$32\times32\times32$" the layer's number of parameters: that is the size of its
*input*, which does not count.)

**4.3 Full, valid and same convolution (with kernel flipping) of $[1,2,3,4]$ and $[1,0,2]$.** With
flipping, $(x * w)_n = \sum_j x_{n-j}w_j$, i.e. slide the reversed kernel $[2, 0, 1]$ over $x$:
*valid* (only positions inside $x$): $[1,2,3]\cdot[2,0,1] = 5$, $[2,3,4]\cdot[2,0,1] = 8$: $\boxed{[5, 8]}$.
*Same* (output as long as $x$: one zero each side): $[0,1,2]\cdot[2,0,1] = 2$, then 5, 8, and
$[3,4,0]\cdot[2,0,1] = 6$: $\boxed{[2, 5, 8, 6]}$. *Full* (every overlap: two zeros each side):
$[0,0,1]\to1$, $[0,1,2]\to2$, 5, 8, 6, $[4,0,0]\to8$: $\boxed{[1, 2, 5, 8, 6, 8]}$ (the copy's three
answers are right). NumPy's `convolve` (which flips) and scratchnet's 1-D convolution agree:"""),
    ("code", """from scratchnet.ops.conv1d import conv1d_forward
from scratchnet.shapes import conv2d_shape, pool2d_shape

c1 = conv2d_shape((3, 128, 128), 32, 8, stride=2, padding=3)
p1 = pool2d_shape(c1.output_shape, 2)
c2 = conv2d_shape(p1.output_shape, 64, 3, padding=1)
print("4.1", c1.output_shape, "->", p1.output_shape, "->", c2.output_shape, "=", c2.output_size, "scalars")
print("4.2 parameters without biases:", c2.params_without_bias)
x1, w1 = np.array([1.0, 2, 3, 4]), np.array([1.0, 0, 2])
for mode in ("valid", "same", "full"):
    print(f"4.3 {mode:5s}", conv1d_forward(x1, w1, mode, flip=True)[0], "numpy:", np.convolve(x1, w1, mode))"""),
    ("md", r"""## Question 5: gradients through a 1-D convolution chain

Notation of the problem set: *valid* $(\mathbf x * \mathbf w)_n = \sum_{j=1}^k x_{n+j-1}w_j$ and *full*
$(\mathbf x\,\tilde*\,\mathbf w)_n = \sum_{j=1}^k x_{n+j-k}w_j$, both without flipping, indices from 1,
out-of-bound entries zero; $\operatorname{flip}(\mathbf w)_j = w_{k-j+1}$. The network:
$\mathbf a^1 = \mathbf x * \mathbf w^1$, $\mathbf h^1 = \operatorname{ReLU}(\mathbf a^1)$, $\mathbf a^2 =
\mathbf h^1 * \mathbf w^2$, ..., with $\mathbf x\in\mathbb R^d$, $\mathbf w^1\in\mathbb R^{k_1}$,
$\mathbf w^2\in\mathbb R^{k_2}$.

**5.1 $|\mathbf a^2|$ (valid).** A valid output index $n$ needs $1 \le n + j - 1 \le |\text{input}|$
for all $j = 1..k$: $n = 1, \dots, |\text{input}| - k + 1$. So $|\mathbf a^1| = d - k_1 + 1$,
$|\mathbf h^1| = |\mathbf a^1|$ (ReLU is element-wise) and
$\boxed{|\mathbf a^2| = (d - k_1 + 1) - k_2 + 1 = d - k_1 - k_2 + 2}$.

**5.2 $\partial a^2_i/\partial h^1_n$ (valid).** $a^2_i = \sum_{j=1}^{k_2} h^1_{i+j-1}w^2_j$ contains $h^1_n$
exactly when $i + j - 1 = n$ for some $j \in \{1..k_2\}$, i.e. $j = n - i + 1$:

$$\boxed{\frac{\partial a^2_i}{\partial h^1_n} = \begin{cases} w^2_{n-i+1} & \text{if } 1 \le n - i + 1 \le k_2 \ (\text{i.e. } n - k_2 + 1 \le i \le n)\\ 0 & \text{otherwise}\end{cases}}$$

for $i = 1, \dots, |\mathbf a^2|$.

**5.3 $\nabla_{\mathbf h^1}L = \nabla_{\mathbf a^2}L\ \tilde*\ \operatorname{flip}(\mathbf w^2)$.** From the
starting sum and 5.2, only $i = n - k_2 + 1, \dots, n$ contribute (the others have a zero
derivative, and indices outside $1..|\mathbf a^2|$ are zero entries of $\nabla_{\mathbf a^2}L$ by the
convention):

$$(\nabla_{\mathbf h^1}L)_n = \sum_{i=1}^{|\mathbf a^2|}(\nabla_{\mathbf a^2}L)_i\frac{\partial a^2_i}{\partial h^1_n}
= \sum_{i=n-k_2+1}^{n}(\nabla_{\mathbf a^2}L)_i\,w^2_{n-i+1}.$$

Change the index to $j = i - n + k_2$ (so $i = n + j - k_2$; $i = n - k_2 + 1 \mapsto j = 1$,
$i = n \mapsto j = k_2$) and note $w^2_{n-i+1} = w^2_{k_2-j+1} = \operatorname{flip}(\mathbf w^2)_j$:

$$(\nabla_{\mathbf h^1}L)_n = \sum_{j=1}^{k_2}(\nabla_{\mathbf a^2}L)_{n+j-k_2}\,\operatorname{flip}(\mathbf w^2)_j
= \boxed{\big(\nabla_{\mathbf a^2}L\ \tilde*\ \operatorname{flip}(\mathbf w^2)\big)_n},$$

the full convolution, by its definition (2).

Now the convolutions (3) and (5) are **full** instead of valid.

**5.4 $|\mathbf a^2|$ (full).** A full output index $n$ needs some $j$ with $1 \le n + j - k \le
|\text{input}|$: $n = 1, \dots, |\text{input}| + k - 1$. So $|\mathbf a^1| = d + k_1 - 1$ and
$\boxed{|\mathbf a^2| = (d + k_1 - 1) + k_2 - 1 = d + k_1 + k_2 - 2}$. (The copy writes the first step
as "$d - 2k_1 - 2 - k_1 + 1$" before reaching $d + k_1 - 1$: the middle expression should read $d +
2k_1 - 2 - k_1 + 1$; the result is right.)

**5.5 $\partial a^2_i/\partial h^1_n$ (full).** Now $a^2_i = \sum_{j=1}^{k_2}h^1_{i+j-k_2}w^2_j$, which contains
$h^1_n$ when $i + j - k_2 = n$, i.e. $j = n - i + k_2$:

$$\boxed{\frac{\partial a^2_i}{\partial h^1_n} = \begin{cases} w^2_{n-i+k_2} & \text{if } 1 \le n - i + k_2 \le k_2\ (\text{i.e. } n \le i \le n + k_2 - 1)\\ 0 & \text{otherwise}\end{cases}}$$

(The copy starts from $\sum_j h^1_{i+j-1}w^2_j$, the *valid* formula, then uses the full
condition $i + j - k_2 = n$: the starting expression should be $\sum_j h^1_{i+j-k_2}w^2_j$.)

**5.6 $\nabla_{\mathbf h^1}L = \nabla_{\mathbf a^2}L * \operatorname{flip}(\mathbf w^2)$ (valid).** With 5.5 only
$i = n, \dots, n + k_2 - 1$ contribute:

$$\begin{aligned}
(\nabla_{\mathbf h^1}L)_n &= \sum_{i=n}^{n+k_2-1}(\nabla_{\mathbf a^2}L)_i\,w^2_{n-i+k_2}
\overset{j = i - n + 1}{=} \sum_{j=1}^{k_2}(\nabla_{\mathbf a^2}L)_{n+j-1}\,w^2_{k_2-j+1}\\
&= \sum_{j=1}^{k_2}(\nabla_{\mathbf a^2}L)_{n+j-1}\operatorname{flip}(\mathbf w^2)_j = \boxed{\big(\nabla_{\mathbf a^2}L * \operatorname{flip}(\mathbf w^2)\big)_n},
\end{aligned}$$

the valid convolution (1). (In general: the gradient of a valid convolution is a full
convolution with the flipped kernel, and of a full one a valid convolution with the flipped
kernel.)

The check: the chain in NumPy with both conventions, the gradient from the derived identities,
scratchnet's 1-D convolution backward pass, and finite differences of $L = \mathbf g\cdot\mathbf a^2$."""),
    ("code", """rng = np.random.default_rng(3)
d, k1, k2 = 9, 3, 4
xv, w1v, w2v = rng.standard_normal(d), rng.standard_normal(k1), rng.standard_normal(k2)


def valid(x, w):   # (x * w)_n = sum_j x_{n+j-1} w_j, 1-based in the text, 0-based here
    return np.array([x[n:n + len(w)] @ w for n in range(len(x) - len(w) + 1)])


def full(x, w):    # (x ~* w)_n = sum_j x_{n+j-k} w_j with out-of-bound entries zero
    xp = np.concatenate([np.zeros(len(w) - 1), x, np.zeros(len(w) - 1)])
    return valid(xp, w)


for name, conv, grad in (("valid", valid, full), ("full", full, valid)):
    h1 = np.maximum(conv(xv, w1v), 0)
    a2 = conv(h1, w2v)
    g = rng.standard_normal(a2.shape)                     # the gradient of L = g . a2 with respect to a2
    derived = grad(g, w2v[::-1])                          # 5.3 / 5.6: the other convolution, flipped kernel
    _, cache = conv1d_forward(h1, w2v, name, flip=False)
    from scratchnet.ops.conv1d import conv1d_backward
    library, _ = conv1d_backward(g, cache)
    h_work = h1.copy()
    fd = numeric_gradient(lambda g=g, conv=conv, h_work=h_work: float(g @ conv(h_work, w2v)), h_work)
    print(f"{name}: |a1| = {len(h1)}, |a2| = {len(a2)} (d - k1 - k2 + 2 = {d - k1 - k2 + 2},"
          f" d + k1 + k2 - 2 = {d + k1 + k2 - 2})")
    compare(f"  grad_h1 L ({name} chain)", derived, library, fd)"""),
    ("md", r"""## The copy's worked answers, judged

| item | the copy | verdict |
|---|---|---|
| 1.1–1.6 | sigmoid; $p(y=1\mid\mathbf x)$; BCE; $\sigma(a) - y$; $(y - f)^2$; $-2(y-f)\sigma(1-\sigma)$ | right |
| 1.7 | cross-entropy, because MSE "is not punishing enough" the small distances | the choice is right, the reason incomplete: the distances are the same; MSE's gradient carries $\sigma'(a)$, which vanishes on confident mistakes (shown above) |
| 2.1, 2.2 | invariance; $z = x_1 - x_2$ | right |
| 2.3 | $y_i = x_i - x_1$, $1 \le i \le K-1$ | off by one: $y_i = x_{i+1} - x_1$ |
| 2.4 | Jacobian via the product rule | right (derived above with the quotient rule, as asked) |
| 3 | $\tanh = 2\sigma(2x) - 1$; $\Theta'$ | the identity and $\Theta'$ are right; a sign slip in the second step: the numerator written $e^x - e^{-x} - 2e^{-x}$ must be $e^x + e^{-x} - 2e^{-x}$ (which equals $e^x - e^{-x}$, as the next line uses) |
| 4.1, 4.3 | 65,536; [5, 8], [2, 5, 8, 6], [1, 2, 5, 8, 6, 8] | right |
| 4.2 | 18,432, "the number of parameters of the last layer is 32x32x32" | the number is right, the sentence confuses the layer's input size with its parameters |
| 5.1–5.3, 5.6 | $d - k_1 - k_2 + 2$; $w^2_{n-i+1}$; the two identities | right (5.2 and 5.3 should state the range $n - k_2 + 1 \le i \le n$) |
| 5.4 | "$d - 2k_1 - 2 - k_1 + 1$" $= d + k_1 - 1$ | a sign slip in the middle step; the result is right |
| 5.5 | starts from $\sum_j h^1_{i+j-1}w^2_j$ | the valid formula; the full one is $\sum_j h^1_{i+j-k_2}w^2_j$ (the final answer $w^2_{n+k_2-i}$ is right) |"""),
]
