"""The rows that ``summary()`` prints and ``plot()`` draws: one per layer call, plus the lines
that show a model's structure (where a block opens, where a residual's skip path joins).

A leaf layer is one row. A ``Sequential`` is its layers' rows in order and a ``Residual`` its
block's rows between two structure lines; they know their structure. A block of one's own is
only code, so it is run once on zeros in eval mode (:func:`scratchnet.layers.calls.trace`) and
its children's calls give its rows, in the order it makes them: a layer called twice has two
rows and its parameters counted at the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import calls


@dataclass(frozen=True)
class Row:
    depth: int  # nesting: 0 at the top, +1 inside each block
    text: str  # the layer's repr, or a structure line
    shape: tuple | None  # output shape per sample after this row (None: not shown)
    layer: Any = None  # the leaf layer of a layer row; None on a structure line
    params: int = 0  # parameters counted on this row (0 for a repeated call)
    macs: int = 0
    again: bool = False  # a layer (or block) called before: its parameters are not counted again
    input_shape: tuple | None = None  # a layer row's input shape per sample


def _counted(layer: Any, seen: set[int]) -> tuple[bool, int]:
    """Whether ``layer`` was met before, and the parameters of its own to count here (0 if so)."""
    again = id(layer) in seen
    seen.add(id(layer))
    return again, 0 if again else sum(int(v.size) for v in layer.params.values())


def leaf_rows(layer: Any, shape: tuple, depth: int, seen: set[int]) -> tuple[list[Row], tuple]:
    macs = layer.macs(shape)
    out = tuple(layer.output_shape(shape))
    again, n = _counted(layer, seen)
    return [Row(depth, repr(layer), out, layer, n, int(macs), again, tuple(shape))], out


def block_rows(block: Any, shape: tuple, depth: int, seen: set[int]) -> tuple[list[Row], tuple]:
    """A block of one's own, traced: a line that opens it, its children's calls, its output."""
    children, out = calls.trace(block, ("N", *shape))
    again, own = _counted(block, seen)
    name = type(block).__name__
    rows = [Row(depth, f"{name}: a block of its own", None, again=again)]
    if own:
        rows.append(Row(depth + 1, f"{name}'s own parameters: {', '.join(block.params)}", None, None, own))
    for child, in_shape, _ in children:
        inner, _ = child.summary_rows(in_shape[1:], depth + 1, seen)
        rows += inner
    out_shape = tuple(out[1:]) if out and not isinstance(out[0], tuple) else None
    rows.append(Row(depth, f"= {name}'s output", out_shape))
    return rows, out_shape


def table(model: Any, input_shape: tuple) -> str:
    """The summary table of ``model`` for one sample of ``input_shape``."""
    rows, _ = model.summary_rows(input_shape)
    cells = [("#", "layer", "output shape", "params", "MACs")]
    count = 0
    for r in rows:
        text = "  " * r.depth + r.text + ("  (again: shared)" if r.again else "")
        shape = "" if r.shape is None else str(r.shape)
        if r.layer is None:  # a line of the structure
            cells.append(("", text, shape, f"{r.params:,}" if r.params else "", ""))
            continue
        count += 1
        cells.append((str(count), text, shape, f"{r.params:,}", f"{r.macs:,}"))
    widths = [max(len(c[i]) for c in cells) for i in range(5)]

    def fmt(c: tuple[str, ...]) -> str:
        cols = (c[i].rjust(widths[i]) if i in (0, 3, 4) else c[i].ljust(widths[i]) for i in range(5))
        return "  ".join(cols).rstrip()

    line = "-" * len(fmt(cells[0]))
    total_macs = sum(r.macs for r in rows)
    lines = [f"input shape: {tuple(input_shape)} (per sample, batch axis omitted)", line, fmt(cells[0]), line]
    lines += [fmt(c) for c in cells[1:]]
    lines += [
        line,
        f"total parameters: {model.num_parameters():,}",
        f"total multiply-adds per sample (forward): {total_macs:,} ({2 * total_macs / 1e6:.2f} MFLOP)",
    ]
    return "\n".join(lines)
