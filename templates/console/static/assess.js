// Keyboard shortcuts on the assessment page: a key presses the button (or follows the link) that
// carries it in data-key. Keys are ignored while typing in a field, and with a modifier held, so
// the browser's own shortcuts keep working. Without JavaScript the buttons do the same.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var found = document.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
    if (!found) {
      return;
    }
    event.preventDefault();
    if (found.tagName === "A") {
      window.location.assign(found.href);
    } else if (found.form && found.value === "refer" && !found.form.country.value) {
      found.form.country.focus();  // a referral names its country first
    } else {
      found.click();
    }
  });
})();
