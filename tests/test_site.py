"""The documentation site, read as a person reads it: every page opened in a real headless browser.

The site is built by ``python site/build.py`` into ``build/site`` (CI builds it before the tests;
``SCRATCHNET_SITE`` points elsewhere). For every page: it loads without console errors, every
equation is rendered (no raw ``$$``, ``\\frac`` or ``\\sum`` left in the visible text, KaTeX's
elements present where the page has mathematics), every image loaded, every internal link resolves
(to a file of the site, and to an element of that page when it names one). Screenshots of three
pages go to ``build/site/_screenshots``. Nothing on the pages may load from the network.

Without a built site, or without Chromium and its driver (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs), the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("SCRATCHNET_SITE", ROOT / "build" / "site"))
SHOTS = {
    "derivation": "docs/conv.html",
    "notebook": "notebooks/ps2-convolution-by-hand.html",
    "api-Conv2D": "api/" + "scratchnet.layers.conv" + ".html",  # a page name, not an object
}
RAW_TEX = ("$$", "\\frac", "\\sum", "\\begin{", "\\partial")

needs_site = pytest.mark.skipif(
    not (SITE / "index.html").is_file(), reason=f"no built site in {SITE}: build it with python site/build.py"
)


def pages() -> list[Path]:
    return sorted(p for p in SITE.rglob("*.html") if not p.relative_to(SITE).parts[0].startswith("_"))


class _Refs(HTMLParser):
    """The ``src``/``href`` of a page's scripts, stylesheets, images and links, and its ids."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.assets.append(a["src"])
        if tag == "link" and a.get("href"):
            self.assets.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def refs(page: Path) -> _Refs:
    parser = _Refs()
    parser.feed(page.read_text(errors="replace"))
    return parser


@needs_site
def test_nothing_is_loaded_from_the_network():
    offenders = {}
    for page in pages():
        remote = [a for a in refs(page).assets if re.match(r"(https?:)?//", a)]
        if remote:
            offenders[page.relative_to(SITE).as_posix()] = remote
    assert not offenders
    # and the mathematics is there as HTML, with KaTeX's stylesheet and fonts served by the site
    assert (SITE / "_static" / "katex" / "katex.min.css").is_file()
    assert list((SITE / "_static" / "katex" / "fonts").glob("*.woff2"))


@needs_site
def test_every_internal_link_resolves():
    cache: dict[Path, set[str]] = {}
    broken = []
    for page in pages():
        for href in refs(page).links:
            url = urlparse(href)
            if url.scheme or href.startswith(("mailto:", "//")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.relative_to(SITE).as_posix(), href))
                continue
            if url.fragment and target.suffix == ".html":
                ids = cache.setdefault(target, refs(target).ids)
                if unquote(url.fragment) not in ids:
                    broken.append((page.relative_to(SITE).as_posix(), href))
    assert not broken, broken[:20]


@needs_site
def test_every_figure_on_the_site_has_a_description():
    """Every figure (an image of ``_images/``: the docs' figures and the notebooks' outputs) has an
    alt text of a sentence, never its file name or the hash myst-nb names an output after."""
    poor = {}
    for page in pages():
        for img in re.findall(r"<img [^>]*>", page.read_text()):
            src, alt = re.search(r'src="([^"]*)"', img), re.search(r'alt="([^"]*)"', img)
            if src and "_images/" in src[1] and (not alt or len(alt[1].split()) < 5 or "_images" in alt[1]):
                poor.setdefault(page.relative_to(SITE).as_posix(), []).append(src[1])
    assert not poor, poor


