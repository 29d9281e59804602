"""Every module of the package, grouped by the layers of ``docs/README.md`` ("Who may import whom"),
each with the first paragraph of its docstring: the one list of the modules.

``python site/modules.py`` writes it to ``docs/modules.md`` (``tests/test_docs.py`` fails while that
page is not current); ``site/build.py`` builds the site's API index from the same rows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(root: Path = ROOT) -> list[str]:
    """Every module of the package, dotted (``scratchnet.ops.conv``), packages by their name."""
    out = []
    for path in sorted((root / "scratchnet").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] != "__main__":
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def source(name: str, root: Path = ROOT) -> Path:
    """The file of a dotted module name (a package's ``__init__.py``)."""
    path = root / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def summary(name: str, root: Path = ROOT) -> str:
    """The first paragraph of the module's docstring, on one line (reST roles kept)."""
    doc = ast.get_docstring(ast.parse(source(name, root).read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def layers(root: Path = ROOT) -> list[tuple[str, list[str]]]:
    """``(title, top-level members)`` of each layer of the table in ``docs/README.md``."""
    readme = (root / "docs" / "README.md").read_text()
    return [(title.strip()[3:], re.findall(r"`([^`]+)`", members))
            for title, members in re.findall(r"^\| (\d\. [^|]+) \| ([^|]+) \|", readme, re.M)]  # fmt: skip


def grouped(root: Path = ROOT) -> list[tuple[str, list[tuple[str, str]]]]:
    """The public modules (no part starting with ``_``) of each layer, with their summaries."""
    public = [n for n in modules(root) if n != "scratchnet" and not any(p[0] == "_" for p in n.split("."))]
    return [(title, [(n, summary(n, root)) for n in public if n.split(".")[1] in members])
            for title, members in layers(root)]  # fmt: skip


def markdown(root: Path = ROOT) -> str:
    """``docs/modules.md``."""
    lines = ["# The modules, one line each", "",
             "Generated from the modules' docstrings by `python site/modules.py`, grouped by the layers of",
             "[who may import whom](README.md#who-may-import-whom), lowest first.", ""]  # fmt: skip
    for title, rows in grouped(root):
        lines += [f"## {title}", "", "| module | what it holds |", "|---|---|"]
        for name, text in rows:
            text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text).replace("|", "\\|")
            lines.append(f"| [`{name}`](../{source(name, root).relative_to(root).as_posix()}) | {text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    (ROOT / "docs" / "modules.md").write_text(markdown())
    print(ROOT / "docs" / "modules.md")
