"""Every notebook runs top to bottom (in fast mode: ``SCRATCHNET_FAST=1`` shrinks data and epochs),
and the committed notebooks are the ones ``notebooks/build.py`` writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from real_data import needs

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from build import NOTEBOOKS as CELLS  # noqa: E402

NAMES = sorted(CELLS)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert [(c.cell_type, c.source) for c in nb.cells] == [
        ("markdown" if kind == "md" else "code", src) for kind, src in CELLS[name]
    ], "run: python notebooks/build.py --execute"
    assert all(c.outputs for c in nb.cells if c.cell_type == "code"), "committed with the outputs of a full run"


@needs("fashion-mnist", "mnist", "tinyshakespeare")
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "fast mode" in "".join(o.get("text", "") for o in outputs)
