"""Docs and docstrings name only things that exist: files, links, ``scratchnet.*`` objects and
snake_case functions. (So that text about removed code cannot survive a refactoring.)"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md")])
SOURCES = sorted(p for d in ("scratchnet", "tests", "bench", "examples") for p in (ROOT / d).rglob("*.py"))
# functions, classes, module names, attributes, fields and parameters defined in the code
DEFINITION = re.compile(
    r'(?m)^\s*(?:def|class)\s+(\w+)|^\s*(\w+)\s*[:=]|self\.(\w+)\s*=|[(,]\s*(\w+)\s*[:=]|"(\w+)"\s*:'
)  # the last: keys of the JSON records the code writes (`train_seconds` of metrics.json)
DEFINED = {name for src in SOURCES for group in DEFINITION.findall(src.read_text()) for name in group if name}
DEFINED |= {src.stem for src in SOURCES}  # module names (`data_parallel`, `ensemble_run`)
# snake_case names the docs quote from elsewhere (PyTorch's API, symbols of an equation)
EXTERNAL = {
    "avg_pool2d",
    "max_pool2d",
    "count_include_pad",
    "ceil_mode",
    "channels_last",
    "x_hat",
    "dx_t",
    "da_t",
    "multi_margin_loss",
    "weight_ih",
    "weight_hh",
    "bias_ih",
    "bias_hh",
    "dropout_param",  # the course's dictionary argument, which `scratchnet check` accepts
    "after_due_date",  # Gradescope's visibility settings and its autograder's entry script
    "after_published",
    "run_autograder",
}

LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
PATH = re.compile(
    r"(?<![\w/.])((?:docs|tests|bench|examples|notebooks|scratchnet)/[\w/.-]+\.(?:md|py|json|sh|png|svg|ipynb))"
)
SHORT_PATH = re.compile(r"(?<![\w/.])((?:ops|layers|data)/\w+\.py)")
DOTTED = re.compile(r"(?<![\w.])~?(scratchnet(?:\.\w+)+)")
SNAKE = re.compile(r"`(_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?:\(\))?`")


def _texts() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in MARKDOWN + SOURCES]


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_resolve(md):
    for text, target in LINK.findall(md.read_text()):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = (md.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{md.name}: link to missing {target}"
        names = [t for t in re.findall(r"`([^`]+)`", text) if t.isidentifier()]
        if path.suffix == ".py" and names:  # [`function`](file.py): the file defines it
            source = path.read_text()
            for name in names:
                assert re.search(rf"(?m)^\s*(def|class)\s+{name}\b|^{name}\s*[:=]", source), (
                    f"{md.name}: {name} is not defined in {target}"
                )


def test_named_paths_exist():
    missing = []
    for path, text in _texts():
        for name in PATH.findall(text):
            if not (ROOT / name).exists():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
        for name in SHORT_PATH.findall(text):
            if not (ROOT / "scratchnet" / name).exists():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "\n".join(missing)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_dotted_scratchnet_names_exist():
    missing = sorted({f"{p.relative_to(ROOT)}: {d}" for p, text in _texts() for d in DOTTED.findall(text)
                      if not _resolves(d.rstrip("."))})  # fmt: skip
    assert not missing, "\n".join(missing)


def test_snake_case_names_in_docs_exist():
    """A function named in backticks in the docs (``im2col``, ``test_maxpool_by_hand``) exists."""
    missing = sorted({f"{p.relative_to(ROOT)}: {n}" for p in MARKDOWN for n in SNAKE.findall(p.read_text())
                      if n not in DEFINED and n not in EXTERNAL})  # fmt: skip
    assert not missing, "\n".join(missing)


# a relative path that climbs out of its folder: two dots, a slash, more
OUTSIDE = re.compile(r"(?<![\w.])\.\.[/\\](?:\.\.[/\\])*[\w.-]+")


def test_nothing_points_outside_the_repository():
    """A user has only the checkout: no document, test, benchmark or notebook may name a path
    outside it (links between the repository's own folders, from ``docs/`` to ``bench/`` say,
    stay inside and are allowed)."""
    texts = _texts() + [(p, p.read_text()) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    outside = []
    for path, text in texts:
        for ref in OUTSIDE.findall(text):
            target = (path.parent / ref).resolve()
            if not target.is_relative_to(ROOT):
                outside.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not outside, "\n".join(outside)


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def test_no_control_characters_in_texts():
    """A TeX command written in a non-raw Python string loses its backslash to an escape
    (``"\\frac"`` is a form feed and ``rac``, ``"\\beta"`` a backspace and ``eta``): the page then
    shows "rac" where a fraction was derived. Tabs are allowed in nothing either."""
    texts = [*MARKDOWN, *SOURCES, *(ROOT / "notebooks").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb"),
             *(ROOT / "site").glob("*")]  # fmt: skip
    bad = {}
    for path in texts:
        if path.is_file():
            text = path.read_text(errors="replace").replace("\t", "\x01") if path.suffix != ".ipynb" else ""
            if path.suffix == ".ipynb":
                import nbformat

                nb = nbformat.read(path, as_version=4)
                text = "\n".join(c.source for c in nb.cells)
            hits = [i + 1 for i, line in enumerate(text.splitlines()) if CONTROL.search(line)]
            if hits:
                bad[path.relative_to(ROOT).as_posix()] = hits[:5]
    assert not bad


def test_the_start_page_s_first_gradient_check_runs(capsys):
    """docs/start.md's Python block, run as printed: its gradient check's errors are ~1e-10."""
    code = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "start.md").read_text(), re.S)[0]
    exec(compile(code, "docs/start.md", "exec"), {})
    errors = [float(v) for v in re.findall(r"\d\.\d{3}e[-+]\d\d", capsys.readouterr().out)]
    assert len(errors) >= 5 and max(errors) < 1e-6


def test_the_readme_stays_short():
    """At most 150 lines: what it is, the two commands, an example, one results table, where to
    read more; the long material lives in docs/ (its links are checked above)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, len(lines)
    assert lines[0] == "# scratchnet" and "scratchnet train --dataset fashion-mnist" in "\n".join(lines[:12])


