"""Write the notebooks of this folder from the cells below, and optionally run them.

    python notebooks/build.py            # write the .ipynb files (no outputs)
    python notebooks/build.py --execute  # and run each top to bottom, saving the outputs

The notebooks are the committed artefacts (with the outputs of a full run); this script is how
they are kept consistent. ``SCRATCHNET_FAST=1`` makes every notebook shrink its data and epochs
(what ``tests/test_notebooks.py`` runs in CI). The datasets are looked up as usual
(``SCRATCHNET_DATA`` or the cache).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SETUP = """\
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
if importlib.util.find_spec("scratchnet") is None:  # a hosted notebook (Colab, Binder, a fresh kernel)
    # install it from SCRATCHNET_SOURCE (a checkout, a wheel or a git URL), else from the checkout around us
    here = [p for p in (Path.cwd(), *Path.cwd().parents) if (p / "scratchnet" / "__init__.py").is_file()]
    source = os.environ.get("SCRATCHNET_SOURCE") or (str(here[0]) if here else None)
    if source is None:
        raise SystemExit("scratchnet is not installed: set SCRATCHNET_SOURCE to a checkout, a wheel or a git "
                         "URL of scratchnet (or pip install it), then run this cell again")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", source])
import numpy as np
from IPython.display import Image, display
import scratchnet as sn
from scratchnet import zoo
from scratchnet.data import load_dataset
from scratchnet.experiment import train_run
from scratchnet.sweep import sweep
from scratchnet.train import TrainConfig

