"""Command-line interface: ``scratchnet <command> ...`` (also ``python -m scratchnet``).

Argument parsing only; the work is delegated to the library.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__, zoo


def _cmd_summary(args: argparse.Namespace) -> int:
    shape = tuple(args.input_shape)
    model = zoo.build(args.model, in_shape=shape, num_classes=args.classes, rng=0)
    model.summary(shape)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scratchnet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scratchnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print the layer table of a model from the zoo")
    p.add_argument("--model", default="reference-cnn", choices=sorted(zoo.MODELS))
    p.add_argument("--input-shape", type=int, nargs=3, default=(1, 28, 28), metavar=("C", "H", "W"))
    p.add_argument("--classes", type=int, default=10)
    p.set_defaults(func=_cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"scratchnet: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scratchnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
