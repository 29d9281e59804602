"""docs/checking.md's generated parts: the list of ops (``scratchnet check --list``), the catalogue
of mistakes and its count, from the checker itself. ``python site/checking.py`` writes them;
``tests/test_check.py`` fails while the page is not current."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "checking.md"


def refreshed(text: str) -> str:
    """``text`` (the page) with its generated parts as the checker gives them now."""
    from scratchnet.check import OPS, catalogue_markdown, list_ops

    start = text.index("## The ops\n\n```text\n") + len("## The ops\n\n```text\n")
    text = text[:start] + list_ops() + text[text.index("```", start) :]
    start = text.index("| op | mistake | what the report says |")
    end = text.index("\n\n", start) + 1
    text = text[:start] + catalogue_markdown() + text[end:]
    count = sum(len(spec.mistakes) for spec in OPS.values())
    return re.sub(r"\d+ mistakes over \d+ ops", f"{count} mistakes over {len(OPS)} ops", text, count=1)


if __name__ == "__main__":
    PAGE.write_text(refreshed(PAGE.read_text()))
    print(PAGE)