FAST = os.environ.get("SCRATCHNET_FAST") == "1"  # CI: tiny data and one epoch, same code path
OUT = "runs/notebooks"  # beside the notebook; data found as the CLI finds it ($SCRATCHNET_DATA, the cache)
os.makedirs(OUT, exist_ok=True)
print("fast mode" if FAST else "full run")"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01-fashion-mnist-cnn.ipynb": [
        (
            "md",
            """# A CNN for Fashion-MNIST, from the architecture to the confusion matrix

Everything here is `scratchnet` (NumPy only). We build the default network, look at every dimension,
write down the backward pass of one convolution block, train it and read the results.""",
        ),
        ("code", SETUP),
        (
            "md",
            """## The architecture

`fmnist-cnn`: three blocks *conv 3x3 → (max-pool 2x2) → batch norm → ReLU* with 32, 64 and 128
channels, then dropout, a dense layer of 256 units and the 10 class scores. `summary` gives every
output shape, parameter count and multiplication count; `plot` draws it.""",
        ),
        (
            "code",
            """model = zoo.build("fmnist-cnn", fuse=False)
model.summary((1, 28, 28))
display(Image(filename=str(model.plot((1, 28, 28), f"{OUT}/fmnist-cnn.png"))))""",
        ),
        (
            "md",
            r"""## Backpropagation through one block

For the first block, $x \in \mathbb R^{N\times1\times28\times28}$, $W \in \mathbb R^{32\times1\times3\times3}$:

* convolution (padding 1): $y_{n,o,i,j} = \sum_{c,u,v} W_{o,c,u,v}\,\tilde x_{n,c,i+u,j+v}$, shape
  $(N, 32, 28, 28)$; with the receptive fields as the rows of $X$ ($M = 28\cdot28\,N$ rows):
  $Y = XW^\top$, so $\partial L/\partial W = G^\top X$ and $\partial L/\partial X = GW$, folded back onto the
  pixels by col2im (a full convolution with the flipped kernel);
* max-pool 2x2: $z = \max$ of each window, $(N, 32, 14, 14)$; the gradient goes to the window's maximum;
* batch norm: $\hat z = (z-\mu)/\sqrt{\sigma^2+\epsilon}$, $b = \gamma\hat z + \beta$;
  $\partial L/\partial z = \frac{\gamma}{M\sigma}\left(M g - \sum g - \hat z\sum g\hat z\right)$ per channel;
* ReLU: $a = \max(b, 0)$, $\partial L/\partial b = g\,[b > 0]$.

Every one of these is checked against finite differences and PyTorch in the test suite
(`tests/op_table.py`). The table below is the chain, layer by layer, with every tensor's shape.""",
        ),
        (
            "code",
            """from scratchnet.shapes import backprop_shapes
print(backprop_shapes(model, (1, 28, 28)))""",
        ),
        (
            "md",
            """## Training

The default recipe (SGD with Nesterov momentum, one-cycle learning rate, weight decay, random crops
and flips), for fewer epochs than `scratchnet train` uses, which already passes 90%.""",
        ),
        (
            "code",
            """cfg = TrainConfig(epochs=1 if FAST else 4, lr=0.05, batch_size=128, weight_decay=5e-4,
                  crop_padding=2, flip=True, val_size=500 if FAST else 5000)
metrics = train_run("fashion-mnist", f"{OUT}/fashion-mnist", "fmnist-cnn", cfg,
                    limit=3000 if FAST else None, progress=False)
print(f"test accuracy {metrics['test_accuracy']:.4f}")""",
        ),
        (
            "code",
            """for name in ("loss", "accuracy", "confusion"):
    display(Image(filename=f"{OUT}/fashion-mnist/{name}.png"))""",
        ),
        (
            "md",
            """Shirts, T-shirts, pullovers and coats are the classes the network confuses most — look at the
confusion matrix's off-diagonal cells.""",
        ),
    ],
    "02-mnist-learning-rate-regularisation.ipynb": [
        (
            "md",
            r"""# MNIST: choose a learning rate, then compare dropout + weight decay with neither

1. a learning-rate sweep (each run's training error per iteration in one figure) — the best rate by
   validation accuracy is kept;
2. the same network trained with that rate, with dropout 0.5 + weight decay $5\cdot10^{-4}$ and without;
3. the same network on CIFAR-10, if its files are present.""",
        ),
        ("code", SETUP),
        (
            "code",
            """base = TrainConfig(epochs=1, batch_size=128, schedule="constant", crop_padding=0, flip=False,
                   val_size=500 if FAST else 5000)
limit = 2000 if FAST else 20000
results = sweep([0.3, 0.03, 0.003] if not FAST else [0.1, 0.01], "mnist", f"{OUT}/mnist-sweep", "mnist-cnn",
                base, limit=limit, progress=False, log=None)
best = max((r for r in results if r["status"] == "completed"), key=lambda r: r["val_accuracy"])
print("best learning rate:", best["lr"])
display(Image(filename=f"{OUT}/mnist-sweep/sweep.png"))""",
        ),
        (
            "md",
            r"""Weight decay adds $\frac\lambda2\lVert w\rVert^2$ to the loss ($\lambda w$ to every gradient); dropout
zeroes each activation with probability $p$ during training and scales the rest by $1/(1-p)$.""",
        ),
        (
            "code",
            """from dataclasses import replace
runs = {}
for name, dropout, wd in [("regularised", 0.5, 5e-4), ("plain", 0.0, 0.0)]:
    cfg = replace(base, lr=best["lr"], weight_decay=wd, epochs=1 if FAST else 3, schedule="onecycle")
    runs[name] = train_run("mnist", f"{OUT}/mnist-{name}", "mnist-cnn", cfg, dropout=dropout,
                           limit=limit, progress=False, log=None)
for name, m in runs.items():
    print(f"{name:12s} train loss {m['train_loss']:.4f}  test accuracy {m['test_accuracy']:.4f}")""",
        ),
        (
            "code",
            """from scratchnet.data import DatasetError
try:
    load_dataset("cifar10", download=False, progress=False)
    cifar = train_run("cifar10", f"{OUT}/cifar10", "cifar-cnn", replace(base, epochs=1), limit=limit,
                      progress=False, log=None)
    print("CIFAR-10 test accuracy", cifar["test_accuracy"])
except DatasetError as e:
    print("CIFAR-10 is not available here. Put cifar-10-binary.tar.gz (from "
          "https://www.cs.toronto.edu/~kriz/cifar.html) into ~/.cache/scratchnet/cifar10/ or a folder named by "
          "SCRATCHNET_DATA, then run this cell again.")""",
        ),
    ],
    "03-binary-bce-vs-mse.ipynb": [
        (
            "md",
            r"""# Two classes: cross-entropy or squared error on a sigmoid output?

A two-class cut of Fashion-MNIST (sneaker vs ankle boot), a small dense network with one sigmoid
output $\hat y = \sigma(a)$, trained twice: with binary cross-entropy (gradient $\hat y - y$ w.r.t.
$a$) and with squared error (gradient $2(\hat y - y)\,\sigma'(a)$, which vanishes when the output is
confidently wrong).""",
        ),
        ("code", SETUP),
        (
            "code",
            """ds = load_dataset("fashion-mnist", progress=False)
def cut(x, y):
    keep = (y == 7) | (y == 9)  # sneaker, ankle boot
    return x[keep].reshape(keep.sum(), -1).astype(np.float32) / 255.0, (y[keep] == 9).astype(np.float64)
x_train, y_train = cut(ds.x_train, ds.y_train)
x_test, y_test = cut(ds.x_test, ds.y_test)
if FAST:
    x_train, y_train = x_train[:1000], y_train[:1000]
print(x_train.shape, "training images,", x_test.shape[0], "test images")""",
        ),
        (
            "code",
            """from scratchnet.layers import Dense, ReLU
from scratchnet.losses import MSE, BinaryCrossEntropy
from scratchnet.ops.activations import sigmoid

curves, accuracy = {}, {}
for name in ("cross-entropy", "squared error"):
    net = sn.Sequential(Dense(784, 64, rng=0), ReLU(), Dense(64, 1, rng=1))
    opt = sn.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss_fn = BinaryCrossEntropy() if name == "cross-entropy" else MSE()
    curves[name] = []
    for epoch in range(1 if FAST else 5):
        order = np.random.default_rng(epoch).permutation(len(x_train))
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            a = net.forward(x_train[idx])[:, 0]
            out = a if name == "cross-entropy" else sigmoid(a)
            curves[name].append(loss_fn.forward(out, y_train[idx]))
            g = loss_fn.backward()
            if name == "squared error":
                g = g * out * (1 - out)  # through the sigmoid
            net.backward(g[:, None], need_dx=False)
            opt.step()
    accuracy[name] = float(np.mean((net.predict(x_test)[:, 0] > 0) == y_test))
    print(f"{name:14s} test accuracy {accuracy[name]:.4f}")""",
        ),
        (
            "code",
            """import matplotlib.pyplot as plt
from scratchnet.viz import smooth
fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
for name, c in curves.items():
    ax[0 if name == "cross-entropy" else 1].plot(smooth(c))
ax[0].set_title("binary cross-entropy"); ax[1].set_title("squared error")
for a in ax: a.set_xlabel("iteration"); a.grid(alpha=0.3)
plt.show()
from scratchnet.viz import plot_bce_vs_mse
display(Image(filename=str(plot_bce_vs_mse(f"{OUT}/bce-vs-mse.png"))))""",
        ),
    ],
    "04-sequence-models.ipynb": [
        (
            "md",
            r"""# Sequence models: an LSTM reads images row by row, and writes Shakespeare

`LSTM` runs $[i,f,g,o] = [\sigma,\sigma,\tanh,\sigma](x_tW_x + h_{t-1}W_h + b)$,
$c_t = f\odot c_{t-1} + i\odot g$, $h_t = o\odot\tanh c_t$ over the sequence and backpropagates
through time (derivation: `docs/recurrent.md`).""",
        ),
        ("code", SETUP),
        (
            "code",
            """cfg = TrainConfig(epochs=1 if FAST else 3, optimizer="adam", lr=3e-3, weight_decay=0.0, clip_norm=1.0,
                  crop_padding=0, flip=False, val_size=500 if FAST else 5000)
m = train_run("mnist", f"{OUT}/mnist-lstm-rows", "lstm-rows", cfg, limit=3000 if FAST else None,
              progress=False, log=None)
print(f"sequential MNIST (28 steps of 28 pixels): test accuracy {m['test_accuracy']:.4f}")""",
        ),
        (
            "md",
            """A character-level language model: the loss is in nats per character on the last 10% of the text.""",
        ),
        (
            "code",
            """cfg = TrainConfig(epochs=1, optimizer="adam", lr=3e-3, batch_size=64, weight_decay=0.0, clip_norm=1.0,
                  crop_padding=0, flip=False, val_size=0, eval_batch_size=128)
lm = train_run("tinyshakespeare", f"{OUT}/tinyshakespeare", "char-lstm", cfg, limit=64 if FAST else 2500,
               progress=False, log=None)
print(f"validation loss {lm['val_loss']:.3f} nats/char")
from scratchnet.evaluation import load_generator
generate = load_generator(f"{OUT}/tinyshakespeare/checkpoint.npz")
print(generate("ROMEO:", 300, 0.8, np.random.default_rng(0)))""",
        ),
    ],
}


def build(execute: bool = False) -> list[Path]:
    import nbformat

    paths = []
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                    for kind, src in cells]  # fmt: skip
        path = HERE / name
        if execute:
            from nbclient import NotebookClient

            NotebookClient(
                nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
            ).execute()
        nbformat.write(nb, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in build(execute="--execute" in sys.argv):
        print(p)
