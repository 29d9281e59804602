r"""Data parallelism on one machine: every batch is cut into ``S`` shards, each shard runs through
its own copy of the network in its own thread (on Linux, in its own process), and the gradients
are summed.

Why: BLAS parallelises the GEMMs of a step over the cores, but everything between them (im2col
copies, pooling, batch norm, activations, ``col2im``) is NumPy element-wise code on one core. Run
``S`` shards at once, with BLAS at one thread per shard, and *all* of the step's work is spread
over the cores (NumPy releases the GIL inside its loops and BLAS calls).

The arithmetic. With the loss a mean over the whole batch :math:`B = B_1 \cup \dots \cup B_S`,
:math:`L = \frac{1}{|B|}\sum_{n\in B} \ell_n`, the gradient of a weight is a sum over shards,

.. math:: \frac{\partial L}{\partial W} = \sum_{s=1}^{S} \frac{1}{|B|}\sum_{n\in B_s}
          \frac{\partial \ell_n}{\partial W},

and each term is what the shard's copy computes from its slice of :math:`\partial L/\partial
\text{scores}` (which the loss already divides by :math:`|B|`). So for networks without batch
statistics the result is the one-shard result, up to float rounding of the sum.
Batch norm, in train mode, normalises each shard with that shard's statistics ("ghost batch
norm", as in multi-GPU training without synchronised batch norm); its running statistics are
the mean of the shards' updates. Dropout draws each shard's mask from a generator seeded from
the layer's own, so a seed still fixes the run (and a resumed run continues it exactly).

The copies share the parameter arrays with ``model`` (the optimizer updates them in place) and
have their own caches, workspaces and gradients.

Threads. The shards run on ``min(shards, threads)`` threads, where ``threads`` is the process's
thread budget (:func:`scratchnet.runtime.compute_threads`: the cores, or what ``--threads`` or a
parallel job's share allows), and BLAS gets ``threads // running shards`` threads in each. With a
budget of one thread the shards run one after the other in the calling thread: the same
arithmetic in the same order, so the same result, without a core more than allowed. Coarse
threads are also what keeps training fast on a *busy* machine: a GEMM split over BLAS threads
waits at every synchronisation point for the slowest thread, and a thread that shares its core
with another process's is always the slowest one (measured in ``bench/bench_busy_machine.py``),
while shards meet only twice per step.

Processes. Where every shard has a thread of its own (the default recipes: 2 shards on 2 cores),
the shards after the first run in forked processes on Linux (:mod:`scratchnet.shard_processes`):
threads of one interpreter hand its lock over at every NumPy call, which costs a step of short
calls (a small CNN's, an LSTM's) 5-10% on two cores; processes do not share it. The
arithmetic is the threads' exactly. ``DataParallel(..., processes=False)`` keeps threads.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .layers.base import Layer
from .runtime import compute_threads
from .shard_processes import ShardWorker, StateLayout, apply_modes, processes_available, run_on_processes


class DataParallel:
    """Runs ``model`` on ``shards`` slices of each batch at once (see the module docstring).

    ``forward``/``backward`` have the signatures of ``Layer``'s; after ``backward`` the
    gradients of ``model``'s layers hold the sums over the shards.

    ``processes``: where every shard gets a thread of its own (``threads >= shards``) and the
    platform forks (Linux), run the shards after the first in forked processes instead of threads
    (:mod:`scratchnet.shard_processes`: the same arithmetic, without the interpreter lock between
    them); ``False``: threads. :meth:`close` ends the threads or processes (the next pass starts
    them again).
    """

    def __init__(self, model: Layer, shards: int = 2, threads: int | None = None,
                 processes: bool = True) -> None:  # fmt: skip
        if shards < 2:
            raise ValueError(f"DataParallel: needs at least 2 shards, got {shards}")
        self.model, self.shards = model, shards
        budget = compute_threads() if threads is None else threads
        if budget < 1:
            raise ValueError(f"DataParallel: threads must be >= 1, got {threads}")
        self.threads = min(shards, budget)  # shards running at once
        self.blas_threads = max(1, budget // self.threads)  # BLAS threads of each running shard
        # every shard at once, one per process (the parent's first)
        self.processes = processes and processes_available() and self.threads == shards
        self.replicas = [model] + [_replica(model) for _ in range(shards - 1)]
        self._pool: ThreadPoolExecutor | None = None  # the shards' threads, started at the first pass
        self._layers = [list(r.modules()) for r in self.replicas]
        self._controller = None
        self._used = 0  # shards of the last forward pass
        self._workers: list[ShardWorker] = []  # started at the first forward pass (processes only)
        self._finalizer: weakref.finalize | None = None

    def _shard_blas_threads(self):
        """A context in which BLAS uses each running shard's share of the threads."""
        if self._controller is None:
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()
        return self._controller.limit(limits=self.blas_threads, user_api="blas")

    def _map(self, fn: Callable, parts: list[np.ndarray]) -> list:
        """``fn(replica_s, parts[s])`` for every shard, in parallel threads or one after the other
        (with the caller's floating-point error handling: ``np.errstate`` is per thread)."""
        replicas = self.replicas[: len(parts)]
        with self._shard_blas_threads():
            if self.threads == 1:
                return [fn(r, part) for r, part in zip(replicas, parts, strict=True)]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="scratchnet-shard")
            err = np.geterr()

            def run(replica: Layer, part: np.ndarray) -> object:
                with np.errstate(**err):
                    return fn(replica, part)

            return list(self._pool.map(run, replicas, parts))

    def _split(self, a: np.ndarray) -> list[np.ndarray]:
        """The shards of a batch along axis 0 (fewer than ``shards`` if the batch is smaller)."""
        return np.array_split(a, min(self.shards, max(len(a), 1)))

    def _sync(self) -> None:
        """Point the copies at the model's current parameter arrays and buffer values, and give
        them the model's modes and their random layers fresh generators (:meth:`_modes`)."""
        main = self._layers[0]
        for layers, modes in zip(self._layers[1:], self._modes(), strict=True):
            for m, r in zip(main, layers, strict=True):
                r.params.update(m.params)
                for k, v in m.buffers.items():
                    np.copyto(r.buffers[k], v)
            apply_modes(layers, modes)

    def _start_workers(self) -> list[ShardWorker]:
        """The worker processes, started (forked) at the first pass, and again when the model's
        parameters or buffers changed shape since (see :mod:`scratchnet.shard_processes`)."""
        main = self._layers[0]
        if self._workers and self._workers[0].layout.signature == StateLayout.signature_of(main):
            return self._workers
        self._stop_workers()
        self._workers = [ShardWorker(r, StateLayout(main), self.blas_threads, f"scratchnet-shard-{s}")
                         for s, r in enumerate(self.replicas[1:], start=1)]  # fmt: skip
        self._finalizer = weakref.finalize(self, _stop_all, list(self._workers))
        return self._workers

    def _stop_workers(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # stops the workers, once
        self._workers, self._finalizer = [], None

    def _modes(self) -> list[list[tuple[bool, bool, int | None]]]:
        """Per replica after the first: each layer's (training, trainable, dropout seed), the seeds
        drawn from the model's generators, replica by replica (threads and processes alike)."""
        main = self._layers[0]
        return [[(m.training, m.trainable,
                  int(m.rng.integers(2**63)) if m.rng is not None and m.training else None) for m in main]
                for _ in self.replicas[1:]]  # fmt: skip

    def _forward_processes(self, parts: list[np.ndarray]) -> tuple[list[np.ndarray], list[dict]]:
        """The shards' outputs and the other shards' buffers (``{(layer index, key): array}``)."""
        workers = self._start_workers()[: len(parts) - 1]
        for w in workers:
            w.layout.write_state(self._layers[0])
        args = [{"x": part, "modes": modes} for part, modes in zip(parts[1:], self._modes(), strict=False)]
        with self._shard_blas_threads():
            outs = run_on_processes(workers, "forward", lambda: self.model.forward(parts[0]), args)
        return outs, [dict(zip(w.layout.buffers, w.layout.buffers_out, strict=True)) for w in workers]

    def forward(self, x: np.ndarray) -> np.ndarray:
        parts = self._split(x)
        self._used = len(parts)
        if self.processes and self._used > 1:
            outs, others = self._forward_processes(parts)
        else:
            self._sync()
            outs = self._map(lambda r, part: r.forward(part), parts)
            others = [_by_key(layers, "buffers") for layers in self._layers[1 : self._used]]
        if self.model.training and self._used > 1:  # running statistics: the mean of the shards' updates
            for k, m in enumerate(self._layers[0]):
                for key, v in m.buffers.items():
                    v += sum(o[k, key] for o in others)
                    v /= self._used
        return np.concatenate(outs)

    __call__ = forward

    def backward(self, grad: np.ndarray, *, need_dx: bool = True) -> np.ndarray | None:
        parts = self._split(grad)
        if self._used == 0:
            raise RuntimeError("DataParallel: backward() called before forward()")
        if len(parts) != self._used:
            raise ValueError(f"DataParallel: backward got a batch of {len(grad)}, smaller than the forward's")
        if self.processes and self._used > 1:
            dxs, others = self._backward_processes(parts, need_dx)
        else:
            dxs = self._map(lambda r, g: r.backward(g, need_dx=need_dx), parts)
            others = [_by_key(layers, "grads") for layers in self._layers[1 : self._used]]
        for k, m in enumerate(self._layers[0]):  # the gradients: the sums over the shards
            for key, g in m.grads.items():
                missing = [s for s, o in enumerate(others, start=1) if (k, key) not in o]
                if missing:
                    raise RuntimeError(f"DataParallel: shard {missing[0]} computed no gradient for "
                                       f"{type(m).__name__}.{key}")  # fmt: skip
                parts = [o[k, key] for o in others]
                m.grads[key] = g + (sum(parts[1:], parts[0]) if parts else 0)  # one pass for two shards
        return None if dxs[0] is None else np.concatenate(dxs)

    def _backward_processes(self, parts: list[np.ndarray], need_dx: bool) -> tuple[list, list[dict]]:
        """The shards' input gradients and the other shards' parameter gradients (by key)."""
        workers = self._workers[: len(parts) - 1]
        args = [{"grad": g, "need_dx": need_dx} for g in parts[1:]]
        own = lambda: self.model.backward(parts[0], need_dx=need_dx)  # noqa: E731
        with self._shard_blas_threads():
            first, *replies = run_on_processes(workers, "backward", own, args)
        grads = [{w.layout.params[i]: w.layout.grad_arrays[i] for i in written}
                 for w, (_, written) in zip(workers, replies, strict=True)]  # fmt: skip
        return [first] + [dx for dx, _ in replies], grads

    def predict(self, x: np.ndarray, batch_size: int = 1000,
                transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
        """``model.predict`` with each batch split over the shards."""
        was_training = self.model.training
        self.model.eval()
        try:
            outs = []
            for i in range(0, len(x), batch_size):
                xb = x[i : i + batch_size]
                outs.append(self.forward(xb if transform is None else transform(xb)))
        finally:
            self.model.train(was_training)
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    def close(self) -> None:
        """Stop the shards' threads or processes (processes start again at the next pass)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._stop_workers()
        self._used = 0  # the shards' caches are gone with their processes: backward needs a forward first


def _by_key(layers: list[Layer], kind: str) -> dict[tuple[int, str], np.ndarray]:
    """A replica's buffers or gradients (``kind``) as ``{(layer index, key): array}``."""
    return {(k, key): v for k, m in enumerate(layers) for key, v in getattr(m, kind).items()}


def _stop_all(workers: list[ShardWorker]) -> None:
    for w in workers:
        w.stop()


def _replica(model: Layer) -> Layer:
    """A copy of ``model`` with its own caches, workspaces and gradients (``Layer.__deepcopy__``;
    a layer used several times stays one layer in the copy). Parameters are re-pointed at the
    model's arrays before every step by ``DataParallel._sync``."""
    params = {id(v): v for m in model.modules() for v in m.params.values()}
    memo = {i: v for i, v in params.items()}  # deepcopy keeps these very arrays: no copy of the weights
    replica = copy.deepcopy(model, memo)
    for layer in replica.modules():
        layer.grads = {}
    return replica
