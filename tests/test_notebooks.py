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


def _calls(source: str):
    import ast

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield name, node


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_name_only_what_exists(name):
    """Every dataset, model, recipe option and loss a notebook names exists in the library (so a
    rename cannot leave a notebook behind, even before it is executed)."""
    import ast
    from dataclasses import fields

    from scratchnet.data.sources import DATASETS
    from scratchnet.losses import LOSSES
    from scratchnet.train import TrainConfig
    from scratchnet.zoo import MODELS

    options = {f.name for f in fields(TrainConfig)}
    wrong = []
    for kind, source in CELLS[name]:
        if kind != "code":
            continue
        for fn, call in _calls(source):
            strings = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if fn == "TrainConfig":
                wrong += [f"option {k.arg}" for k in call.keywords if k.arg and k.arg not in options]
            if fn in ("TrainConfig", "replace"):
                losses = [k.value.value for k in call.keywords
                          if k.arg == "loss" and isinstance(k.value, ast.Constant)]  # fmt: skip
                wrong += [f"loss {loss}" for loss in losses if loss not in LOSSES]
            if fn in ("train_run", "sweep", "load_dataset", "dataset_defaults") and strings:
                wrong += [f"dataset {strings[0]}"] if strings[0] not in DATASETS else []
            if fn == "build" and strings:
                wrong += [f"model {strings[0]}"] if strings[0] not in MODELS else []
            if fn in ("train_run", "sweep", "dataset_defaults") and len(strings) > 1:
                model = strings[-1]
                wrong += [f"model {model}"] if model not in MODELS and "/" not in model else []
    assert not wrong, f"{name} names what does not exist: {wrong}"


def test_the_librarys_figures_leave_the_users_plots_alone(tmp_path, monkeypatch):
    """Under Jupyter's inline backend: the library draws its figures (a training curve written as
    a PNG, a model's diagram shown), then the user's own ``plt.show()`` still displays: the
    library never switches the backend nor touches pyplot's state."""
    cells = [
        "%matplotlib inline\nimport matplotlib\nbackend = matplotlib.get_backend()\nprint(backend)",
        "from IPython.display import Image, display\nfrom scratchnet import viz\n"
        "viz.plot_loss({'iteration': [1, 2, 3, 4], 'loss': [3.0, 2.0, 1.5, 1.2]}, 'loss.png')\n"
        "display(Image('loss.png'))",
        "from scratchnet import layers\nfrom scratchnet.model import Sequential\n"
        "Sequential(layers.Dense(4, 3), layers.ReLU(), layers.Dense(3, 2)).plot((4,), 'net.png')\n"
        "display(Image('net.png'))",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1, 4, 9])\nplt.title('the user s own')\nplt.show()\n"
        "assert matplotlib.get_backend() == backend, matplotlib.get_backend()",
    ]
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))  # the kernel's font cache: nowhere else
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    images = [[o for o in c.outputs if "image/png" in o.get("data", {})] for c in nb.cells]
    assert "inline" in nb.cells[0].outputs[0]["text"]
    assert [len(i) for i in images[1:]] == [1, 1, 1], [c.outputs for c in nb.cells]
