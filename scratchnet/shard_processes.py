r"""Shards in processes: the data parallelism of :mod:`scratchnet.data_parallel`, with every shard
after the first in a process of its own instead of a thread.

Why. NumPy releases the interpreter lock inside each of its loops, but takes it back between
them, and two threads of one interpreter hand that lock over at every call. A step of a small
network is thousands of short calls (an LSTM step of 64 sequences: ~30 calls of ~2 µs per time
step), and there two threads run hardly faster than one: on the 2-core EPYC, two threads each
running 8192-element ``multiply``/``add``/``tanh`` calls took 3.5 µs per call against 1.8 µs for
one thread alone, while two *processes* each running a whole ``lstm-rows`` shard took 12.6 ms per
step, as fast as one alone (12.8 ms), against 15.4 ms for the two shards as threads
(``docs/speed.md``, "Shards in processes").

How. Each worker is forked at the first step, so it starts with its replica of the network
(copy-on-write) and nothing is pickled but the shards' arrays. It shares with the parent one
anonymous block of memory (``mmap``, gone with the processes) holding, layer by layer in
``model.modules()`` order:

- the parameters, written by the parent before every forward pass (the optimizer updates the
  parent's arrays in place; the worker's layers read the block),
- the buffers in (the parent's running statistics, for a pass in eval mode) and out (the shard's
  updated statistics after a pass in train mode, which the parent averages),
- the gradients, written by the worker after every backward pass, summed by the parent.

The arrays whose shape changes from step to step (the shard's input, its scores, the gradient of
the scores and the input gradient) go through a pipe with the command. Every command carries a
number and its reply the same number, so a reply left unread by an interruption (Ctrl-C in a
notebook) is recognised and dropped, never taken for the next command's. A worker ignores
Ctrl-C (the terminal sends it to the whole process group): the parent decides what stops. An
error in a worker is raised in the parent, with the worker's traceback in its message; a worker
that died is reported as such.

The arithmetic is the threads' exactly: the same replica code on the same slice with the same
number of BLAS threads, the same dropout seeds drawn in the same order, the same sums; a run on
processes is bit for bit the run on threads (``tests/test_data_parallel.py``).
"""

from __future__ import annotations

import builtins
import mmap
import multiprocessing
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .layers.base import Layer

_ALIGN = 64  # bytes: each array of a block starts on a cache line


def processes_available() -> bool:
    """Whether shards can run as forked processes here (Linux: the ``fork`` start method, with the
    replica inherited; elsewhere the shards stay threads)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class SharedBlock:
    """Arrays of the given shapes and dtypes, one after another in one anonymous shared ``mmap``
    (inherited by a forked process: both sides see the same memory)."""

    def __init__(self, specs: Sequence[tuple[tuple[int, ...], np.dtype]]) -> None:
        offsets, end = [], 0
        for shape, dtype in specs:
            end = -(-end // _ALIGN) * _ALIGN
            offsets.append(end)
            end += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        self.memory = mmap.mmap(-1, max(end, 1))
        self.arrays = [np.ndarray(shape, dtype, buffer=self.memory, offset=o)
                       for (shape, dtype), o in zip(specs, offsets, strict=True)]  # fmt: skip


class StateLayout:
    """Where each layer's parameters, buffers and gradients live in a worker's block: ``params``
    and ``buffers`` are lists of ``(layer index, key)`` in ``modules()`` order; the block holds
    the parameters, then the buffers in, the buffers out and the gradients (one per parameter)."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.signature = self.signature_of(layers)
        self.params, self.buffers, p, b = (list(part) for part in self.signature)
        self.block = SharedBlock(p + b + b + p)
        n, m = len(p), len(b)
        arrays = self.block.arrays
        self.param_arrays, self.buffers_in = arrays[:n], arrays[n : n + m]
        self.buffers_out, self.grad_arrays = arrays[n + m : n + 2 * m], arrays[n + 2 * m :]

    @staticmethod
    def signature_of(layers: Sequence[Layer]) -> tuple[tuple, ...]:
        """What a block is laid out for: the ``(layer index, key)`` of every parameter and buffer,
        and their ``(shape, dtype)``. A model whose signature changed needs new workers."""
        params = [(k, key) for k, m in enumerate(layers) for key in m.params]
        buffers = [(k, key) for k, m in enumerate(layers) for key in m.buffers]
        p = [(layers[k].params[key].shape, layers[k].params[key].dtype) for k, key in params]
        b = [(layers[k].buffers[key].shape, layers[k].buffers[key].dtype) for k, key in buffers]
        return tuple(params), tuple(buffers), tuple(p), tuple(b)

    def write_state(self, layers: Sequence[Layer]) -> None:
        """The parent's parameters and buffers into the block (before a forward pass)."""
        for (k, key), a in zip(self.params, self.param_arrays, strict=True):
            np.copyto(a, layers[k].params[key])
        for (k, key), a in zip(self.buffers, self.buffers_in, strict=True):
            np.copyto(a, layers[k].buffers[key])


def apply_modes(layers: Sequence[Layer], modes: Sequence[tuple[bool, bool, int | None]]) -> None:
    """Give a replica's layers the model's (training, trainable) and, where a seed is given, a
    fresh generator from it (what the parent draws for each shard, threads or processes)."""
    for m, (training, trainable, seed) in zip(layers, modes, strict=True):
        m.training, m.trainable = training, trainable
        if seed is not None:
            m.rng = np.random.default_rng(seed)


