/* Copy buttons and read-only fields that select their text on focus (no inline script: the
   CSP allows none). A button `data-copy="<input id>"` copies that input's value and says so
   in the element `<input id>-copied`; buttons are `hidden` until this script shows them, so
   without JavaScript only the read-only field is there, to select and copy by hand. */
(function () {
  "use strict";

  function copied(button) {
    var status = document.getElementById(button.dataset.copy + "-copied");
    if (status) status.textContent = button.dataset.copiedText || "";
  }

  function copy(button) {
    var input = document.getElementById(button.dataset.copy);
    if (!input) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { copied(button); }, function () { input.select(); });
      return;
    }
    input.focus();
    input.select();
    try {
      if (document.execCommand("copy")) copied(button);
    } catch (error) { /* selected: the user copies it */ }
  }

  function setup(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (button.dataset.copyReady) return;
      button.dataset.copyReady = "1";
      button.hidden = false;
      button.addEventListener("click", function () { copy(button); });
    });
    root.querySelectorAll("input[data-select-on-focus]").forEach(function (input) {
      if (input.dataset.selectReady) return;
      input.dataset.selectReady = "1";
      input.addEventListener("focus", function () { input.select(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setup(document); });
  } else {
    setup(document);
  }
  document.addEventListener("htmx:afterSettle", function (event) { setup(event.target); });
})();
