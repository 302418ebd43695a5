/* Sortable report tables (templates/reports/template.html, tables marked data-sortable): a click on a column's
   header sorts the rows by that column, largest first for numbers; a second click reverses. Each cell carries its
   value in data-sort (numbers as numbers, empty last), so ¥1,234.50 and 12.5% sort by value, not as text. */
(function () {
  "use strict";

  function value(cell, numeric) {
    var raw = cell ? cell.getAttribute("data-sort") : "";
    if (raw === "" || raw === null) {
      return null;
    }
    return numeric ? parseFloat(raw) : raw;
  }

  function sort(table, button) {
    var column = parseInt(button.getAttribute("data-sort-column"), 10);
    var numeric = button.getAttribute("data-numeric") === "1";
    var descending = button.getAttribute("aria-sort") !== "descending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (row) { return row.cells.length > column; });
    rows.sort(function (a, b) {
      var x = value(a.cells[column], numeric);
      var y = value(b.cells[column], numeric);
      if (x === null || y === null) {
        return x === y ? 0 : (x === null ? 1 : -1);
      }
      var order = numeric ? x - y : String(x).localeCompare(String(y), "zh-CN");
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("button.sort").forEach(function (other) { other.removeAttribute("aria-sort"); });
    button.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function setUp() {
    document.querySelectorAll("table[data-sortable]").forEach(function (table) {
      table.querySelectorAll("button.sort").forEach(function (button) {
        button.addEventListener("click", function () { sort(table, button); });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
