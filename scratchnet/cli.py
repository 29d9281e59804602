"""Command-line interface: ``scratchnet <command> ...`` (also ``python -m scratchnet``).

Commands: ``train``, ``sweep``, ``ensemble``, ``evaluate``, ``sample``, ``summary``, ``models``,
``names``.
Argument parsing only; the work is done by :mod:`scratchnet.experiment`. Errors in the input
(missing or corrupt data files, bad options) print one message and exit with status 2, a
diverging run exits with 1, Ctrl-C with 130 after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from ._version import __version__
from .data.sources import DATASETS
from .runtime import blas_threads
from .zoo import MODELS


def _dataset_name(text: str) -> str:
    """``--dataset``: a registered name or one of its aliases (``fashion_mnist``, ``CIFAR-10``)."""
    from .data import DatasetError, get_spec

    try:
        return get_spec(text).name
    except DatasetError:
        return text  # argparse's choices check then lists the names


RECIPE = "default: the dataset's recipe, below"


def _add_training_options(p: argparse.ArgumentParser, many_models: bool = False) -> None:
    """Options shared by ``train``, ``sweep`` and ``ensemble``; ``None`` means "the dataset's
    default" (the recipes are listed at the end of ``--help``)."""
    p.add_argument("--dataset", default="fashion-mnist", type=_dataset_name, choices=DATASETS.names(),
                   help="what to train on (default: %(default)s)")  # fmt: skip
    if many_models:
        p.add_argument("--model", nargs="+", choices=MODELS.names(), metavar="MODEL",
                       help="architectures, used in turn by the members (default: the dataset's recipe; "
                            "`scratchnet models` lists them)")  # fmt: skip
    else:
        p.add_argument(
            "--model",
            choices=MODELS.names(),
            metavar="MODEL",
            help="architecture from the zoo (`scratchnet models` lists them; " + RECIPE + ")",
        )
    group = p.add_argument_group("the recipe (every option defaults to the dataset's recipe, listed below)")
    add_config_options(group)
    group.add_argument("--dropout", type=float, help="dropout probability of the model's dropout layers "
                                                     "(default: the model's own)")  # fmt: skip
    group.add_argument("--no-augment", action="store_true", help="no random crops or flips during training")
    run = p.add_argument_group("where and how it runs")
    run.add_argument("--data-dir", help="folder holding the dataset files (else $SCRATCHNET_DATA, then "
                                        "~/.cache/scratchnet, then a download)")  # fmt: skip
    run.add_argument("--limit", type=int,
                     help="quick tries: train on the first N training images (the validation split comes "
                          "out of them) and test on the first N // 6 test images; the output says what was "
                          "cut")  # fmt: skip
    run.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch is kept)")
    run.add_argument("--threads", type=int,
                     help="threads this run may keep busy: BLAS and data-parallel shards (default: "
                          "$SCRATCHNET_NUM_THREADS, else every core)")  # fmt: skip
    run.add_argument("--tensorboard", metavar="DIR", help="also write scalars for TensorBoard under DIR")


def add_config_options(group: argparse._ArgumentGroup) -> None:
    """One option per field of :class:`~scratchnet.config.TrainConfig` (``--batch-size`` for
    ``batch_size``), with the field's help, type and allowed names: generated, so that a new field
    is an option with nothing else to write. Every default is ``None``: the recipe's value."""
    from .train import TrainConfig

    for f in fields(TrainConfig):
        meta = f.metadata
        if not meta.get("command_line", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=meta["help"])
            continue
        choices = meta["choices"].names() if "choices" in meta else None
        group.add_argument(flag, type=meta.get("type", type(f.default)), choices=choices, help=meta["help"])