def test_the_readme_s_results_table_is_the_benchmark_s(monkeypatch):
    """The README's results table is what ``bench/bench_time_to_accuracy.py`` makes of its JSON, the
    one home of those figures: a figure typed by hand, or a run not carried over, fails here."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    bench = importlib.import_module("bench_time_to_accuracy")
    results = json.loads((ROOT / "bench" / "RESULTS-time-to-accuracy.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert bench.with_summary(readme, results) == readme, "python bench/bench_time_to_accuracy.py --markdown"
    assert len(bench.summary_table(results)) == 2 + len(bench.RECIPES)
    # the headline's figures too: accuracy, seconds and ratio of the Fashion-MNIST default on the CPU it names
    headline = r"\(([\d.]+)% test accuracy in (\d+) s on a\s+(\d+)-core (.+?), ([\d.]+)x PyTorch's time"
    m = re.search(headline, readme)
    entry = results["hosts"][f"{m[4]}, {m[3]} cores"]["fashion-mnist"]
    figures = bench.medians(entry)
    accuracy = np.median([r["scratchnet"]["test_accuracy"] for r in entry["runs"]])
    assert (m[1], m[2], m[5]) == (f"{100 * accuracy:.2f}", f"{figures['ours']:.0f}", f"{figures['ratio']:.2f}")


def test_the_counts_the_correctness_page_states_are_the_op_table_s():
    """docs/correctness.md's counts of entries and cases are generated from the op table
    (``python tests/op_table.py`` writes them): a new entry the page does not count fails here."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from op_table import TABLE, counted

    text = (ROOT / "docs" / "correctness.md").read_text()
    assert counted(text) == text, "run: python tests/op_table.py"
    assert f"({len(TABLE)} entries;" in text


