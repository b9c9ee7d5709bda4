// Warden console: the only script. It re-reads a page's state every few seconds and, when
// another approver's decision changed it, says so and reloads unless the user is typing.
// Every page works without it.
(function () {
  "use strict";
  var live = document.querySelector("[data-poll]");
  if (!live || !window.fetch) { return; }
  var url = live.getAttribute("data-poll");
  var seen = live.getAttribute("data-state");
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value !== "";
  }
  function check() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var now = body.state || body.fingerprint;
        if (now && now !== seen) {
          live.textContent = "This page changed: another decision was recorded. " + (typing() ? "Reload to see it." : "Reloading…");
          if (!typing()) { window.location.reload(); }
          seen = now;
        }
      })
      .catch(function () {});
  }
  window.setInterval(check, 2000);
})();