def recipes_epilog() -> str:
    """The dataset recipes, as ``scratchnet train --help`` lists them."""
    from .recipes import DEFAULTS

    lines = ["recipes (what each option is when not given; scratchnet/recipes.py, DEFAULTS):"]
    for name, recipe in DEFAULTS.items():
        lines.append(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
    return "\n".join(lines)


def _add_parallel_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, help="trainings at once, in local processes")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (tcp://HOST:PORT)")


def _config(args: argparse.Namespace, lr: float | None = None):
    """``(model, TrainConfig)`` of the parsed options: :func:`scratchnet.recipes.resolve`."""
    from .recipes import resolve
    from .train import TrainConfig

    overrides = {f.name: getattr(args, f.name, None) for f in fields(TrainConfig) if f.name != "lr"}
    overrides["lr"] = lr  # one rate for train, a list for sweep: passed here
    return resolve(args.dataset, args.model, overrides, limit=args.limit, augment=not args.no_augment)


def _cmd_train(args: argparse.Namespace) -> int:
    from .experiment import train_run
    from .train import TrainConfig, TrainingDiverged, TrainingInterrupted

    if args.resume:
        args.resume = _checkpoint_file(args.resume)
        cfg = TrainConfig.from_dict({"epochs": args.epochs}) if args.epochs else None
        out = args.out or str(Path(args.resume).parent)
        model = None
    else:
        model, cfg = _config(args, args.lr)
        out = args.out or f"runs/{args.dataset}-{model}"
    try:
        tb = str(Path(args.tensorboard) / Path(out).name) if args.tensorboard else None
        m = train_run(args.dataset, out, model, cfg, dropout=args.dropout, data_dir=args.data_dir,
                      resume=args.resume, limit=args.limit, progress=not args.no_progress,
                      tensorboard=tb)  # fmt: skip
    except TrainingDiverged as e:
        print(f"scratchnet: {e}\nmetrics so far: {out}/metrics.json", file=sys.stderr)
        return 1
    except TrainingInterrupted as e:
        print(f"\nscratchnet: interrupted. Checkpoint: {e.checkpoint}; metrics so far: {out}/metrics.json\n"
              f"resume with: scratchnet train --resume {e.checkpoint}", file=sys.stderr)  # fmt: skip
        return 130
    if m.get("test_accuracy") is None:  # a text corpus: validation only, loss in nats per character
        print(f"validation loss {m['val_loss']:.4f} nats/char (accuracy {m['val_accuracy']:.4f}, "
              f"train {m['train_seconds']:.0f}s, wall {m['wall_seconds']:.0f}s) -> {out}/")  # fmt: skip
    else:
        print(f"test accuracy {m['test_accuracy']:.4f}  (val {m['val_accuracy']:.4f}, "
              f"train {m['train_seconds']:.0f}s, wall {m['wall_seconds']:.0f}s) -> {out}/")  # fmt: skip
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    model, cfg = _config(args)
    out = args.out or f"runs/sweep-{args.dataset}-{model}"
    sweep(args.lr, args.dataset, out, model, cfg, dropout=args.dropout, data_dir=args.data_dir,
          limit=args.limit, progress=not args.no_progress, workers=args.workers,
          scheduler=args.scheduler, then_train=args.then_train, tensorboard=args.tensorboard)  # fmt: skip
    print(f"figure: {out}/sweep.png  table: {out}/sweep.md")
    return 0


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from .ensemble_run import ensemble_run
    from .recipes import ENSEMBLE_DEFAULTS

    recipe = dict(ENSEMBLE_DEFAULTS.get(args.dataset, {}))
    members = args.members or recipe.pop("members", 5)
    for key, value in recipe.items():  # what the ensemble recipe changes in the dataset's default
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    models, cfgs = [], {}
    for name in args.model or [None]:
        model, cfg = _config(argparse.Namespace(**{**vars(args), "model": name}), args.lr)
        models.append(model)
        cfgs[model] = cfg
    out = args.out or f"runs/ensemble-{args.dataset}"
    m = ensemble_run(args.dataset, out, models, cfgs, members=members, seed=args.seed or 0,
                     bagging=args.bagging, voting=args.voting, workers=args.workers, scheduler=args.scheduler,
                     data_dir=args.data_dir, limit=args.limit, progress=not args.no_progress,
                     tensorboard=args.tensorboard)  # fmt: skip
    print(f"ensemble test accuracy {m['test_accuracy']:.4f} (best member "
          f"{m['best_member_test_accuracy']:.4f}, {m['members_used']} of {m['members_planned']} members, "
          f"wall {m['wall_seconds']:.0f}s) -> {out}/")  # fmt: skip
    return 0


def _checkpoint_file(path: str) -> str:
    """A run's ``checkpoint.npz``, given the file or the run's folder."""
    p = Path(path)
    if p.is_dir():
        if not (p / "checkpoint.npz").is_file():
            raise FileNotFoundError(f"{p}/ holds no checkpoint.npz (nor an ensemble's manifest.json): give a "
                                    "run's folder, its checkpoint.npz, or an ensemble's folder")  # fmt: skip
        return str(p / "checkpoint.npz")
    return path


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .ensemble import MANIFEST
    from .evaluation import evaluate_checkpoint

    if (Path(args.checkpoint) / MANIFEST).is_file():
        return _evaluate_ensemble(args)
    res = evaluate_checkpoint(_checkpoint_file(args.checkpoint), data_dir=args.data_dir,
                              progress=not args.no_progress)  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['dataset']} / {res['model']} after {res['epochs_trained']} epochs: "
          f"test accuracy {res['test_accuracy']:.4f}, loss {res['test_loss']:.4f}")  # fmt: skip
    for cls, acc in res["per_class_accuracy"].items():
        print(f"  {cls:>12s}  {acc:.4f}")
    return 0


