"""Build the documentation site into ``build/site`` (HTML, searchable, readable offline).

    python site/build.py                # build/site/index.html
    python site/build.py --out DIR      # elsewhere

Steps: the sources are assembled in ``build/site-src`` as they sit in the repository (the README
as ``readme.md``, ``docs/``, ``notebooks/*.ipynb`` with their committed outputs, ``bench/*.md``),
plus an API page per module of ``scratchnet`` (autodoc of its docstrings) and a page per other
repository file the documents link to (its source, shown). Links to a module of the library are
pointed at its API page. KaTeX's stylesheet and fonts come from the ``katex`` package of the npm
registry (cached in ``build/katex``); the equations are rendered to HTML by Node.js at build time.
Sphinx runs with warnings as errors: a broken internal link, a malformed equation or a docstring
that does not parse fails the build.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import modules as package_modules  # noqa: E402  (site/modules.py: the one list of the modules)

ROOT = HERE.parent
KATEX_VERSION = "0.16.22"  # the version sphinxcontrib-katex bundles for prerendering
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")
COPIED = (".md", ".ipynb", ".png", ".svg", ".jpg", ".gif")


def api_pages(src: Path) -> None:
    api = src / "api"
    api.mkdir(parents=True)
    names = package_modules.modules(ROOT)
    for name in names:
        title = f"`{name}`" + (" (the package: what `import scratchnet` gives)" if name == "scratchnet" else "")
        # a package's page re-lists what it re-exports: not indexed there, so that every name has
        # one target (its defining module's page) and cross-references are unambiguous
        package = (ROOT / Path(*name.split(".")) / "__init__.py").is_file()
        # a module's __all__ may name what it re-exports (scratchnet.notebook's star import): its
        # page documents what it defines; a package's re-lists its exports, not indexed
        options = "   :members:\n" + ("   :no-index:\n" if package else "   :ignore-module-all:\n")
        body = f"```{{eval-rst}}\n.. automodule:: {name}\n{options}```\n"
        (api / f"{name}.md").write_text(f"# {title}\n\n{body}")
    (api / "index.md").write_text(api_index(names))


def api_index(names: list[str]) -> str:
    """The API index: the public modules grouped by the layers of the package (``site/modules.py``,
    the rows of ``docs/modules.md``), each with its docstring's first paragraph and a link; private
    modules (``_util``) have pages, reached from the code, but are not listed."""
    lines = ["# API reference", "", "Every public module of the library, from its docstrings (equations "
             "rendered), grouped by the layers of the package, lowest first ([who may import whom]"
             "(../docs/README.md)). Each entry has a [source] link to its code.", ""]  # fmt: skip
    for title, rows in package_modules.grouped(ROOT):
        if rows:
            lines += [f"## {title}", "", "| module | what it holds |", "|---|---|"]
            for name, text in rows:
                text = re.sub(r":(\w+):`", r"{\1}`", text.replace("|", "\\|"))  # reST roles in MyST's spelling
                lines.append(f"| [`{name}`]({name}.md) | {text} |")
            lines.append("")
    hidden = "\n".join(names)
    return "\n".join(lines) + f"\n```{{toctree}}\n:hidden:\n\n{hidden}\n```\n"


def source_page(src: Path, rel: str) -> str:
    """A page showing the repository file ``rel``; returns its path in the site (``.md``)."""
    page = src / "source" / f"{rel}.md"
    if not page.exists():
        page.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / rel).read_text()
        languages = {".py": "python", ".sh": "bash", ".json": "json", ".toml": "toml"}
        lang = languages.get(Path(rel).suffix, "text")
        fence = "````" if "```" in text else "```"
        page.write_text(f"# `{rel}`\n\nThe file as it is in the repository.\n\n{fence}{lang}\n{text}\n{fence}\n"
                        )  # fmt: skip
    return f"source/{rel}.md"


def rewrite_links(text: str, doc_rel: Path, src: Path) -> str:
    """Links of the document at ``doc_rel`` (its path in the repository) made to work in the site:
    library modules -> their API page, other repository files -> a page showing them, folders ->
    plain text. Links to documents, notebooks and images of the site are kept."""

    def fix(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+://|#|mailto:", target):
            return m.group(0)
        path = target.partition("#")[0]
        resolved = (ROOT / doc_rel.parent / path).resolve()
        try:
            rel = resolved.relative_to(ROOT)
        except ValueError:
            return m.group(0)  # outside the repository: left for Sphinx to report
        up = "../" * (len(doc_rel.parts) - 1)
        if resolved.is_dir():
            return label.lstrip("!").strip("[]")
        if resolved.suffix in COPIED:
            return m.group(0)
        if resolved.is_file() and rel.parts[0] == "scratchnet" and resolved.suffix == ".py":
            parts = rel.with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            return f"{label}({up}api/{module}.md)"
        if resolved.is_file():
            return f"{label}({up}{source_page(src, rel.as_posix())})"
        return m.group(0)

    return LINK.sub(fix, text)


def build_wheel(dest: Path) -> str:
    """scratchnet's wheel, built from this checkout into ``dest`` (offered on each notebook's page:
    uploaded beside a notebook on Colab, its first cell installs it). Returns its file name."""
    for isolation in (["--no-build-isolation"], []):  # the setuptools at hand, else pip fetches one
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", *isolation, "-q",
                               "-w", str(dest)], capture_output=True, text=True)  # fmt: skip
        if done.returncode == 0:
            break
    else:
        raise SystemExit(f"could not build scratchnet's wheel:\n{done.stderr}")
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)  # setuptools' leftovers in the checkout
    return next(dest.glob("scratchnet-*.whl")).name


def notebook_page(path: Path, dest: Path, wheel: str) -> None:
    """A notebook as its site page: the committed notebook (outputs kept) with a first line to
    download it (and the wheel, for those that import scratchnet) and open it in Colab."""
    import json

    nb = json.loads(path.read_text())
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    stands_alone = "scratchnet" not in "".join(first_code["source"])
    files = f"{{download}}`this notebook <{path.name}>`"
    if not stands_alone:
        files += f" and {{download}}`the scratchnet wheel <{wheel}>`"
    banner = (f"**Run it yourself**: download {files}; in Colab, *File → Upload notebook*"
              + ("" if stands_alone else ", then upload the wheel beside it (the first cell installs it)")
              + "; or open it in any Jupyter.")  # fmt: skip
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "run-it-yourself", "metadata": {}, "source": banner})
    for index, cell in enumerate(nb["cells"]):
        figure_files(cell, dest.parent / "figures", f"{path.stem}-{index}")
    dest.write_text(json.dumps(nb, indent=1))


def figure_files(cell: dict, folder: Path, stem: str) -> None:
    """Each figure a code cell shows becomes a file of its own, shown with the alt text its source
    gives (``notebooks/sources``: the cell's ``figures``), where the page would otherwise show
    the image under a hash of its bytes with that hash as its description."""
    import base64

    alts = iter(cell.get("metadata", {}).get("scratchnet", {}).get("figures", []))
    for k, output in enumerate(o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})):
        alt = next(alts, None)
        if alt is None:
            raise SystemExit(f"{stem}: a figure without a description (notebooks/sources: the cell's figures)")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}-{k + 1}.png").write_bytes(base64.b64decode(output["data"]["image/png"]))
        output["data"] = {"text/markdown": f"![{alt}](figures/{stem}-{k + 1}.png)"}


def assemble(src: Path) -> int:
    """The site's sources in ``src``; returns the number of documents."""
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    shutil.copy(HERE / "conf.py", src / "conf.py")
    shutil.copy(HERE / "equations.py", src / "equations.py")  # which function implements which equation
    shutil.copy(HERE / "index.md", src / "index.md")
    documents = [(ROOT / "README.md", Path("readme.md"), Path("README.md"))]
    for folder in ("docs", "bench"):
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and path.suffix in COPIED:
                if path.suffix == ".md":
                    documents.append((path, rel, rel))
                else:
                    (src / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, src / rel)
    (src / "notebooks").mkdir()
    wheel = build_wheel(src / "notebooks")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook_page(path, src / "notebooks" / path.name, wheel)
    for path, site_rel, repo_rel in documents:
        (src / site_rel).parent.mkdir(parents=True, exist_ok=True)
        text = rewrite_links(path.read_text(), repo_rel, src)
        if site_rel == Path("readme.md"):  # its page's title says which page it is (search results)
            text = text.replace("# scratchnet\n", "# scratchnet: the README\n", 1)
        (src / site_rel).write_text(text)
    api_pages(src)
    sources = sorted(p.relative_to(src).with_suffix("").as_posix() for p in (src / "source").rglob("*.md"))
    if sources:  # the pages showing repository files: reached by links, listed in no menu
        with open(src / "index.md", "a") as f:
            f.write("\n```{toctree}\n:hidden:\n\n" + "\n".join(sources) + "\n```\n")
    return len(list(src.rglob("*.md"))) + len(list(src.rglob("*.ipynb")))


def katex_assets(dest: Path) -> None:
    """KaTeX's CSS, fonts and script (with which the search page draws its snippets' equations)
    from the npm registry (``npm pack``, cached) into ``dest``."""
    cache = ROOT / "build" / "katex"
    tarball = cache / f"katex-{KATEX_VERSION}.tgz"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"katex@{KATEX_VERSION}", "--silent"], cwd=cache, check=True,
                       capture_output=True)  # fmt: skip
    with tarfile.open(tarball) as tar:
        wanted = ("package/dist/fonts/", "package/dist/katex.min.css", "package/dist/katex.min.js")
        members = [m for m in tar.getmembers() if m.name.startswith(wanted)]
        tar.extractall(cache / "extracted", members=members, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(cache / "extracted" / "package" / "dist", dest)


def build(out: Path) -> tuple[int, float]:
    start = time.perf_counter()
    src = ROOT / "build" / "site-src"
    count = assemble(src)
    katex_assets(src / "_static" / "katex")
    shutil.copy(HERE / "scratchnet.css", src / "_static" / "scratchnet.css")  # equations that fit
    shutil.copy(HERE / "search_offline.js", src / "_static" / "search_offline.js")  # snippets offline
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src), str(out)]
    res = subprocess.run(cmd, check=False)
    if res.returncode != 0:
        raise SystemExit(f"the site did not build (warnings are errors): {' '.join(cmd)}")
    import search_texts

    search_texts.write(out)  # each page's text for the search's snippets (site/search_offline.js)
    return count, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "site"))
    args = ap.parse_args()
    count, seconds = build(Path(args.out))
    print(f"{count} documents built in {seconds:.0f} s -> {args.out}/index.html")


if __name__ == "__main__":
    main()
