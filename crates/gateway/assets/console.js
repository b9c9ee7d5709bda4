// Warden console: the only script. It asks before a form marked `data-confirm` is sent, and
// re-reads a page's state every few seconds: when another approver's decision changed it, it
// says so and reloads unless the user is typing. Every page works without it.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
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
