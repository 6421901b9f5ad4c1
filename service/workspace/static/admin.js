/* Administration pages: copy a new API key to the clipboard, and move the focus to the
 * answer of the last action (what was done, or the key just created) so that keyboard and
 * screen-reader users land on it. No inline script, no eval: the page's CSP forbids both. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector("[data-copy-status]");
    function say(text) { if (status) status.textContent = text; }
    field.focus();
    field.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(
        function () { say(button.dataset.copied); },
        function () { say(button.dataset.copyFailed); }
      );
    } else {
      say(button.dataset.copyFailed);
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.querySelector("[data-error-summary], .ws-problem:not([data-outcome])")) return;
    var outcome = target.querySelector("[data-outcome]");
    if (outcome) outcome.focus();
  });
})();
