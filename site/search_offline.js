/* The search page's snippets from the texts written at build time (site/search_texts.py), not
   from fetching each result's page: fetching is refused for a site opened from its files
   (file://), and a page's raw text repeats every equation three times. Only the search page
   loads the texts; every other request goes to the real fetch. */
(() => {
  if (!/search\.html$/.test(window.location.pathname)) return;
  const root = new URL(".", window.location.href);
  const texts = new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = new URL("_static/search_texts.js", root).href;
    script.onload = () => resolve(window.SCRATCHNET_PAGES || {});
    script.onerror = () => resolve({});
    document.head.appendChild(script);
  });
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
})();