@needs_site
def test_each_numbered_equation_and_its_functions_link_both_ways():
    """On the site, every numbered display of ``docs/`` has the id ``eq-N`` and, if a function
    claims it (site/equations.py), a line "(N) in the code:" linking to that function's API entry;
    the API entry links each equation (or range) it claims (``lstm_backward``: (6)–(9) and (3))."""
    import sys

    sys.path.insert(0, str(ROOT / "site"))
    import equations

    claims = equations.claims(ROOT / "scratchnet")
    for md in sorted((ROOT / "docs").glob("*.md")):
        numbers = equations.numbered(md)
        html = (SITE / "docs" / f"{md.stem}.html").read_text()
        assert {f"eq-{n}" for n in numbers} <= refs(SITE / "docs" / f"{md.stem}.html").ids, md.name
        for n in numbers:
            for qual in claims.get((md.stem, n), []):
                api = re.escape(f'../api/{qual.rsplit(".", 1)[0]}.html#{qual}')
                line = rf'href="#eq-{n}"[^<]*>\({n}\)</a> in the code:.*?href="{api}"'
                assert re.search(line, html), (md.name, n)
    api = (SITE / "api" / ("scratchnet.ops.recurrent" + ".html")).read_text()  # a page name, not an object
    entry = api.split('id="scratchnet.ops.recurrent.lstm_backward"')[1].split('id="scratchnet.ops.')[0]
    assert re.findall(r'href="\.\./docs/recurrent\.html#eq-(\d+)"', entry) == ["6", "9", "3"]  # (6)–(9) and (3)


def _browser(file_access: bool = True):
    """Headless Chromium; ``file_access=False``: as a reader's browser opens the site from its
    files, where a page may not fetch other files."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no Chromium and ChromeDriver here (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the docs extra")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    access = ["--allow-file-access-from-files"] if file_access else []
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
                "--disable-dev-shm-usage", *access):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


# one round trip per page: the visible prose (code, scripts and KaTeX's own markup left out: TeX
# shown as code is meant to be seen), the images that did not load, and KaTeX's elements
INSPECT = """
const prose = document.body.cloneNode(true);
prose.querySelectorAll('pre, code, script, style, .katex, .highlight').forEach(e => e.remove());
return {
  text: prose.textContent,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  images: document.images.length,
  inline: document.querySelectorAll('.katex').length,
  display: document.querySelectorAll('.katex-display').length,
};
"""


@needs_site
def test_every_page_in_a_real_browser():
    browser = _browser()
    seen = {"pages": 0, "equations": 0, "display equations": 0, "images": 0}
    problems: list[str] = []
    try:
        for page in pages():
            name = page.relative_to(SITE).as_posix()
            browser.get(page.as_uri())
            errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            if errors:
                problems.append(f"{name}: console errors {errors[:3]}")
            seen_here = browser.execute_script(INSPECT)
            raw = [t for t in RAW_TEX if t in seen_here["text"]]
            if raw:
                problems.append(f"{name}: raw TeX {raw} in the visible text")
            if seen_here["broken"]:
                problems.append(f"{name}: images not loaded {seen_here['broken'][:3]}")
            if "math notranslate" in page.read_text(errors="replace") and seen_here["inline"] == 0:
                problems.append(f"{name}: mathematics on the page but no KaTeX element")
            seen["pages"] += 1
            seen["equations"] += seen_here["inline"]
            seen["display equations"] += seen_here["display"]
            seen["images"] += seen_here["images"]
        shots = SITE / "_screenshots"
        shots.mkdir(exist_ok=True)
        for label, rel in SHOTS.items():
            browser.get((SITE / rel).as_uri())
            browser.save_screenshot(str(shots / f"{label}.png"))
    finally:
        browser.quit()
    (SITE / "_screenshots" / "checked.json").write_text(json.dumps(seen, indent=1) + "\n")
    assert not problems, "\n".join(problems[:30])
    assert seen["pages"] >= 50 and seen["equations"] >= 500, seen
    for label in SHOTS:
        assert (SITE / "_screenshots" / f"{label}.png").stat().st_size > 10_000


@needs_site
def test_the_pages_a_reader_needs_are_there():
    notebooks = [f"notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")]
    for rel in ("index.html", "readme.html", "docs/conv.html", "docs/checking.html", "search.html",
                "api/index.html", *SHOTS.values(), *notebooks):  # fmt: skip
        assert (SITE / rel).is_file(), rel
    assert "Conv2D" in (SITE / SHOTS["api-Conv2D"]).read_text()


@needs_site
def test_each_notebook_page_offers_the_notebook_and_what_it_needs_to_run():
    """The download line at the top of every notebook's page: the notebook itself, and the
    scratchnet wheel for those whose first cell installs it (ps1 needs neither)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = (SITE / "notebooks" / f"{path.stem}.html").read_text()
        links = re.findall(r'href="([^"]*_downloads/[^"]+)"', html)
        assert any(link.endswith(path.name) for link in links), (path.name, links)
        wheels = [link for link in links if link.endswith(".whl")]
        assert bool(wheels) == (path.name != "ps1-fashion-mnist-cnn.ipynb"), (path.name, links)
        assert all((SITE / "notebooks" / unquote(link)).resolve().is_file() for link in links), links


