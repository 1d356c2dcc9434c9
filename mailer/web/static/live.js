// Keeps the overview's charts, queue depths and workers current: every few seconds it fetches
// the same fragment the page was rendered with (/live) and puts it in place. Without script
// the page still shows everything as of its load.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) {
    return;
  }
  var everyMs = 1000 * (parseInt(live.getAttribute("data-refresh-s"), 10) || 10);

  function refresh() {
    fetch(live.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        live.replaceChildren.apply(live, Array.prototype.slice.call(parsed.body.childNodes));
        live.classList.remove("stale");
      })
      .catch(function () {
        live.classList.add("stale");
      })
      .then(function () {
        window.setTimeout(refresh, everyMs);
      });
  }

  window.setTimeout(refresh, everyMs);
})();
