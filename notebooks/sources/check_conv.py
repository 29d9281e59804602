"""Notebook: write the convolution's backward pass yourself, and let the checker say where it is
wrong (``scratchnet.check``)."""

from . import NEEDS, SETUP

CELLS = [
    ("md", r"""# Write the convolution's backward pass yourself

Every course that teaches convolutional networks asks for the same two functions: the forward pass of a
convolution layer, and its backward pass. Finite differences can tell you that your gradient is wrong; they
cannot tell you *where*, or *why*. This notebook writes the two functions the way a student does, makes the
mistakes students make, and shows what `scratchnet.check` says about each attempt: one line per case and
check, the worst element of the first failure, and the classic mistake it recognises.

The equations are derived step by step in [the convolution's derivation](../docs/conv.md); the checker and
its catalogue of mistakes are described in [checking your own code](../docs/checking.md).""" + NEEDS),
    ("code", SETUP),
    ("md", r"""## The skeleton

`scratchnet check conv2d --template` (or `template("conv2d")` from Python) prints the file to fill in: the
functions' names, their arguments, the shapes, the equations. The convention is the courses': NCHW images,
`w` of shape `(F, C, HH, WW)`, `conv_param = {"stride": s, "pad": p}`; the forward pass returns
`(out, cache)`, the backward pass `(dx, dw, db)`."""),
    ("code", r"""from scratchnet.check import check_op, list_ops, template

print(template("conv2d"))"""),
    ("md", r"""## The forward pass

The layer computes a cross-correlation over the zero-padded input $\tilde x$:

$$\text{out}[n, f, i, j] = b[f] + \sum_{c}\sum_{u=0}^{HH-1}\sum_{v=0}^{WW-1} w[f, c, u, v]\,
\tilde x[n, c, s i + u, s j + v].$$

Written with loops over the output positions (each window's product summed at once):"""),
    ("code", r"""def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = 1 + (H + 2 * p - HH) // s, 1 + (W + 2 * p - WW) // s
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * s:i * s + HH, j * s:j * s + WW]          # (N, C, HH, WW)
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", window, w) + b
    return out, (x, w, b, conv_param)


# a case to check by eye: a 2x2 kernel of ones, stride 2, over a 4x4 image of ones -> every window sums to 4
print(conv_forward_naive(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 0})[0])"""),
    ("md", r"""## The backward pass, first attempt

Each output element $\text{out}[n, f, i, j]$ touched the window $\tilde x[n, :, si:si+HH, sj:sj+WW]$ with
weight $w[f]$; the chain rule sends $\text{dout}[n,f,i,j]\, w[f]$ back to that window of $d\tilde x$ and
$\text{dout}[n,f,i,j]$ times the window to $dw[f]$; $db[f]$ sums $\text{dout}[:, f]$. A first attempt,
with two mistakes a student often makes (look for them before running the cell):"""),
    ("code", r"""def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = (slice(None), slice(None), slice(i * s, i * s + HH), slice(j * s, j * s + WW))
            dxp[window] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], xp[window])
    db = dout.sum(axis=(0, 2, 3)) / N     # the mean over the batch?
    return dxp, dw, db                     # the padded gradient?


report = check_op("conv2d", forward=conv_forward_naive, backward=conv_backward_naive)"""),
    ("md", r"""The forward pass and `dw` pass every case. The checker names both mistakes: `dx` still carries the
zero padding (its shape says so on the cases with `pad > 0`; on the cases without padding it is right), and
`db` is divided by the batch size. The gradient of the loss sums over every image: if the loss is a mean,
its own backward pass has already put the $1/N$ into `dout`. Fixing both, but now with a third classic
slip, the window's start taken at `i` instead of `i * s`:"""),
    ("code", r"""def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            if i + HH > xp.shape[2] or j + WW > xp.shape[3]:
                continue
            window = (slice(None), slice(None), slice(i, i + HH), slice(j, j + WW))   # the stride forgotten
            dxp[window] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], xp[window])
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, p:p + H, p:p + W], dw, db


report = check_op("conv2d", forward=conv_forward_naive, backward=conv_backward_naive)"""),
    ("md", r"""Only the cases with `stride > 1` fail, and the checker recognises the pattern: the backward pass
slides its windows by 1. With the start at `(i * s, j * s)`, the version a student hands in:"""),
    ("code", r"""def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = (slice(None), slice(None), slice(i * s, i * s + HH), slice(j * s, j * s + WW))
            dxp[window] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], xp[window])
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, p:p + H, p:p + W], dw, db


report = check_op("conv2d", forward=conv_forward_naive, backward=conv_backward_naive)
assert report.passed"""),
    ("md", r"""## As a file, the way a teacher grades it

Handed in as a file, the submission is checked in a sandbox of its own (bubblewrap, where it is installed:
its own copy of its file and nothing else of the machine, no network, limits on time, memory and
processes), and the exit status is 0 only when every check passes: `scratchnet check conv2d my_conv.py`.
Besides the results, every case checks two behaviours: the inputs are left as they were (`inputs`), and two
uses interleaved as a network makes them (forward A, forward B, backward B, backward A) give A the same
results as alone (`interleaved`). A teacher gives a folder instead: `scratchnet check conv2d submissions/
--out grades/` grades every submission in it (files, notebooks or a folder per student), two at a time with
`--jobs 2`, and writes one report per student, a CSV of the scores, a summary with the score histogram and
the frequency of each named mistake, and with `--format gradescope` Gradescope's results. The folder mode
refuses to run strangers' code without the sandbox; this notebook's three files are its own, so it says
`--no-sandbox` (Colab has no bubblewrap), and every report carries the warning."""),
    ("code", r"""import inspect
import tempfile

folder = Path(tempfile.mkdtemp())
source = "import numpy as np\n\n\n" + inspect.getsource(conv_forward_naive) + "\n\n" + inspect.getsource(conv_backward_naive)
(folder / "alice.py").write_text(source)
(folder / "bob.py").write_text(source.replace("dw += np.einsum", "dw = np.einsum"))   # overwrites instead of adding up
(folder / "carol.py").write_text(source.replace("def conv_backward_naive(dout, cache):", "def conv_backward_naive(dout, cache):\n    while True:\n        pass"))
result = subprocess.run([sys.executable, "-m", "scratchnet", "check", "conv2d", str(folder), "--time-limit", "5",
                         "--out", str(folder / "grades"), "--no-sandbox"], capture_output=True, text=True)
print(result.stdout)
print("exit status", result.returncode)
print((folder / "grades" / "reports" / "bob.txt").read_text()[-900:])"""),
    ("md", r"""Bob's `dw` is overwritten at every window instead of summed over them: no catalogued mistake
matches it, so the report gives what the checker knows, the first failing case and its worst element, which
is where to start looking. Carol's backward pass never returns: the case it hangs in is `stopped: time
limit`, the cases after it `not run`, and the others' grading goes on.

## Every op that can be checked

The same checker covers the other functions the courses ask for, each with its own cases and mistakes:"""),
    ("code", r"""print(list_ops())"""),
]  # fmt: skip
