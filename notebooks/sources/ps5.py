"""Problem set 5 (``004_...``): the local Jacobians of a convolution, weight sharing, and an MNIST
CNN: a learning-rate sweep on the unregularised network, its loss curve and test accuracy, dropout
and weight decay at the chosen rate, then the same CNN on CIFAR-10."""

from . import NEEDS, SETUP

CELLS = [
    ("md", r"""# Problem set 5: a convolution's Jacobians, weight sharing, and a CNN on MNIST and CIFAR-10

The theory is derived with every step and checked against scratchnet's layers and finite
differences; the programming part is run in full (the figures below are those of the committed
run; `SCRATCHNET_FAST=1` runs the same cells on a slice).""" + NEEDS),
    ("code", SETUP),
    ("md", r"""## Theory 1: the local derivatives of a convolution

One input and one output channel: $x\in\mathbb R^{d\times d}$, $w\in\mathbb R^{k\times k}$, and
$y = x * w$ the convolution as deep-learning libraries compute it (no kernel flip, valid
positions), indices from 0:

$$y_{i,j} = \sum_{a=0}^{k-1}\sum_{b=0}^{k-1} w_{a,b}\,x_{i+a,\,j+b},\qquad i, j = 0,\dots,d-k.$$

**$\partial y/\partial w$.** $y_{i,j}$ is linear in $w$; differentiating the sum term by term,
only the term with $(a, b)$ contains $w_{a,b}$:

$$\boxed{\frac{\partial y_{i,j}}{\partial w_{a,b}} = x_{i+a,\,j+b}}$$

— a $(d-k+1)^2\times k^2$ Jacobian whose row $(i,j)$ is the receptive field of output $(i,j)$
(the im2col matrix of `docs/conv.md`). So for a loss with upstream gradient $\delta_{i,j} =
\partial L/\partial y_{i,j}$: $\partial L/\partial w_{a,b} = \sum_{i,j}\delta_{i,j}\,x_{i+a,j+b}$, the correlation of
$x$ with $\delta$.

**$\partial y/\partial x$.** $x_{p,q}$ appears in $y_{i,j}$ when $p = i + a$ and $q = j + b$ for a kernel
position $(a,b)$, i.e. $a = p - i$, $b = q - j$:

$$\boxed{\frac{\partial y_{i,j}}{\partial x_{p,q}} = \begin{cases} w_{p-i,\,q-j} & 0 \le p - i \le k-1 \text{ and } 0 \le q - j \le k-1\\ 0 & \text{otherwise}\end{cases}}$$

— a sparse $(d-k+1)^2\times d^2$ matrix (a doubly-banded Toeplitz matrix) holding the kernel's
entries. With $\delta$: $\partial L/\partial x_{p,q} = \sum_{i,j}\delta_{i,j}\,w_{p-i,q-j}$, the *full*
convolution of $\delta$ with the kernel flipped by 180° (`docs/exercises.md`, section 4). The check
builds both Jacobians from these formulas and compares them with finite differences of the
library's `Conv2D`, and $\delta^\top J$ with its backward pass:"""),
    ("code", """rng = np.random.default_rng(0)
d, k = 5, 3
x, w = rng.standard_normal((d, d)), rng.standard_normal((k, k))
o = d - k + 1
J_w = np.zeros((o, o, k, k))
J_x = np.zeros((o, o, d, d))
for i in range(o):
    for j in range(o):
        J_w[i, j] = x[i:i + k, j:j + k]                      # dy_ij / dw_ab = x_{i+a, j+b}
        J_x[i, j, i:i + k, j:j + k] = w                      # dy_ij / dx_pq = w_{p-i, q-j}
conv = sn.layers.Conv2D(1, 1, k, bias=False).astype(np.float64)
conv.params["W"][0, 0] = w


def y_of():
    return conv.forward(x[None, None])[0, 0]


fd_w = np.stack([numeric_gradient(lambda e=e: float(y_of().ravel()[e]), conv.params["W"])[0, 0]
                 for e in range(o * o)]).reshape(o, o, k, k)
fd_x = np.stack([numeric_gradient(lambda e=e: float(y_of().ravel()[e]), x)
                 for e in range(o * o)]).reshape(o, o, d, d)
delta = rng.standard_normal((o, o))
y_of()
dx = conv.backward(delta[None, None])[0, 0]
compare("dy/dw", J_w, J_w, fd_w)
compare("dy/dx", J_x, J_x, fd_x)
compare("delta^T dy/dw (the weight gradient)", np.einsum("ij,ijab->ab", delta, J_w), conv.grads["W"][0, 0])
compare("delta^T dy/dx (the input gradient)", np.einsum("ij,ijpq->pq", delta, J_x), dx)"""),
    ("md", r"""## Theory 2: weights constrained to be equal

A feed-forward network of units $a_j = \sum_i w_{ji}z_i$, $z_i = h(a_i)$; some connections are now
required to share one value. Suppose the set $T$ of connections $(j, i)$ must all have weight
$w$. Then $w$ is one variable of $E$ that appears in several places, and the chain rule sums over
all of them. With $\delta_j = \partial E/\partial a_j$ as standard backpropagation computes it (nothing in
the backward pass changes):

$$\frac{\partial E}{\partial w} = \sum_{(j,i)\in T}\frac{\partial E}{\partial a_j}\frac{\partial a_j}{\partial w}
= \boxed{\sum_{(j,i)\in T}\delta_j\,z_i},$$

because $a_j = \dots + w\,z_i + \dots$ contains $w$ once for each tied connection into unit $j$
($\partial a_j/\partial w = z_i$). So: run the usual backward pass, compute the usual per-connection
derivatives $\delta_j z_i$, and **add** those of each tied group; update the shared value once with
that sum. If the tied weights start equal and every update adds the same quantity to all of
them, they stay equal forever — the constraint holds at every step. (If they started different,
or were updated with their separate derivatives $\delta_j z_i$, they would drift apart.) A
convolution is exactly this: a dense layer whose weights are tied along the sliding positions,
and its weight gradient $\sum_{i,j}\delta_{i,j}x_{i+a,j+b}$ of theory 1 is this sum.

scratchnet implements tied weights by sharing one array between layers (`Parameter.tied`): the
gradient is the sum over the uses and the optimizer updates the array once. The check: two dense
layers holding the same weight matrix, against finite differences of the loss with respect to
the one shared array, and one SGD step keeps them identical:"""),
    ("code", """from scratchnet.layers import Dense, Tanh

first = Dense(4, 4, bias=False, rng=0).astype(np.float64)
second = Dense(4, 4, bias=False, rng=1).astype(np.float64)
second.params["W"] = first.params["W"]                       # tied: one array, used twice
net = sn.Sequential(first, Tanh(), second)
xs, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
net.forward(xs)
net.backward(g)
(shared,) = net.parameters()                                 # one handle for the two uses
by_use = first.grads["W"] + second.grads["W"]                # the sum over the tied connections


def E():
    return float(np.sum(g * net.forward(xs)))


compare("dE/dw (sum over the tied uses)", by_use, shared.grad, numeric_gradient(E, first.params["W"]))
opt = sn.optim.SGD(net.parameters(), lr=0.1)
opt.step()
print("after one step the two layers hold the same array:", first.params["W"] is second.params["W"])"""),
    ("md", r"""The same constraint, written as one layer *used twice*: `Sequential(d, Tanh(), d)` calls
the one `Dense` layer $d$ at two places of the chain. Each call keeps its own cache (the input
$z_i$ of that use), the backward pass consumes them last call first, and the layer's gradient is
the sum of the two uses' $\sum \delta_j z_i$ — the boxed formula above, with the tied set $T$ the
two uses (`docs/composition.md` derives it for any shared layer). The finite-difference check of
every gradient of the model, input included:"""),
    ("code", """d = Dense(4, 4, rng=2).astype(np.float64)
twice = sn.Sequential(d, Tanh(), d)                          # one layer, two uses
print([p.name for p in twice.parameters()])                  # one set of parameters
report = sn.gradcheck(twice, rng.standard_normal((3, 4)))
print(report)
assert report.max_error < 1e-6"""),
    ("md", r"""## Programming: a CNN on MNIST

The assignment fixes the block: each convolutional layer is *a convolution followed by a ReLU
and a 2x2 max-pool of stride 2*. The network is that, twice (3x3 kernels, padding 1, 32 and 64
channels), then a dense layer of 128 units with a ReLU and the 10 scores — the zoo's
`reference-cnn` (dropout layers after the flatten and after the dense layer are added in part 3).
Its dimensions:"""),
    ("code", """net = zoo.build("reference-cnn", fuse=False)
net.summary((1, 28, 28))
display(Image(filename=str(net.plot((1, 28, 28), f"{OUT}/reference-cnn.png"))))""", (  # what each figure shows (its alt text on the site)
        'The layers of the reference CNN from input to output, each box with its output shape and number of parameters: two 3x3 convolutions with ReLU and 2x2 max-pooling, then two dense layers',
    )),
    ("md", r"""(For speed the library runs each convolution and its pool as one fused layer: since the ReLU
is monotone, $\max_{\text{window}}\operatorname{relu}(z) = \operatorname{relu}(\max_{\text{window}} z)$ exactly,
so the fused layer pools first and applies the ReLU to the 4x smaller map; it is the same function,
value for value.)"""),
    ("md", r"""### 1. Learning rates, on the unregularised network

No dropout, no weight decay, no augmentation, a constant rate, the same seed and data for every
rate: only the rate changes. The figure is the training classification error per iteration
(smoothed) for each rate; the table below it has the validation accuracy that picks the rate."""),
    ("code", """plain = TrainConfig(epochs=1 if FAST else 2, batch_size=128, schedule="constant", weight_decay=0.0,
                    crop_padding=0, flip=False, val_size=500 if FAST else 5000, val_every=1)
rates = [0.3, 0.1, 0.03, 0.01, 0.003] if not FAST else [0.1, 0.01]
results = sweep(rates, "mnist", f"{OUT}/mnist-sweep", "reference-cnn", plain, dropout=0.0,
                limit=4000 if FAST else None, progress=False, log=None)
display(Image(filename=f"{OUT}/mnist-sweep/sweep.png"))
for r in results:
    val, loss = r["val_accuracy"] or float("nan"), r["train_loss"] or float("nan")
    print(f"lr {r['lr']:<6g} {r['status']:9s} validation {val:.4f}  final training loss {loss:.4f}")
best = max((r for r in results if r["status"] == "completed"), key=lambda r: r["val_accuracy"])
best_lr = best["lr"]
print("best learning rate (validation):", best_lr)""", (  # what each figure shows (its alt text on the site)
        'Training classification error per iteration for five learning rates on MNIST, on a log scale: the largest rates stay at chance, the smaller ones fall together',
    )),
    ("md", r"""Reading the curves and the table (the committed run): at 0.3 and at 0.1 the network does not
learn at all. Its second step already blows the loss up (from 3.7 to 661 at 0.3, to 116 at 0.1):
the update throws the weights so far that most ReLUs never fire again, and the error stays at
chance, about 90%, from the first iterations to the end (11.24% on validation: one class for
every image). 0.03 and 0.01 learn fast and end together after two epochs, 97.80% and 97.90% on
validation, 0.01 a hair ahead; 0.003 starts slower (its curve sits above the others' over the
first few hundred iterations) and ends at 97.66%. The rate chosen on validation, 0.01, is kept
fixed from here on.

The results page's sweep of the same kind ([docs/results.md](../docs/results.md)) picks 0.01 too (98.52% on validation, 0.03 at 98.30%;
[docs/results/mnist-lr-sweep.md](../docs/results/mnist-lr-sweep.md)), but on `mnist-cnn`, whose
blocks have batch norm, with the MNIST recipe's dropout, weight decay and random crops; there
0.3 still learns, because batch norm undoes the scale of a weight update before the ReLU sees
it. The assignment's plain network has nothing to absorb a step that is too large: a rate of 0.1
is already fatal to it. Between 0.03 and 0.01 the choice is within the run-to-run noise of two
epochs; above them is a cliff.

### 2. The training loss at the chosen rate, and the test accuracy"""),
    ("code", """from dataclasses import replace

longer = replace(plain, epochs=1 if FAST else 6, lr=best_lr, val_every=1)
unreg = train_run("mnist", f"{OUT}/mnist-plain", "reference-cnn", longer, dropout=0.0, limit=4000 if FAST else None,
                  progress=False, log=None)
display(Image(filename=f"{OUT}/mnist-plain/loss.png"))
print(f"no dropout, no weight decay, lr {best_lr:g}: test accuracy {unreg['test_accuracy']:.4f}, "
      f"final training loss {unreg['train_loss']:.4f}")""", (  # what each figure shows (its alt text on the site)
        "The MNIST network's training loss per iteration and its running mean, without dropout or weight decay, on a log scale",
    )),
    ("md", r"""### 3. Dropout and weight decay at that rate

The same run with dropout 0.5 after the flatten and after the dense layer, and weight decay
$5\cdot10^{-4}$ (an L2 penalty $\frac\lambda2\lVert w\rVert^2$, i.e. $\lambda w$ added to each weight's
gradient, `docs/optim.md`)."""),
    ("code", """reg = train_run("mnist", f"{OUT}/mnist-regularised", "reference-cnn", replace(longer, weight_decay=5e-4),
                dropout=0.5, limit=4000 if FAST else None, progress=False, log=None)
print(f"dropout 0.5 + weight decay 5e-4: test accuracy {reg['test_accuracy']:.4f}, "
      f"final training loss {reg['train_loss']:.4f}")
print(f"without: test accuracy {unreg['test_accuracy']:.4f}, final training loss {unreg['train_loss']:.4f}")
import matplotlib.pyplot as plt
from scratchnet.viz import smooth
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, run in (("plain", "mnist-plain"), ("dropout + weight decay", "mnist-regularised")):
    rows = np.genfromtxt(f"{OUT}/{run}/history.csv", delimiter=",", names=True)
    ax.plot(rows["iteration"], smooth(rows["loss"], log=True), label=name)
ax.set(xlabel="iteration", ylabel="training loss", yscale="log")
ax.grid(alpha=0.3)
ax.legend()
plt.show()""", (  # what each figure shows (its alt text on the site)
        'Smoothed training loss per iteration of the plain network and of the one trained with dropout and weight decay, on a log scale; the regularised loss stays higher',
    )),
    ("md", r"""What it shows, honestly. The regularised network's *training* loss stays far above the
plain one's (0.0990 against 0.0218 at the end: dropout makes every step fit a random thinned
network, and the penalty pulls the weights towards zero): it memorises less. Its *test* accuracy
is higher, 98.95% against 98.75%: 20 more of the 10,000 test images right — more
than the spread between seeds of one recipe (the results page's three seeds of the default MNIST recipe
span 0.08 points), so here regularisation does help beyond noise: without batch norm, and with
its 3136x128 dense layer, the assignment's network has more room to overfit than `mnist-cnn`
(with which, on the results page's full runs of 12 epochs, the two ended at 99.40% and 99.36%). It
pays more where the network can overfit more, as on CIFAR-10 below (random crops and flips
play that role there).

### 4. The same CNN on CIFAR-10

The same architecture with three input channels (32x32 colour images: the dense layer now reads
$64\cdot8\cdot8$ values), trained with CIFAR-10's own recipe rather than the rate chosen on MNIST
above: a one-cycle schedule peaking at 0.05 over 20 epochs (0.01 was picked for MNIST with a
constant rate and 2 epochs), no dropout, weight decay $5\cdot10^{-4}$, random crops (4 pixels) and
flips, and flipped test images: `scratchnet train
--dataset cifar10 --model reference-cnn` runs exactly this."""),
    ("code", """from scratchnet.experiment import dataset_defaults

recipe = dataset_defaults("cifar10", "reference-cnn")
recipe.pop("model")
cifar_cfg = TrainConfig(**recipe)
if FAST:
    cifar_cfg = replace(cifar_cfg, epochs=1, val_size=300)
cifar = train_run("cifar10", f"{OUT}/cifar10-reference-cnn", "reference-cnn", cifar_cfg,
                  limit=2000 if FAST else None, progress=False, log=None)
print(f"CIFAR-10, the MNIST CNN: test accuracy {cifar['test_accuracy']:.4f} after "
      f"{cifar['epochs_completed']} epochs ({cifar['wall_seconds'] / 60:.1f} min)")
for name in ("accuracy", "confusion", "misclassified", "filters"):
    display(Image(filename=f"{OUT}/cifar10-reference-cnn/{name}.png"))""", (  # what each figure shows (its alt text on the site)
        "The MNIST CNN on CIFAR-10: accuracy per epoch of the training batches (smoothed), of each epoch's training set, of the validation set and of the test set at the end",
        "The CIFAR-10 test set's confusion matrix, true class by row and predicted class by column; cats and dogs are the most confused pair",
        'A grid of misclassified CIFAR-10 test images, each labelled with its true and its predicted class',
        "The first convolution's 32 learned 3x3 filters drawn as small colour patches",
    )),
    ("md", r"""CIFAR-10 is much harder than MNIST for the same network: natural colour images, the
object anywhere in the frame, large variation within a class. The network that reaches 98.95% on
digits lands at 81.71% here (the committed run: 20 epochs, 5.8 minutes on two cores), at the top of
the 70–80% a plain network of this size usually reaches, thanks to the crops and flips. The
confusion matrix says where: cats and dogs are the pair it confuses most (147 cats called dogs,
135 dogs called cats; cats are the worst class, 630 of the 1,000 right), then birds (723 right:
called deer, airplanes or frogs) and deer called birds, while cars, ships and trucks are right
about nine times in ten.
A network designed for CIFAR-10 (`scratchnet train --dataset cifar10`: wider, deeper, the
speedrun techniques of [docs/results.md](../docs/results.md)) goes much further."""),
]
