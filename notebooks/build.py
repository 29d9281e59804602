"""Write the notebooks of this folder from their sources, and optionally run them.

    python notebooks/build.py            # write the .ipynb files (no outputs)
    python notebooks/build.py --execute  # and run each top to bottom, saving the outputs (about 1 h)
    python notebooks/build.py --execute ps2-convolution-by-hand.ipynb   # only some
    python notebooks/build.py --markdown # only the text cells of the executed notebooks (outputs kept)

One notebook per problem set of the course (``notebooks/sources/psN.py`` holds its cells): every
question restated, derived with every step, checked by the library, and the programming parts run
in full. The notebooks are the committed artefacts (with the outputs of a full run); this script
is how they are kept consistent with their sources. ``SCRATCHNET_FAST=1`` makes every notebook
shrink its data and epochs (what ``tests/test_notebooks.py`` runs in CI). The datasets are looked
up as the command line does (``SCRATCHNET_DATA``, then the cache).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sources import check_conv, ps1, ps2, ps3, ps4, ps5  # noqa: E402

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "ps1-fashion-mnist-cnn.ipynb": ps1.CELLS,
    "ps2-convolution-by-hand.ipynb": ps2.CELLS,
    "ps3-backprop-lstm-ensembles.ipynb": ps3.CELLS,
    "ps4-losses-softmax-1d-convolution.ipynb": ps4.CELLS,
    "ps5-mnist-cifar10-cnn.ipynb": ps5.CELLS,
    "write-your-own-conv-backward.ipynb": check_conv.CELLS,
}


def new_cell(kind: str, source: str, figures: tuple[str, ...] = ()):
    """A notebook cell from its source; a code cell's ``figures`` (what each figure it shows is,
    in order) go to its metadata, from where the site takes each image's alt text."""
    import nbformat

    if kind == "md":
        return nbformat.v4.new_markdown_cell(source)
    metadata = {"scratchnet": {"figures": list(figures)}} if figures else {}
    return nbformat.v4.new_code_cell(source, metadata=metadata)


def build(execute: bool = False, only: list[str] | None = None) -> list[Path]:
    import nbformat

    paths = []
    for name, cells in NOTEBOOKS.items():
        if only and name not in only:
            continue
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [new_cell(*cell) for cell in cells]
        path = HERE / name
        if execute:
            from nbclient import NotebookClient

            start = time.perf_counter()
            NotebookClient(
                nb, timeout=7200, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
            ).execute()
            print(f"{name}: executed in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def refresh_markdown(only: list[str] | None = None) -> list[Path]:
    """Rewrite the text cells of the committed notebooks from their sources (and the descriptions
    of the figures), keeping the code cells and their outputs: for a wording fix after a full run.
    Refused for a notebook whose code cells differ from its source (its outputs would no longer be
    the code's): execute that one again."""
    import nbformat

    paths = []
    for name, cells in NOTEBOOKS.items():
        if only and name not in only:
            continue
        path = HERE / name
        nb = nbformat.read(path, as_version=4)
        kinds = [("md" if c.cell_type == "markdown" else "code", c.source) for c in nb.cells]
        if [k for k, _ in kinds] != [c[0] for c in cells] or any(
            src != new[1] for (kind, src), new in zip(kinds, cells, strict=True) if kind == "code"
        ):
            raise SystemExit(f"{name}: its code differs from notebooks/sources; run --execute {name}")
        for cell, source in zip(nb.cells, cells, strict=True):
            fresh = new_cell(*source)
            cell.source = fresh.source
            cell.metadata.pop("scratchnet", None)
            cell.metadata.update(fresh.metadata)
        nbformat.write(nb, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a not in ("--execute", "--markdown")]
    if "--markdown" in sys.argv:
        for p in refresh_markdown(only=args or None):
            print(p)
    else:
        for p in build(execute="--execute" in sys.argv, only=args or None):
            print(p)
