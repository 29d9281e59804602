"""Timed training steps and inference of both frameworks in one process, alternating blocks."""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np
from common import BATCH, EPOCH_IMAGES, LR, MOMENTUM, limit_threads, load_batches
from torch_mirror import mirror

from scratchnet.recipes import ROWS_RECIPE


def build_pair(model_name: str, seed: int = 0) -> tuple[Any, Any]:
    """The zoo model (as ``scratchnet train`` builds it) and its torch twin, same weights."""
    from scratchnet import zoo

    ours = zoo.build(model_name, rng=seed)
    return ours, mirror(ours)


ADAM_LR = 1e-3  # the recurrent benchmarks' update: Adam, clipped at the recurrent recipes' norm
CLIP_NORM = ROWS_RECIPE["*"]["clip_norm"]


def _stepper(ours: Any, batches: list, adam: bool = False) -> Any:
    """A scratchnet training step (SGD with momentum, or Adam with the recurrent recipes' clipping
    at norm 1) on batch ``i``; ``ours``: a model or its ``DataParallel``."""
    import scratchnet as sn

    loss_fn = sn.losses.SoftmaxCrossEntropy()
    model = getattr(ours, "model", ours)
    opt = sn.optim.Adam(model.parameters(), lr=ADAM_LR, clip_norm=CLIP_NORM) if adam else \
        sn.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step_ours(i: int) -> None:
        x, y = batches[i]
        loss_fn.forward(ours.forward(x), y)
        ours.backward(loss_fn.backward(), need_dx=False)
        opt.step()

    return step_ours


def _steppers(ours: Any, theirs: Any, batches: list, adam: bool = False) -> tuple[Any, Any]:
    import torch

    topt = torch.optim.Adam(theirs.parameters(), lr=ADAM_LR) if adam else \
        torch.optim.SGD(theirs.parameters(), lr=LR, momentum=MOMENTUM)
    tbatches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    step_ours = _stepper(ours, batches, adam)

    def torch_loss(scores: Any, y: Any) -> Any:  # classes on the last axis, as ours
        return torch.nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))

    def step_torch(i: int) -> None:
        x, y = tbatches[i]
        topt.zero_grad(set_to_none=True)
        torch_loss(theirs(x), y).backward()
        if adam:
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), CLIP_NORM)
        topt.step()

    return step_ours, step_torch


def _predictor(runner: Any, xs: np.ndarray) -> Any:
    """Inference on ``xs`` in one batch, eval mode (the block index is ignored)."""
    return lambda i: runner.predict(xs, len(xs))


def _alternate(fns: dict[str, Any], rounds: int, block: int, start: int = 0) -> dict[str, list[float]]:
    """Blocks of ``block`` calls per framework, alternating who goes first; seconds per call."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    k = start
    for r in range(rounds):
        order = list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]
        for name, fn in order:
            for j in range(block):
                t = time.perf_counter()
                fn(k + j)
                times[name].append(time.perf_counter() - t)
        k += block
    return times


def _summary(step_times: list[float], inference_times: list[float], batch: int = BATCH,
             inferred: int = 1000) -> dict[str, float]:  # fmt: skip
    step = float(np.median(step_times))
    return {
        "step_ms_median": step * 1e3,
        "step_ms_p10": float(np.percentile(step_times, 10)) * 1e3,
        "step_ms_p90": float(np.percentile(step_times, 90)) * 1e3,
        "epoch_s": step * EPOCH_IMAGES / BATCH,
        "train_images_per_s": batch / step,
        "inference_images_per_s": inferred / float(np.median(inference_times)),
    }


def time_training(model_name: str, threads: int, rounds: int, block: int, warmup: int) -> dict[str, Any]:
    """Median step time and inference throughput of both frameworks at ``threads`` threads."""
    _limits = limit_threads(threads)
    batches = load_batches(rounds * block + warmup + 1)
    ours, theirs = build_pair(model_name)
    out: dict[str, Any] = {"threads": threads, "model": model_name}
    extra = {}
    if threads > 1:  # the same network, each batch in `threads` data-parallel shards
        from scratchnet import zoo
        from scratchnet.data_parallel import DataParallel

        extra["scratchnet-dp"] = DataParallel(zoo.build(model_name, rng=0), threads)
    return {**out, **time_pair(ours, theirs, batches, rounds, block, warmup, extra)}


def time_pair(ours: Any, theirs: Any, batches: list, rounds: int, block: int, warmup: int,
              extra: dict[str, Any] | None = None, adam: bool = False) -> dict[str, Any]:  # fmt: skip
    """Alternating training steps, then inference, of a scratchnet model and its torch twin
    (and of ``extra`` scratchnet runners, e.g. a ``DataParallel``, by name); ``adam``: Adam with
    clipping (the recurrent recipes' update) instead of SGD."""
    import torch

    step_ours, step_torch = _steppers(ours, theirs, batches, adam)
    steppers = {"scratchnet": step_ours, "torch": step_torch}
    steppers.update({name: _stepper(runner, batches, adam) for name, runner in (extra or {}).items()})
    for i in range(warmup):
        for fn in steppers.values():
            fn(i)
    steps = _alternate(steppers, rounds, block, start=warmup)
    xs = np.concatenate([b[0] for b in batches[:8]])[:1000]
    xt = torch.from_numpy(xs.astype(np.int64) if np.issubdtype(xs.dtype, np.integer) else xs)
    runners = {"scratchnet": ours, **(extra or {})}
    predictors = {name: _predictor(r, xs) for name, r in runners.items()}
    theirs.eval()
    with torch.no_grad():
        inference = _alternate({**predictors, "torch": lambda i: theirs(xt)}, 8, 1)
    out: dict[str, Any] = {"timed_steps": len(steps["scratchnet"])}
    out.update({name: _summary(steps[name], inference[name], len(batches[0][0]), len(xs)) for name in steps})
    return out


def peak_memory(framework: str, model_name: str, threads: int, steps: int = 60) -> dict[str, Any]:
    """Peak RSS of a process that runs only one framework (the other is never imported):
    training steps, then inference at batch 1000."""
    _limits = limit_threads(threads, with_torch=framework == "torch")
    batches = load_batches(steps + 2)
    xs = np.concatenate([b[0] for b in batches[:8]])[:1000]
    from scratchnet import zoo

    ours = zoo.build(model_name, rng=0)
    if framework == "scratchnet":
        import scratchnet as sn

        loss_fn, opt = (
            sn.losses.SoftmaxCrossEntropy(),
            sn.optim.SGD(ours.parameters(), lr=LR, momentum=MOMENTUM),
        )
        for x, y in batches[:steps]:
            loss_fn.forward(ours.forward(x), y)
            ours.backward(loss_fn.backward(), need_dx=False)
            opt.step()
        ours.eval().forward(xs)
    else:
        import torch

        theirs = mirror(ours)
        del ours
        topt = torch.optim.SGD(theirs.parameters(), lr=LR, momentum=MOMENTUM)
        for x, y in batches[:steps]:
            topt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
            topt.step()
        with torch.no_grad():
            theirs.eval()(torch.from_numpy(xs))
    return {"framework": framework, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
