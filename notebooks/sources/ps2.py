"""Problem set 2 (``001_...``): a 2x2 kernel over a 6x5 image; the shapes and costs of a layer;
the gradients of a convolution followed by a sigmoid."""

from . import NEEDS, SETUP

CELLS = [
    ("md", r"""# Problem set 2: convolution by hand, the cost of a layer, and the gradients of a sigmoid conv layer

Each question is restated in our words, answered with every step, and checked by scratchnet: the
derived formula is evaluated in NumPy and compared with the library's layers and with finite
differences. The course's notation is kept: arrays indexed from 0, $Z[i,j] = \sum_{k_1,k_2}
W[k_1,k_2]\,X[i+k_1, j+k_2]$ (no kernel reversal), channels last ($X[i,j,n]$,
$W[k_1,k_2,n,m]$).""" + NEEDS),
    ("code", SETUP),
    ("md", r"""## Question 1: a 2x2 kernel over a 6x5 image

The image $X$ (6 rows, 5 columns: a ring of zeros around a block of 3s with two 2s) and the
kernel $W = \begin{bmatrix}1&-1\\1&-1\end{bmatrix}$ are given; $Z$ is their 2-D convolution without
reversal, $Z[i,j] = \sum_{k_1}\sum_{k_2} W[k_1,k_2]\,X[i+k_1,j+k_2]$."""),
    ("code", """X = np.array([[0, 0, 0, 0, 0],
              [0, 3, 3, 3, 0],
              [0, 3, 3, 3, 0],
              [0, 3, 2, 3, 0],
              [0, 3, 2, 3, 0],
              [0, 0, 0, 0, 0]], dtype=float)
W = np.array([[1, -1], [1, -1]], dtype=float)
X.shape, W.shape"""),
    ("md", r"""**(a) The limits of the sums.** $k_1$ and $k_2$ index the kernel, which is $2\times2$ and
indexed from 0: the sums run over $k_1 \in \{0, 1\}$ and $k_2 \in \{0, 1\}$, i.e.

$$\boxed{Z[i,j] = \sum_{k_1=0}^{1}\sum_{k_2=0}^{1} W[k_1,k_2]\,X[i+k_1,\,j+k_2]}$$

(in general $k_1 = 0,\dots,K_1-1$ and $k_2 = 0,\dots,K_2-1$ for a $K_1\times K_2$ kernel).

**(b) The size of the valid output.** A pixel $(i,j)$ is valid when every term reads inside $X$:
$0 \le i + k_1 \le 5$ and $0 \le j + k_2 \le 4$ for all $k_1, k_2 \in\{0,1\}$. The binding cases
are $k_1 = k_2 = 1$: $i + 1 \le 5$ and $j + 1 \le 4$, so $i \in \{0,\dots,4\}$ and $j \in
\{0,\dots,3\}$: $\boxed{Z \text{ is } 5\times4}$ ($= (6 - 2 + 1)\times(5 - 2 + 1)$).

**(c)–(e) Its values.** Writing the four terms out, with this kernel

$$\begin{aligned}
Z[i,j] &= X[i,j] - X[i,j+1] + X[i+1,j] - X[i+1,j+1]\\
&= \underbrace{(X[i,j] + X[i+1,j])}_{S[i,j]} - \underbrace{(X[i,j+1] + X[i+1,j+1])}_{S[i,j+1]},
\end{aligned}$$

the difference of two neighbouring column sums $S[i,j] = X[i,j] + X[i+1,j]$ of rows $i, i+1$: a
vertical-edge detector (positive where the image gets darker to the right). Row by row:

| $i$ | $S[i,\cdot]$ | $Z[i,\cdot] = S[i,j] - S[i,j+1]$, $j = 0..3$ |
|---|---|---|
| 0 | 0, 3, 3, 3, 0 | −3, 0, 0, 3 |
| 1 | 0, 6, 6, 6, 0 | −6, 0, 0, 6 |
| 2 | 0, 6, 5, 6, 0 | −6, 1, −1, 6 |
| 3 | 0, 6, 4, 6, 0 | −6, 2, −2, 6 |
| 4 | 0, 3, 2, 3, 0 | −3, 1, −1, 3 |

**(c)** The largest positive value is $\boxed{6}$, e.g. at $\boxed{(i,j) = (1, 3)}$ (also $(2,3)$,
$(3,3)$): $S[1,3] - S[1,4] = 6 - 0$, the right edge of the block.
**(d)** The most negative value is $\boxed{-6}$, e.g. at $\boxed{(1, 0)}$ (also $(2,0)$, $(3,0)$), the
left edge. **(e)** $Z = 0$ e.g. at $\boxed{(0, 1)}$: $S[0,1] - S[0,2] = 3 - 3$, inside the flat block.

The library computes the same 5x4 array (its `Conv2D` is this cross-correlation; the image is a
batch of one image with one channel):"""),
    ("code", """conv = sn.layers.Conv2D(1, 1, 2, bias=False).astype(np.float64)
conv.params["W"][0, 0] = W
Z = conv.forward(X[None, None])[0, 0]
print(Z)
S = X[:-1] + X[1:]  # S[i, j]: the column sums of rows i and i + 1
assert Z.shape == (5, 4) and np.array_equal(Z, S[:, :-1] - S[:, 1:])
print("max", Z.max(), "at", np.argwhere(Z == Z.max())[0], "| min", Z.min(), "at", np.argwhere(Z == Z.min())[0],
      "| a zero at", np.argwhere(Z == 0)[0])"""),
    ("md", r"""## Question 2: the shapes and the cost of a convolution + ReLU layer

The layer computes $Z[i,j,m] = \sum_{k_1}\sum_{k_2}\sum_n W[k_1,k_2,n,m]\,X[i+k_1,j+k_2,n] + b[m]$ and
$U = \max\{0, Z\}$, with $X$ of shape $(48, 64, 10)$, $W$ of shape $(3, 3, 10, 20)$, on the valid
pixels.

**(a) Shapes.** As in question 1(b), the valid positions along the rows are $i$ with $i + k_1 \le
47$ for $k_1 \le 2$: $i = 0, \dots, 45$, 46 of them; along the columns $j = 0,\dots,61$, 62; one
output per kernel $m = 0,\dots,19$. So $\boxed{Z \text{ and } U \text{ are } (46, 62, 20)}$ (the ReLU is
element-wise and keeps the shape).

**(b) Channels.** The sum over $n$ runs over the input's last axis, 10 values: $\boxed{10 \text{ input
channels}}$; $m$ takes 20 values: $\boxed{20 \text{ output channels}}$ (the last axis of $W$).

**(c) Multiplications.** Each output value $Z[i,j,m]$ is a sum of $3\cdot3\cdot10 = 90$ products
$W[k_1,k_2,n,m]\,X[i+k_1,j+k_2,n]$; there are $46\cdot62\cdot20 = 57{,}040$ outputs, so
$\boxed{57{,}040 \cdot 90 = 5{,}133{,}600 \text{ multiplications}}$ (adding the bias is an addition, not a
multiplication; the ReLU is a comparison).

**(d) Trainable parameters.** $W$ has $3\cdot3\cdot10\cdot20 = 1{,}800$ entries and $b$ has 20:
$\boxed{1{,}820}$.

scratchnet's shape calculator gives the same numbers (`channels_last=True` takes the course's
$(H, W, C)$ order), and so does the layer itself:"""),
    ("code", """from scratchnet.shapes import conv2d_shape
s = conv2d_shape((48, 64, 10), 20, 3, channels_last=True)
print("output", s.output_shape, "| multiplications", f"{s.multiplications:,}", "| parameters", f"{s.params:,}")
layer = sn.layers.Conv2D(10, 20, 3)
print("Conv2D(10, 20, 3): output per image", layer.output_shape((10, 48, 64)), "(C, H, W);",
      layer.num_parameters(), "parameters;", f"{layer.macs((10, 48, 64)):,}", "multiply-adds")
assert s.output_shape == (46, 62, 20) and s.multiplications == 5_133_600 and s.params == 1_820"""),
    ("md", r"""## Question 3: the gradients of a convolution followed by a sigmoid

Now $U[i,j,m] = \sigma(Z[i,j,m]) = 1/(1 + e^{-Z[i,j,m]})$ after the same convolution, and the
gradient $\partial J/\partial U[i,j,m]$ of some loss $J$ is known.

**(a) $\partial J/\partial Z$.** $U[i,j,m]$ depends on $Z[i,j,m]$ alone, so the chain rule has one
term:
$\frac{\partial J}{\partial Z[i,j,m]} = \frac{\partial J}{\partial U[i,j,m]}\,\frac{\partial U[i,j,m]}{\partial Z[i,j,m]}$.
The sigmoid's derivative, from $\sigma(z) = (1+e^{-z})^{-1}$ and the chain rule:

$$\begin{aligned}
\sigma'(z) &= -(1+e^{-z})^{-2}\cdot(-e^{-z}) = \frac{e^{-z}}{(1+e^{-z})^2}\\
&= \frac{1}{1+e^{-z}}\cdot\frac{(1+e^{-z}) - 1}{1+e^{-z}} = \sigma(z)\,(1 - \sigma(z)).
\end{aligned}$$

Hence $\boxed{\dfrac{\partial J}{\partial Z[i,j,m]} = \dfrac{\partial J}{\partial U[i,j,m]}\;U[i,j,m]\,\big(1 - U[i,j,m]\big)}$:
only the layer's output is needed.

**(b) $\partial J/\partial W$.** A weight $W[k_1,k_2,n,m]$ enters every output $Z[i,j,m]$ of its
output channel $m$ (and no other channel), each time multiplied by $X[i+k_1,j+k_2,n]$:

$$\frac{\partial Z[i,j,m']}{\partial W[k_1,k_2,n,m]} = [m' = m]\;X[i+k_1, j+k_2, n].$$

Summing over every output the weight reaches (the chain rule over all paths),

$$\boxed{\frac{\partial J}{\partial W[k_1,k_2,n,m]} = \sum_{i}\sum_{j}\frac{\partial J}{\partial Z[i,j,m]}\,X[i+k_1,\,j+k_2,\,n]}$$

with $i, j$ over the valid output positions — the correlation of the input with the output
gradient (and $\partial J/\partial b[m] = \sum_{i,j}\partial J/\partial Z[i,j,m]$).

**(c) $\partial J/\partial X$.** An input value $X[p,q,n]$ appears in output $Z[i,j,m]$ when $p = i +
k_1$ and $q = j + k_2$ for some kernel position, with the factor $W[k_1,k_2,n,m]$; for every output
channel $m$. So

$$\frac{\partial J}{\partial X[p,q,n]} = \sum_{m}\sum_{k_1}\sum_{k_2}\frac{\partial J}{\partial Z[p-k_1,\,q-k_2,\,m]}\,W[k_1,k_2,n,m],$$

that is, with the input position named $(i, j)$:

$$\boxed{\frac{\partial J}{\partial X[i,j,n]} = \sum_{m}\sum_{k_1}\sum_{k_2}\frac{\partial J}{\partial Z[i-k_1,j-k_2,m]}\,W[k_1,k_2,n,m]}$$

where the terms whose output position $(i-k_1, j-k_2)$ falls outside the valid output are zero
(those outputs do not exist). It is a *full* convolution of $\partial J/\partial Z$ with the kernel
— the sum runs over all input channels' kernels of every output channel $m$, so each input
channel $n$ collects from all 20 output channels.

The check: the three formulas, written as the sums above in NumPy (channels last, the course's
layout), against scratchnet's `Conv2D` + `Sigmoid` (NCHW, `W[m, n, k1, k2]`) and against finite
differences of $J = \sum_{i,j,m} G[i,j,m]\,U[i,j,m]$ for a random $G = \partial J/\partial U$, on a
small case (a 6x5 image with 3 channels, 4 kernels of 3x2)."""),
    ("code", """rng = np.random.default_rng(0)
H, Wd, N_in, M, K1, K2 = 6, 5, 3, 4, 3, 2
x = rng.standard_normal((H, Wd, N_in))          # X[i, j, n]
w = rng.standard_normal((K1, K2, N_in, M))      # W[k1, k2, n, m]
b = rng.standard_normal(M)
Ho, Wo = H - K1 + 1, Wd - K2 + 1


def forward(x, w, b):
    z = np.zeros((Ho, Wo, M))
    for k1 in range(K1):
        for k2 in range(K2):
            z += np.einsum("ijn,nm->ijm", x[k1:k1 + Ho, k2:k2 + Wo], w[k1, k2])
    z += b
    return z, 1 / (1 + np.exp(-z))


z, u = forward(x, w, b)
G = rng.standard_normal(u.shape)                # dJ/dU
dZ = G * u * (1 - u)                            # (a)
dW = np.zeros_like(w)                           # (b): sum over i, j of dZ[i, j, m] X[i + k1, j + k2, n]
for k1 in range(K1):
    for k2 in range(K2):
        dW[k1, k2] = np.einsum("ijm,ijn->nm", dZ, x[k1:k1 + Ho, k2:k2 + Wo])
dX = np.zeros_like(x)                           # (c): sum over m, k1, k2 of dZ[i-k1, j-k2, m] W[k1, k2, n, m]
for k1 in range(K1):
    for k2 in range(K2):
        dX[k1:k1 + Ho, k2:k2 + Wo] += np.einsum("ijm,nm->ijn", dZ, w[k1, k2])

# the library: NCHW, weights W[m, n, k1, k2]
conv = sn.layers.Conv2D(N_in, M, (K1, K2)).astype(np.float64)
conv.params["W"], conv.params["b"] = w.transpose(3, 2, 0, 1).copy(), b.copy()
net = sn.Sequential(conv, sn.layers.Sigmoid())
u_lib = net.forward(x.transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
dX_lib = net.backward(G.transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
dW_lib = conv.grads["W"].transpose(2, 3, 1, 0)


def J():
    return float(np.sum(G * forward(x, w, b)[1]))


compare("U", u, u_lib)
compare("dJ/dW", dW, dW_lib, numeric_gradient(J, w))
compare("dJ/dX", dX, dX_lib, numeric_gradient(J, x))
compare("dJ/db", dZ.sum(axis=(0, 1)), conv.grads["b"], numeric_gradient(J, b))"""),
    ("md", r"""All three agree to rounding (about $10^{-10}$ against the finite differences, whose step
is $10^{-6}$, and $10^{-15}$ against the library). The derivations for any stride and padding,
and the matrix form the library computes (one GEMM for the whole batch), are in
`docs/conv.md`; the 6x5 example and the shape calculator also in `docs/exercises.md`."""),
]
