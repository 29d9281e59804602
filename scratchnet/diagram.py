"""Architecture diagrams: the network drawn as blocks, each labelled with its layer, output
dimensions and parameter count (``Sequential.plot``, ``scratchnet summary --plot FILE``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .ops import RECORDS
from .ops.record import family_of

# by the family of the op a layer wraps (its op record), for reading the stack at a glance; a layer
# of no op (Flatten, a block's line) and the activations are left light grey
FAMILY_COLOURS = {"conv": "#9ecae1", "pool": "#c7e9c0", "norm": "#fdd0a2", "dense": "#bcbddc",
                  "recurrent": "#fcbba1", "dropout": "#e5e5e5"}  # fmt: skip


def box_colour(layer: Any) -> str:
    """The box colour of a layer in the diagram."""
    return FAMILY_COLOURS.get(family_of(RECORDS, type(layer).__name__) or "", "#f7f7f7")


def label(layer: Any) -> str:
    """A short name: ``Conv2D 3x3, 1->32, pad 1`` rather than the full ``repr``."""
    kind = type(layer).__name__
    if kind in ("Conv2D", "ConvPool2D"):
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
        text = f"{kind} {kh}x{kw}, {layer.in_channels}->{layer.out_channels}"
        text += (
            f", stride {sh}"
            if (sh, sw) == (sh, sh) and sh > 1
            else ""
            if (sh, sw) == (1, 1)
            else f", stride {sh}x{sw}"
        )
        text += f", pad {ph}" if ph == pw and ph else "" if (ph, pw) == (0, 0) else f", pad {ph}x{pw}"
        return (
            text
            + (" + max-pool 2x2" if kind == "ConvPool2D" else "")
            + ("" if "b" in layer.params else ", no bias")
        )
    if kind in ("MaxPool2D", "AvgPool2D"):
        (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
        return f"{kind} {kh}x{kw}" + ("" if (sh, sw) == (kh, kw) else f", stride {sh}x{sw}")
    return repr(layer)


def _dims(shape: tuple) -> str:
    return " x ".join(str(d) for d in shape)


def plot_architecture(
    model: Any, input_shape: tuple[int, ...], path: str | os.PathLike, title: str = ""
) -> Path:
    """Draw ``model`` for inputs of ``input_shape`` (one sample, no batch axis) into ``path``;
    the format follows the suffix (``.png``, ``.svg``, ``.pdf``). Returns the path."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # a figure of its own: the user's pyplot state is left alone
    from matplotlib.patches import FancyBboxPatch

    rows = [("input", _dims(input_shape), "", "#ffffff")]
    for r in model.summary_rows(tuple(input_shape))[0]:
        indent = "   " * r.depth
        dims = "" if r.shape is None else _dims(r.shape)
        if r.layer is None:  # a line of the structure: a block opens, a skip path joins
            rows.append((indent + r.text, dims, f"{r.params:,} params" if r.params else "", "#ffffff"))
            continue
        rows.append((indent + label(r.layer) + (" (again)" if r.again else ""), dims,
                     f"{r.params:,} params" if r.params else "", box_colour(r.layer)))  # fmt: skip
    total = model.num_parameters()
    height = 0.62 * len(rows) + 0.9
    fig = Figure(figsize=(8.5, height))
    ax = fig.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, len(rows) + 0.6)
    ax.axis("off")
    for k, (name, dims, params, colour) in enumerate(rows):
        y = len(rows) - k - 0.5
        ax.add_patch(FancyBboxPatch((0.3, y - 0.32), 9.4, 0.64, boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=colour, edgecolor="#444444", linewidth=0.8))  # fmt: skip
        ax.text(0.5, y, name, va="center", ha="left", fontsize=8.5, family="monospace")
        ax.text(7.6, y, dims, va="center", ha="right", fontsize=9, weight="bold")
        ax.text(9.55, y, params, va="center", ha="right", fontsize=8)
        if k:
            ax.annotate("", xy=(5, y + 0.33), xytext=(5, y + 0.67), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_title(title or f"{total:,} trainable parameters; output dimensions per sample", fontsize=10)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with rc_context({"svg.fonttype": "none"}):  # SVG keeps its text as text (searchable, selectable)
        fig.savefig(out, bbox_inches="tight", dpi=130)
    return out
