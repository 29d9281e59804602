"""A submission as the grader receives it: which file is its entry, a notebook's code cells as a
Python file, and its files copied for the sandbox (regular files only, a symbolic link never
followed, the size bounded). Used by :mod:`scratchnet.check.runner`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MAX_FILES, MAX_BYTES = 200, 20 * 2**20  # what is copied of a submission's folder at most
ENTRY_NAMES = ("submission.py", "main.py", "submission.ipynb")


def find_entry(path: Path) -> str:
    """The file to import of a submission: the file itself, or in a student's folder its only
    ``.py`` or ``.ipynb`` file at the top, else one named as in ``ENTRY_NAMES``. A notebook's entry
    is the ``.py`` made of its code cells (:func:`notebook_code`)."""
    if not path.is_dir():
        return _as_py(path.name)
    top = sorted(p.name for p in path.iterdir() if p.suffix in (".py", ".ipynb") and p.is_file()
                 and not p.is_symlink())  # fmt: skip
    if len(top) == 1:
        return _as_py(top[0])
    named = [n for n in ENTRY_NAMES if n in top]
    if named:
        return _as_py(named[0])
    holds = ", ".join(top) or "no .py file"
    raise FileNotFoundError(f"{path}: which file is the submission? it holds {holds}; "
                            "name one submission.py or give --entry NAME")  # fmt: skip


def _as_py(name: str) -> str:
    return name[: -len(".ipynb")] + ".py" if name.endswith(".ipynb") else name


def notebook_code(text: str) -> str:
    """A notebook's code cells as one Python file, in order; IPython's magics and shell lines
    (``%matplotlib``, ``!pip``) made comments."""
    cells = json.loads(text).get("cells", [])
    parts = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        lines = ("".join(source) if isinstance(source, list) else str(source)).splitlines()
        parts.append("\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in lines))
    return "\n\n".join(parts) + "\n"


def copy_submission(src: Path, dst: Path) -> None:
    """The submission's files into ``dst``: a file, or a folder's regular files (a symbolic link
    anywhere is skipped, never followed; at most ``MAX_FILES`` files and ``MAX_BYTES`` bytes); a
    notebook also as the ``.py`` of its code cells."""
    dst.mkdir(mode=0o755)
    files = [src] if src.is_file() else sorted(src.rglob("*"))
    count = total = 0
    for f in files:
        rel = Path(f.name) if f == src else f.relative_to(src)
        if any(p.is_symlink() for p in [f, *list(f.parents)[: len(rel.parts) - 1]]) or not f.is_file():
            continue
        count, total = count + 1, total + f.stat().st_size
        if count > MAX_FILES or total > MAX_BYTES:
            raise ValueError(f"{src}: more than {MAX_FILES} files or {MAX_BYTES >> 20} MB")
        target = dst / rel
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(f, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        if target.suffix == ".ipynb" and not target.with_suffix(".py").exists():
            try:
                target.with_suffix(".py").write_text(notebook_code(target.read_text(errors="replace")))
            except (
                ValueError,
                AttributeError,
            ):  # not a notebook: importing its .py then fails, with the reason
                target.with_suffix(".py").write_text(
                    f"raise SyntaxError('{target.name} is not a readable notebook')\n"
                )