def _evaluate_ensemble(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_ensemble

    res = evaluate_ensemble(args.checkpoint, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['dataset']} / ensemble of {len(res['member_accuracy'])} ({res['voting']} voting): "
          f"test accuracy {res['accuracy']:.4f}, best member {res['best_member_accuracy']:.4f}")  # fmt: skip
    for k, acc in enumerate(res["member_accuracy"]):
        print(f"  member {k} ({res['models'][k]})  {acc:.4f}")
    for cls, acc in res["per_class_accuracy"].items():
        print(f"  {cls:>12s}  {acc:.4f}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    shape = tuple(args.input_shape)
    model = zoo.build(args.model, in_shape=shape, num_classes=args.classes, rng=0, fuse=not args.plot)
    model.summary(shape)
    if args.plot:  # the textbook form (unfused): every layer its own block
        title = f"{args.model}: {model.num_parameters():,} parameters"
        print(f"diagram: {model.plot(shape, args.plot, title=title)}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    for name in sorted(MODELS):
        print(f"{name:16s} {MODELS.description(name)}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .evaluation import load_generator

    generate = load_generator(_checkpoint_file(args.checkpoint))
    print(generate(args.prompt, args.length, args.temperature, np.random.default_rng(args.seed)))
    return 0


def _cmd_names(args: argparse.Namespace) -> int:
    from .names import names_markdown

    print(names_markdown(), end="")
    return 0


def _add_tool_parsers(sub: Any) -> None:
    """The commands that read what training wrote or what the library holds: ``evaluate``,
    ``summary``, ``models``, ``sample``, ``names``."""
    p = sub.add_parser("evaluate", help="test accuracy of a checkpoint or an ensemble directory")
    p.add_argument("checkpoint", help="a run's checkpoint.npz or its folder, or an ensemble's folder")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("summary", help="print a model's layer table (shapes, parameters, MACs)")
    p.add_argument("--model", default="reference-cnn", choices=MODELS.names())
    p.add_argument("--input-shape", type=int, nargs=3, default=(1, 28, 28), metavar=("C", "H", "W"))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--plot", metavar="FILE", help="also draw the architecture (.png, .svg or .pdf)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("models", help="list the model zoo")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("sample", help="text from a character model's checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--prompt", default="\n", help="text to start from (characters of the training corpus)")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="< 1: more conservative, > 1: more random")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("names", help="every dataset, model, optimizer and schedule name (Markdown)")
    p.set_defaults(func=_cmd_names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchnet", description="scratchnet: deep learning from scratch in NumPy"
    )
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    recipes = {"epilog": recipes_epilog(), "formatter_class": argparse.RawDescriptionHelpFormatter}
    p = sub.add_parser("train", help="train a network; writes metrics, history, checkpoint and plots",
                       description="Train a network and write metrics.json, history.csv, checkpoint.npz and "
                                   "the figures into --out.", **recipes)  # fmt: skip
    _add_training_options(p)
    p.add_argument("--lr", type=float, help="(peak) learning rate (" + RECIPE + ")")
    p.add_argument("--out", help="output directory (default: runs/<dataset>-<model>)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue a run from its checkpoint.npz (or its folder)")  # fmt: skip
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sweep", help="one run per learning rate; figure of the error per iteration", **recipes)
    _add_training_options(p)
    p.add_argument("--lr", type=float, nargs="+", required=True, help="learning rates to try")
    _add_parallel_options(p)
    p.add_argument("--then-train", type=int, metavar="EPOCHS",
                   help="then train this many epochs at the best rate (folder best/)")  # fmt: skip
    p.add_argument("--out", help="output directory (default: runs/sweep-<dataset>-<model>)")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("ensemble", help="train K networks and evaluate them and their vote", **recipes)
    _add_training_options(p, many_models=True)
    p.add_argument("--members", type=int, help="how many networks (default: per dataset, 5)")
    p.add_argument("--lr", type=float, help="(peak) learning rate (" + RECIPE + ")")
    p.add_argument("--bagging", action="store_true", help="each member trains on a bootstrap sample")
    p.add_argument("--voting", choices=("soft", "hard"), default="soft",
                   help="soft: mean of the members' probabilities; hard: majority of their labels "
                        "(default: soft)")  # fmt: skip
    _add_parallel_options(p)
    p.add_argument("--out", help="output directory (default: runs/ensemble-<dataset>); run again to resume")
    p.set_defaults(func=_cmd_ensemble)

    _add_tool_parsers(sub)
    from .check.command import add_check_parser

    add_check_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with blas_threads(getattr(args, "threads", None)):
            return args.func(args)
    except (ValueError, OSError, ImportError) as e:  # DatasetError is a ValueError
        print(f"scratchnet: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nscratchnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
