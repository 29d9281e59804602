/* The search page's snippets from the texts written at build time (site/search_texts.py), not
   from fetching each result's page: fetching is refused for a site opened from its files
   (file://), and a page's raw text repeats every equation three times. Only the search page
   loads the texts; every other request goes to the real fetch.

   In those texts each equation is its TeX between dollars. A snippet is cut so that it never
   ends inside an equation, and its equations are drawn by KaTeX (its script, served from the
   site, is loaded by this page only); without KaTeX the snippet shows the TeX. */
(() => {
  if (!/search\.html$/.test(window.location.pathname)) return;
  const root = new URL(".", window.location.href);
  const load = (path) => new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = new URL(path, root).href;
    script.onload = script.onerror = () => resolve();
    document.head.appendChild(script);
  });
  const texts = Promise.all([load("_static/search_texts.js"), load("_static/katex/katex.min.js")])
    .then(() => window.SCRATCHNET_PAGES || {});
  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const realFetch = window.fetch.bind(window);
  window.fetch = (resource, ...rest) => {
    const url = new URL(typeof resource === "string" ? resource : resource.url, window.location.href);
    const page = url.href.startsWith(root.href) ? url.href.slice(root.href.length).split("#")[0] : null;
    return texts.then((pages) =>
      page !== null && page in pages
        ? new Response(`<html><body><div role="main">${escape(pages[page])}</div></body></html>`,
                       {headers: {"Content-Type": "text/html"}})
        : realFetch(resource, ...rest));
  };

  // Sphinx's window (120 characters before the last keyword found, 240 in all), widened to whole
  // equations: a cut after an odd number of dollars is inside one (a prose dollar is written \$).
  const DOLLAR = /(?<!\\)\$/;
  const inside = (text, at) => (text.slice(0, at).split(DOLLAR).length - 1) % 2 === 1;
  const next = (text, from) => { const m = DOLLAR.exec(text.slice(from)); return m ? from + m.index : -1; };
  const previous = (text, before) => {
    let at = -1;
    for (let k = next(text, 0); k > -1 && k < before; k = next(text, k + 1)) at = k;
    return at;
  };
  const summary = (htmlText, keywords, anchor) => {
    const text = Search.htmlToText(htmlText, anchor);
    if (text === "") return null;
    const lower = text.toLowerCase();
    const found = [...keywords].map((k) => lower.indexOf(k.toLowerCase())).filter((i) => i > -1);
    let start = Math.max((found.slice(-1)[0] ?? 0) - 120, 0);
    let end = Math.min(start + 240, text.length);
    if (inside(text, start)) start = previous(text, start);
    if (inside(text, end)) end = next(text, end) + 1 || text.length;
    const p = document.createElement("p");
    p.classList.add("context");
    const parts = ((start ? "..." : "") + text.slice(start, end).trim() + (end < text.length ? "..." : ""))
      .split(DOLLAR);
    parts.forEach((part, k) => {
      if (k % 2 === 0 || !window.katex || k === parts.length - 1) {
        const closed = k % 2 && k < parts.length - 1;  // an equation, drawn as its TeX
        const shown = k % 2 ? "$" + part + (closed ? "$" : "") : part.replace(/\\\$/g, "$");
        p.appendChild(document.createTextNode(shown));
        return;
      }
      const span = document.createElement("span");
      try { window.katex.render(part, span, {throwOnError: true, output: "html"}); }
      catch (e) { span.textContent = "$" + part + "$"; }
      p.appendChild(span);
    });
    return p;
  };
  document.addEventListener("DOMContentLoaded", () => {
    if (typeof Search !== "undefined") Search.makeSearchSummary = summary;
  });
})();
