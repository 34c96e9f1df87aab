// Only helps: every page works without it. Shows how many characters are left where a field has
// a limit, and stops a second click from sending the same report twice.
(function () {
  "use strict";
  document.querySelectorAll("textarea[maxlength][data-counter]").forEach(function (field) {
    var counter = document.createElement("span");
    counter.className = "counter";
    counter.setAttribute("aria-live", "polite");
    function update() {
      counter.textContent = (field.maxLength - field.value.length) + " " + field.dataset.counter;
    }
    field.addEventListener("input", update);
    field.insertAdjacentElement("afterend", counter);
    update();
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    });
  });
})();
