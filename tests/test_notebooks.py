"""Every notebook runs top to bottom (in fast mode: ``SCRATCHNET_FAST=1`` shrinks data and epochs),
and the committed notebooks are the ones ``notebooks/build.py`` writes."""

from __future__ import annotations

import re
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
        ("markdown" if cell[0] == "md" else "code", cell[1]) for cell in CELLS[name]
    ], "run: python notebooks/build.py --execute"
    code = [c for c in nb.cells if c.cell_type == "code"]
    # every cell run (a cell that only defines functions prints nothing), and the outputs kept
    assert all(c.execution_count for c in code) and any(c.outputs for c in code), \
        "committed with the outputs of a full run"


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_of_a_notebook_is_described(name):
    """Each image a committed notebook shows has its description (its alt text on the site) in
    the cell's ``figures`` (notebooks/sources), one per image, in order."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        images = sum("image/png" in o.get("data", {}) for o in cell.outputs)
        figures = cell.metadata.get("scratchnet", {}).get("figures", [])
        assert len(figures) == images, f"code cell {i + 1}: {images} images, {len(figures)} descriptions"
        assert all(len(f.split()) >= 5 for f in figures)


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


STANDALONE = "ps1-fashion-mnist-cnn.ipynb"  # the hand-in: NumPy and matplotlib only
WITH_LIBRARY = "ps2-convolution-by-hand.ipynb"  # one that needs scratchnet (and no dataset)
# what a fresh Colab-like environment gets: the libraries ps1 imports and the notebook executor
FRESH = ["numpy", "scipy", "matplotlib", "nbclient", "nbformat", "ipykernel"]
RUNNER = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
probe = "import importlib.util, sys\\nprint(sys.executable, importlib.util.find_spec('scratchnet') is None)"
nb.cells.insert(0, nbformat.v4.new_code_cell(probe))
client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": "."}})
client.execute()
nbformat.write(nb, sys.argv[2])
"""


