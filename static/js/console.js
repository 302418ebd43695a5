// Console-wide behaviour. No inline scripts anywhere (a Content-Security-Policy forbids them).
(function () {
  "use strict";

  function isTyping(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  // "/" focuses the global search box; Escape leaves it.
  document.addEventListener("keydown", function (event) {
    var search = document.getElementById("global-search");
    if (!search) return;
    if (event.key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(event.target)) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "Escape" && event.target === search) {
      search.blur();
    }
  });

  // A record page's "已选 N 项" follows the ticks as they are made (the server counts what the pagers carried;
  // data-select names the checkboxes it counts, data-form their form): ticked boxes plus the hidden ones kept
  // from other pages. The first number of the sentence is the total.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box || box.type !== "checkbox" || !box.getAttribute("form")) return;
    var form = box.getAttribute("form");
    document.querySelectorAll(".selection-count[data-select]").forEach(function (line) {
      if (line.getAttribute("data-form") !== form) return;
      var names = line.getAttribute("data-select").split(" ");
      if (names.indexOf(box.name) < 0) return;
      var count = 0;
      names.forEach(function (name) {
        var sel = 'input[form="' + form + '"][name="' + name + '"]';
        count += document.querySelectorAll(sel + '[type="checkbox"]:checked').length;
        count += document.querySelectorAll(sel + '[type="hidden"]').length;
      });
      line.textContent = line.textContent.replace(/\d+/, String(count));
    });
  });
})();
