"""Each page's readable text for the search's snippets, written at build time into
``_static/search_texts.js`` (``site/build.py`` calls :func:`write`).

Sphinx's search shows a snippet under each result by fetching the result's page, which a browser
refuses for a site opened from its files (``file://``), and whose text, taken as it is, repeats
every equation three times (KaTeX's MathML, its TeX annotation and its HTML). Here each page's
main content is reduced once, at build time, to its prose with each equation as its TeX source
between dollars (a dollar of the prose, such as ``$SCRATCHNET_DATA``, written ``\\$``);
``site/search_offline.js`` hands these texts to the search instead of the pages, and draws the
equations of each snippet.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

SKIPPED = ("katex-html", "headerlink")  # classes whose content is not prose
VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "base", "source"}


class _Prose(HTMLParser):
    """The text of ``<article role="main">``, equations as ``$TeX$``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0  # inside the article: its element depth, else 0
        self.skip = 0  # depth at which a skipped element opened (0: not skipping)
        self.tex = False  # inside a TeX annotation
        self.mathml = 0  # depth at which KaTeX's MathML opened (its text: only the annotation's)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if not self.depth:
            if tag == "article" and a.get("role") == "main":
                self.depth = 1
            return
        if tag in VOID:
            return
        self.depth += 1
        classes = (a.get("class") or "").split()
        if not self.skip and (tag in ("script", "style") or any(c in SKIPPED for c in classes)):
            self.skip = self.depth
        if not self.mathml and "katex-mathml" in classes:
            self.mathml = self.depth
        self.tex = tag == "annotation" and a.get("encoding") == "application/x-tex"

    def handle_endtag(self, tag: str) -> None:
        if not self.depth or tag in VOID:
            return
        if self.skip == self.depth:
            self.skip = 0
        if self.mathml == self.depth:
            self.mathml = 0
        self.tex = False
        self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth or self.skip:
            return
        if self.tex:
            self.out.append(f" ${data.strip()}$ ")
        elif not self.mathml:
            self.out.append(data.replace("$", "\\$"))  # a dollar of the prose is not a delimiter

    def text(self) -> str:
        return " ".join("".join(self.out).split())


def page_text(html: str) -> str:
    parser = _Prose()
    parser.feed(html)
    return parser.text()


def write(site: Path) -> int:
    """``_static/search_texts.js`` for every page of the built ``site``; returns the page count."""
    pages = [p for p in sorted(site.rglob("*.html")) if not p.relative_to(site).parts[0].startswith("_")]
    texts = {p.relative_to(site).as_posix(): page_text(p.read_text(errors="replace")) for p in pages}
    (site / "_static" / "search_texts.js").write_text("window.SCRATCHNET_PAGES = " + json.dumps(texts) + ";\n")
    return len(texts)