def _equations():
    import sys

    sys.path.insert(0, str(ROOT / "site"))
    import equations

    return equations


# the derivation pages: the "derivation" column of docs/README.md's table
INDEX = (ROOT / "docs" / "README.md").read_text()
DERIVATIONS = sorted({ROOT / "docs" / m for m in re.findall(r"\| \[(\w+\.md)\]\(\w+\.md\) \|", INDEX)})
# numbered equations that no function computes: analysis and a worked example (each says so on its page)
ANALYSIS = {("composition", 3), ("recurrent", 16), ("recurrent", 17)}


def test_every_display_of_the_derivation_pages_is_numbered():
    """Every display equation of a derivation page (and of the exercises) carries ``\\tag{n}``,
    numbered 1, 2, 3, ... in order on its page: each can be cited and linked (``#eq-n``)."""
    eq = _equations()
    assert len(DERIVATIONS) >= 9, DERIVATIONS
    for page in [*DERIVATIONS, ROOT / "docs" / "exercises.md"]:
        displays = eq.DISPLAY.findall(page.read_text())
        assert eq.numbered(page) == list(range(1, len(displays) + 1)), page.name


def test_every_numbered_equation_is_linked_to_the_function_that_implements_it():
    """The docstrings' claims ("Equations (6)–(9) of ``docs/recurrent.md``", site/equations.py)
    name equations that exist, and every numbered equation of a derivation page is claimed by a
    public function or class of the package, except the analysis listed in ``ANALYSIS``."""
    eq = _equations()
    claims = eq.claims(ROOT / "scratchnet")
    pages = {p.stem: set(eq.numbered(p)) for p in (ROOT / "docs").glob("*.md")}
    dangling = sorted(f"{names}: ({n}) of docs/{page}.md" for (page, n), names in claims.items()
                      if n not in pages.get(page, set()))  # fmt: skip
    assert not dangling, "\n".join(dangling)
    unclaimed = sorted(f"docs/{p.name} ({n})" for p in DERIVATIONS for n in eq.numbered(p)
                       if (p.stem, n) not in claims and (p.stem, n) not in ANALYSIS)  # fmt: skip
    assert not unclaimed, "\n".join(unclaimed)
    assert not {k for k in ANALYSIS if k in claims}, "an equation in ANALYSIS is implemented after all"
    assert claims[("recurrent", 8)] == ["scratchnet.ops.recurrent.lstm_backward"]


def test_a_claim_is_read_as_written():
    eq = _equations()
    assert eq.numbers("(6)–(9) and (3)") == [6, 7, 8, 9, 3]
    doc = "Does x.\n\nEquations (1), (4)–(5) of ``docs/conv.md``; equation (2) of ``docs/pooling.md``."
    claimed = eq.claims_in(doc)
    assert claimed == [("conv", 1), ("conv", 4), ("conv", 5), ("pooling", 2)]
    assert eq.claims_in("Equation (2) of docs/conv.md") == []  # the page in double backquotes, as written


def test_every_image_says_what_it_shows():
    """An image of the README or docs has an alt text of a sentence (read aloud by a screen reader,
    shown when the image does not load), not its file name."""
    image = re.compile(r"!\[([^]]*)\]\(([^)]+)\)")
    images = [(p, alt, src) for p in MARKDOWN for alt, src in image.findall(p.read_text())]
    poor = [f"{p.relative_to(ROOT)}: {alt!r}" for p, alt, src in images
            if len(alt.split()) < 5 or Path(src).stem in alt]  # fmt: skip
    assert not poor, "\n".join(poor)


def test_the_list_of_modules_is_the_tree_s():
    """docs/modules.md is generated from the package (``python site/modules.py``): a module added,
    removed or re-described without it fails here."""
    import sys

    sys.path.insert(0, str(ROOT / "site"))
    import modules

    assert (ROOT / "docs" / "modules.md").read_text() == modules.markdown(), "run: python site/modules.py"
