"""Sphinx configuration of the documentation site (built by ``python site/build.py``).

The sources are assembled by ``site/build.py`` into ``build/site-src`` (the README, ``docs/``, the
notebooks with their committed outputs, the benchmark results, generated API and source pages);
this file is copied there. Mathematics is rendered to HTML at build time by KaTeX under Node.js
(``katex_prerender``), with KaTeX's stylesheet and fonts served from the site itself: nothing is
fetched from a network when a page is read.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import equations  # site/equations.py,, copied beside this file by build.py

project = "scratchnet"
author = "the scratchnet authors"
copyright = "scratchnet authors, MIT licence"
extensions = [
    "myst_nb",  # Markdown (MyST) pages and Jupyter notebooks with their stored outputs
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' "Args:" / "Returns:" sections
    "sphinxcontrib.katex",
    "sphinx.ext.viewcode",  # a [source] link on every API entry, to the module's highlighted code
    "sphinx_copybutton",  # a copy button on every code block (prompts and outputs left out)
]
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_dmath_double_inline = True
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are shown with the outputs committed with them
nb_merge_streams = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
katex_prerender = True  # math to HTML at build time (needs `node`); no KaTeX JavaScript on the pages
katex_css_path = "katex/katex.min.css"  # copied from the npm package by build.py, with its fonts
katex_options = r"""{macros: {"\\RR": "\\mathbb{R}"}, strict: false, throwOnError: true}"""
html_theme = "furo"
html_title = "scratchnet"
html_static_path = ["_static"]
html_css_files = ["scratchnet.css"]  # site/scratchnet.css: display equations and their numbers
html_js_files = ["search_offline.js"]  # site/search_offline.js: search snippets from file:// too
html_show_sourcelink = False
suppress_warnings = ["myst.header"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"
templates_path: list[str] = []
nitpicky = False
if os.environ.get("SCRATCHNET_SITE_STRICT", "1") == "1":
    keep_warnings = True


def _start_katex_server(cls, rundir, timeout):  # sphinxcontrib-katex's signature
    """sphinxcontrib-katex's ``start_server_process``, with the connection retried: it connects as
    soon as the socket file exists, which on a loaded machine can be before Node.js listens on it
    (``ConnectionRefusedError``, seen in CI). Same command, same timeout."""
    import socket
    import subprocess
    import time

    path = rundir / "katex.sock"
    process = subprocess.Popen(cls.build_command(socket=path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               cwd=rundir)  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_socket():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return process, sock
            except ConnectionRefusedError:  # the file is there, the server not yet listening
                sock.close()
        time.sleep(0.01)
    process.kill()
    raise cls.timeout_error(timeout)


_DOC = re.compile(r"``(docs/[\w/-]+)\.md``|(?<![\w/`])(docs/[\w/-]+)\.md")


def _link_derivations(app, what, name, obj, options, lines: list[str]) -> None:
    """A docstring's mention of a page of ``docs/`` (``docs/recurrent.md``, the derivation of the
    code) becomes a link to it, and each number of its claim "Equations (6)–(9) of
    ``docs/recurrent.md``" a link to that equation: the API page leads to the derivation, as the
    derivation's "Code:" line and "In the code" lines lead to the function."""
    def number(page: str, m: re.Match) -> str:
        return f"`({m[1]}) <../docs/{page}.html#eq-{m[1]}>`__"

    def claim(m: re.Match) -> str:
        page = m["page"]
        nums = re.sub(r"\((\d+)\)", lambda k: number(page, k), m["nums"])
        return f"{m['word']} {nums} of ``docs/{page}.md``"

    def link(m: re.Match) -> str:
        page = m.group(1) or m.group(2)
        return f":doc:`{page}.md </{page}>`"

    for i, line in enumerate(lines):
        lines[i] = _DOC.sub(link, equations.CLAIM.sub(claim, line))


def _number_equations(app, doctree, docname: str) -> None:
    """On a page of ``docs/``: each numbered display gets the id ``eq-N`` (linkable as
    ``page.html#eq-N``), followed by a line linking to the functions whose docstrings claim it."""
    from docutils import nodes

    if not docname.startswith("docs/"):
        return
    page = docname.removeprefix("docs/")
    claimed = app.env.scratchnet_claims
    for node in list(doctree.findall(nodes.math_block)):
        tag = equations.TAG.search(node.astext())
        if not tag:
            continue
        node["ids"].append(f"eq-{tag[1]}")
        names = claimed.get((page, int(tag[1])), [])
        if names:
            line = nodes.paragraph(classes=["eq-code"])
            line += nodes.reference("", f"({tag[1]})", refuri=f"#eq-{tag[1]}", classes=["eq-self"])
            line += nodes.Text(" in the code: ")
            for k, qual in enumerate(names):
                module = qual.rsplit(".", 1)[0]
                line += nodes.Text(", " if k else "")
                line += nodes.reference("", "", nodes.literal(text=qual.rsplit(".", 1)[1]),
                                        refuri=f"../api/{module}.html#{qual}")  # fmt: skip
            node.parent.insert(node.parent.index(node) + 1, line)


def _stack_equations(app, doctree) -> None:
    """A ``.. math::`` directive may hold several equations separated by blank lines; Sphinx's own
    renderers put each on a line of its own, sphinxcontrib-katex writes them all on one line (the
    GRU's backward step was 1,794 px wide). Here they become the rows of one ``gathered``."""
    from docutils import nodes

    for node in list(doctree.findall(nodes.math_block)):
        parts = [p.strip() for p in re.split(r"\n\s*\n", node.astext()) if p.strip()]
        if len(parts) > 1 and not node.get("nowrap"):
            stacked = "\\begin{gathered}\n" + " \\\\\n".join(parts) + "\n\\end{gathered}"
            node.children = [nodes.Text(stacked)]


def _read_claims(app) -> None:
    import scratchnet

    app.env.scratchnet_claims = equations.claims(Path(scratchnet.__file__).parent)


def setup(app) -> None:
    app.connect("builder-inited", _read_claims)
    app.connect("autodoc-process-docstring", _link_derivations)
    app.connect("doctree-read", _stack_equations)
    app.connect("doctree-resolved", _number_equations)


def _patch_katex() -> None:
    from sphinxcontrib import katex

    katex.KaTeXServer.start_server_process = classmethod(_start_katex_server)


_patch_katex()