def _forward(replica: Layer, layers: list[Layer], layout: StateLayout, x: np.ndarray,
             modes: list[tuple[bool, bool, int | None]]) -> np.ndarray:  # fmt: skip
    """The worker's forward pass: modes (train/eval, trainable, dropout seed) and buffers from
    the parent, the shard's updated buffers back into the block."""
    apply_modes(layers, modes)
    for (k, key), a in zip(layout.buffers, layout.buffers_in, strict=True):
        np.copyto(layers[k].buffers[key], a)
    out = replica.forward(x)
    for (k, key), a in zip(layout.buffers, layout.buffers_out, strict=True):
        np.copyto(a, layers[k].buffers[key])
    return out


def _backward(replica: Layer, layers: list[Layer], layout: StateLayout, grad: np.ndarray,
              need_dx: bool) -> tuple[np.ndarray | None, list[int]]:  # fmt: skip
    """The worker's backward pass; its gradients into the block. Returns the input gradient and
    the indices (into ``layout.params``) of the gradients it wrote."""
    dx = replica.backward(grad, need_dx=need_dx)
    written = []
    for i, ((k, key), a) in enumerate(zip(layout.params, layout.grad_arrays, strict=True)):
        g = layers[k].grads.get(key)
        if g is not None:
            np.copyto(a, g)
            written.append(i)
    return dx, written


def _serve(conn: Any, parent_end: Any, replica: Layer, layout: StateLayout, blas_threads: int) -> None:
    """A worker's life: point the replica's parameters at the block, then answer commands until
    ``stop`` or the parent's end of the pipe closes."""
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=blas_threads, user_api="blas")
    layers = list(replica.modules())
    for (k, key), a in zip(layout.params, layout.param_arrays, strict=True):
        layers[k].params[key] = a
    while True:
        try:
            number, command, args = conn.recv()
        except (EOFError, OSError):
            return
        if command == "stop":
            return
        try:
            with np.errstate(**args.pop("errstate")):
                fn = _forward if command == "forward" else _backward
                reply = (number, "ok", fn(replica, layers, layout, **args))
        except Exception as e:  # reported to the parent, which raises it
            reply = (number, "error", (type(e).__name__, str(e), traceback.format_exc()))
        conn.send(reply)


class ShardWorker:
    """One forked process running one shard's replica (see the module docstring)."""

    def __init__(self, replica: Layer, layout: StateLayout, blas_threads: int, name: str) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child_end = context.Pipe()
        self.layout, self.name = layout, name
        args = (child_end, self.conn, replica, layout, blas_threads)
        self.process = context.Process(target=_serve, args=args, name=name, daemon=True)
        self.process.start()
        child_end.close()
        self._number = 0

    def send(self, command: str, **args: Any) -> int:
        """Send a command without waiting; returns its number for :meth:`receive`."""
        self._number += 1
        try:
            self.conn.send((self._number, command, {"errstate": np.geterr(), **args}))
        except OSError:
            raise self._died() from None
        return self._number

    def _died(self) -> RuntimeError:
        self.process.join(timeout=1)
        return RuntimeError(f"DataParallel: the shard process {self.name} (pid {self.process.pid}) died "
                            f"(exit code {self.process.exitcode}); close() and the next pass start a new one")

    def receive(self, number: int) -> Any:
        """The reply to command ``number`` (replies to earlier, interrupted commands are dropped);
        a worker's error is raised here."""
        while True:
            try:
                got, status, value = self.conn.recv()
            except (EOFError, OSError):
                raise self._died() from None
            if got == number:
                break
        if status == "ok":
            return value
        kind, message, trace = value
        text = f"{message}\n(in the shard process {self.name}; its traceback:)\n{trace}"
        error = getattr(builtins, kind, None)  # the same kind of error where it is a built-in one
        try:
            raised = error(text) if isinstance(error, type) and issubclass(error, Exception) else None
        except TypeError:  # a built-in error that needs more than a message (UnicodeDecodeError)
            raised = None
        raise raised or RuntimeError(f"{kind}: {text}")

    def stop(self) -> None:
        """Ask the process to end, and end it if it does not within a second."""
        try:
            self.conn.send((0, "stop", {}))
        except (OSError, ValueError):
            pass
        self.process.join(timeout=1)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=1)
        self.conn.close()


def run_on_processes(workers: Sequence[ShardWorker], command: str, own: Callable[[], Any],
                     args: Sequence[dict[str, Any]]) -> list[Any]:  # fmt: skip
    """Send ``command`` with ``args[s]`` to worker ``s``, run the parent's shard (``own()``)
    meanwhile, and return ``[own result] + the workers' replies``. Every reply is received even
    when the parent's shard fails; the first error (the parent's first) is raised."""
    numbers = [w.send(command, **a) for w, a in zip(workers, args, strict=True)]
    results: list[Any] = []
    errors: list[BaseException] = []
    try:
        results.append(own())
    except BaseException as e:
        errors.append(e)
    for w, number in zip(workers, numbers, strict=True):
        try:
            results.append(w.receive(number))
        except Exception as e:
            errors.append(e)
    if errors:
        raise errors[0]
    return results