@needs_site
def test_the_api_index_groups_the_public_modules_and_every_entry_links_to_its_source():
    """The API index: one section per layer of the package, each public module with its one-line
    description, no private module listed; every API page with a documented function or class
    has [source] links (``sphinx.ext.viewcode``)."""
    html = (SITE / "api" / "index.html").read_text()
    index = html[html.index("<article"): html.index("</article>")]  # the page, not the navigation
    listed = set(re.findall(r'href="(scratchnet[\w.]*)\.html"', index))
    assert "scratchnet.graph" in listed and "scratchnet.layers.conv" in listed
    assert not [name for name in listed if "._" in name], "private modules are not listed"
    assert index.count("<h2") >= 6 and "what it holds" in index
    for page in sorted((SITE / "api").glob("scratchnet.*.html")):
        html = page.read_text()
        if 'class="sig sig-object py"' in html and ":no-index:" not in html:
            assert "viewcode-link" in html, f"{page.name}: an entry without its [source] link"


# every display equation of the page: does its number's box meet its formula's, and is a display
# wider than its box in a box that scrolls (not clipped)?
DISPLAYS = """
const out = {numbered: 0, overlaps: [], clipped: [], wide: []};
document.querySelectorAll('.katex-display').forEach((d, k) => {
  const html = d.querySelector('.katex-html');
  const tag = html && html.querySelector(':scope > .tag');
  if (tag) {
    out.numbered += 1;
    const t = tag.getBoundingClientRect();
    html.querySelectorAll(':scope > .base').forEach(b => {
      const r = b.getBoundingClientRect();
      const across = r.left < t.right - 0.5 && t.left < r.right - 0.5;
      const within = r.top < t.bottom && t.top < r.bottom;
      if (r.width > 0 && across && within) out.overlaps.push(k + ': ' + tag.textContent);
    });
  }
  if (html && html.scrollWidth > d.clientWidth + 1) out.wide.push(k + ': ' + html.scrollWidth + ' px');
  const style = getComputedStyle(d);
  if (d.scrollWidth > d.clientWidth + 1 && !['auto', 'scroll'].includes(style.overflowX))
    out.clipped.push(k);
});
return out;
"""


def _measured(width: int, marker: str, script: str):
    """``(page name, what script returns)`` for every page whose HTML holds ``marker``, opened in
    a browser window ``width`` px wide."""
    browser = _browser()
    browser.set_window_size(width, 1000)
    try:
        for page in pages():
            if marker in page.read_text(errors="replace"):
                browser.get(page.as_uri())
                yield page.relative_to(SITE).as_posix(), browser.execute_script(script)
    finally:
        browser.quit()


@needs_site
@pytest.mark.parametrize("width", [1280, 400])
def test_no_equation_number_covers_its_formula(width):
    """At a laptop's and a phone's width, on every page with display equations: no equation
    number's box meets its formula's, and a display wider than the column scrolls in its own box.
    At a laptop's width no display needs that box: a long one is broken into lines at the source
    (an ``aligned`` or ``gathered`` environment; a docstring's blank line, site/conf.py)."""
    problems, numbered = [], 0
    for name, found in _measured(width, "katex-display", DISPLAYS):
        numbered += found["numbered"]
        problems += [f"{name}: number over its formula, display {o}" for o in found["overlaps"]]
        problems += [f"{name}: display {c} wider than the column and clipped" for c in found["clipped"]]
        if width >= 1280:
            problems += [f"{name}: display {w} wider than the column" for w in found["wide"]]
    assert numbered >= 15, numbered  # the numbered displays of the derivation pages were measured
    assert not problems, "\n".join(problems[:30])