def _site_builder():
    """``site/build.py`` as a module (its ``build_wheel`` is the one place the wheel is made)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_build", NOTEBOOKS.parent / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_in(python: str, notebook: Path, folder: Path, env: dict) -> list[str]:
    """The notebook executed by ``python``'s kernel in ``folder``: each code cell's printed text."""
    import subprocess

    out = folder / ("executed-" + notebook.name)
    done = subprocess.run([python, "-c", RUNNER, str(notebook), str(out)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(out, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"]


@needs("fashion-mnist")
def test_the_notebooks_run_in_a_fresh_environment_as_on_colab(tmp_path):
    """A fresh virtual environment with only NumPy, SciPy, matplotlib and the notebook executor
    (no scratchnet, no pooch, no tqdm), each notebook in its fast mode, in that environment's own
    kernel: ps1, the hand-in, runs as it is, and its last cell says there is no scratchnet to
    check against; then ps2, beside the scratchnet wheel the site offers, installs it from its
    first cell (as on Colab, with the wheel uploaded) and runs."""
    import os
    import shutil
    import subprocess
    import venv

    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *FRESH], check=True,
                   capture_output=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env.update(SCRATCHNET_FAST="1", MPLBACKEND="Agg", JUPYTER_PATH=str(tmp_path / "venv" / "share" / "jupyter"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter"), MPLCONFIGDIR=str(tmp_path / "mpl"))  # fmt: skip
    hand_in = _run_in(python, NOTEBOOKS / STANDALONE, tmp_path, env)
    assert hand_in[0].split() == [python, "True"], hand_in[0]  # the venv's kernel, and no scratchnet in it
    assert "fast mode" in hand_in[1] and any("test accuracy" in t for t in hand_in)
    assert "scratchnet is not installed here" in hand_in[-1]

    colab = tmp_path / "colab"
    colab.mkdir()
    _site_builder().build_wheel(colab)  # what the notebook's page offers beside it
    shutil.copy(NOTEBOOKS / WITH_LIBRARY, colab / WITH_LIBRARY)
    library = _run_in(python, colab / WITH_LIBRARY, colab, env)
    assert library[0].split() == [python, "True"], library[0]  # not there before its first cell
    assert "fast mode" in library[1]


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
    for kind, source, *_ in CELLS[name]:
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


# --- the text agrees with the outputs ---------------------------------------------------------------
# A figure the Markdown of a notebook quotes: a percentage with decimals ("98.40%"), a decimal with
# two significant digits after the point ("0.9620", a loss, an accuracy, a correlation) or a
# duration in minutes ("6.8 min").
FIGURE = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,4})(\s?%|\s?min(?:utes)?\b)?")
# figures a notebook quotes from elsewhere, each with the file that must hold it
ELSEWHERE: dict[str, dict[str, str]] = {
    "ps3-backprop-lstm-ensembles.ipynb": {"1.495": "docs/results/tinyshakespeare-samples.md",
                                          "0.18": "docs/results.md"},
    "ps5-mnist-cifar10-cnn.ipynb": {"98.52%": "docs/results/mnist-lr-sweep.md",
                                    "98.30%": "docs/results/mnist-lr-sweep.md",
                                    "99.40%": "docs/results.md", "99.36%": "docs/results.md"},
}


def _figures(text: str) -> list[tuple[str, str]]:
    """(number, unit) of every quoted figure: percentages, minutes, and decimals with two significant
    digits after the point (a measured 0.84, not a chosen rate 0.05 or momentum 0.9)."""
    out = []
    for m in FIGURE.finditer(text):
        number, unit = m.group(1), (m.group(2) or "").strip()
        if unit or len(number.split(".")[1].lstrip("0")) >= 2:  # 0.84, 0.9620: not a rate like 0.05
            out.append((number, "%" if unit == "%" else ("min" if unit else "")))
    return out


def _printed(nb) -> list[float]:
    """Every decimal number the code cells printed or displayed as text."""
    texts = [o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
             for c in nb.cells if c.cell_type == "code" for o in c.outputs]  # fmt: skip
    return _decimals("\n".join(texts))


def _decimals(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+", text)]


def _holds(values: list[float], number: str, unit: str) -> bool:
    """Whether ``number`` (with its unit) is one of ``values`` rounded as quoted; a percentage
    may be written as a fraction (0.9840 for 98.40%)."""
    quoted, places = float(number), len(number.split(".")[1])
    scales = (1.0, 100.0) if unit == "%" else (1.0,)
    return any(abs(round(v * s, places) - quoted) < 1e-9 for v in values for s in scales)


@pytest.mark.parametrize("name", NAMES)
def test_the_figures_the_text_quotes_are_the_runs(name):
    """Every percentage, decimal below one and duration in minutes in a notebook's Markdown is one
    its committed outputs print (rounded as quoted; a percentage may be printed as a fraction), or
    one it quotes from a file of the repository that holds it: the text cannot drift from the run."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    printed = _printed(nb)
    root = NOTEBOOKS.parent
    unmatched = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for number, unit in _figures(cell.source):
            if _holds(printed, number, unit):
                continue
            source = ELSEWHERE.get(name, {}).get(number + unit)
            if source is None or not _holds(_decimals((root / source).read_text()), number, unit):
                unmatched.append(number + unit)
    assert not unmatched, f"{name}: its text quotes figures its outputs do not print: {unmatched}"


def test_the_notebooks_helper_module_changes_nothing_on_import(tmp_path, monkeypatch):
    """``from scratchnet.notebook import *`` gives the names the notebooks use, and importing it
    leaves NumPy's print options and the working folder alone (the first cell does those)."""
    import importlib

    import numpy as np

    monkeypatch.chdir(tmp_path)
    before = np.get_printoptions()
    module = importlib.reload(importlib.import_module("scratchnet.notebook"))
    assert np.get_printoptions() == before and not list(tmp_path.iterdir())
    names: dict = {}
    exec("from scratchnet.notebook import *", names)
    used = {"np", "sn", "zoo", "train_run", "FAST", "OUT", "numeric_gradient", "compare", "display"}
    assert used <= names.keys()
    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(module.numeric_gradient(lambda: float(np.sum(x**3)), x), 3 * x**2, rtol=1e-6)