# every table of the page at this width: its columns, whether it is wider than the column, and
# whether it then sits in a box that scrolls
TABLES = """
const col = document.querySelector('article').clientWidth;
return Array.from(document.querySelectorAll('article table')).map((t, k) => {
  const box = t.closest('.table-wrapper') || t.parentElement;
  return {k: k, columns: t.rows[0] ? t.rows[0].cells.length : 0, wide: t.scrollWidth > col + 1,
          scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX)};
});
"""


@needs_site
def test_tables_on_a_phone():
    """At 400 px a table of two columns (the API index, the module list, the general index) is
    read as a list and fits; a wider table (the results) scrolls in its own box."""
    problems, seen = [], 0
    for name, tables in _measured(400, "<table", TABLES):
        for t in tables:
            seen += 1
            if t["wide"] and (t["columns"] <= 2 or not t["scrolls"]):
                problems.append(f"{name}: table {t['k']} ({t['columns']} columns) wider than the screen")
    assert seen >= 50, seen
    assert not problems, "\n".join(problems[:20])


SEARCH_RESULTS = """
// the pages found (an API object's result carries its description instead of a snippet)
const items = Array.from(document.querySelectorAll('#search-results li'))
  .filter(li => !li.querySelector(':scope > span'));
const contexts = items.map(li => li.querySelector('p.context')).filter(p => p);
const prose = contexts.map(p => {
  const c = p.cloneNode(true);
  c.querySelectorAll('.katex').forEach(k => k.remove());
  return c.textContent;
});
return {results: items.length, snippets: contexts.map(p => p.textContent), prose: prose,
        drawn: contexts.reduce((n, p) => n + p.querySelectorAll('.katex').length, 0)};
"""


@needs_site
@pytest.mark.parametrize("query", ["im2col", "softmax Jacobian", "LSTM cell"])
def test_search_from_the_files_gives_results_with_snippets(query):
    """The site opened from its files (``file://``, the offline case): a search returns results,
    each with a snippet of its page's text, equations once and drawn (no TeX left in the prose)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def complete(driver):
        found = driver.execute_script(SEARCH_RESULTS)
        return found if found["results"] and len(found["snippets"]) == found["results"] else None

    browser = _browser(file_access=False)
    try:
        browser.get((SITE / "search.html").as_uri() + "?q=" + query.replace(" ", "+"))
        try:
            found = WebDriverWait(browser, 30).until(complete)
        except TimeoutException:
            found = browser.execute_script(SEARCH_RESULTS)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.quit()
    assert found["results"] >= 1, found
    assert len(found["snippets"]) == found["results"], f"results without a snippet: {found}"
    words = query.lower().split()
    assert any(all(w in s.lower() for w in words[:1]) for s in found["snippets"]), found["snippets"][:3]
    raw = [s for s in found["prose"] if any(t in s for t in RAW_TEX) or re.search(r"\$[^$]*\\[a-z]", s)]
    assert not raw, f"TeX left in snippets: {raw[:2]}"
    if query == "softmax Jacobian":  # its derivations' snippets hold equations
        assert found["drawn"] >= 1, found["snippets"][:3]
    assert not errors, errors


@needs_site
def test_the_api_pages_link_their_derivations():
    """A docstring's mention of its derivation (``docs/recurrent.md``) is a link on the API page,
    as the derivation's "Code:" line links the function."""
    for module, page in (("scratchnet.ops.recurrent", "recurrent"), ("scratchnet.ops.conv", "conv"),
                         ("scratchnet.graph", "composition")):  # fmt: skip
        html = (SITE / "api" / f"{module}.html").read_text()
        assert f'href="../docs/{page}.html' in html, module
