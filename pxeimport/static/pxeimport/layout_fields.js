// The boot source form shows only the fields the chosen layout reads (admin/sources.py: LAYOUT_FIELDS, given as
// the layout box's data-fields); a hidden field keeps its value, and the server ignores it for other layouts.
"use strict";
(function () {
  function apply(select) {
    var fields = JSON.parse(select.dataset.fields || "{}");
    Object.keys(fields).forEach(function (name) {
      var row = document.querySelector(".form-row.field-" + name) || document.querySelector(".field-" + name);
      if (row) {
        row.hidden = fields[name].indexOf(select.value) < 0;
      }
    });
    document.querySelectorAll("fieldset").forEach(function (fieldset) {
      var rows = fieldset.querySelectorAll(".form-row");
      if (rows.length && Array.prototype.every.call(rows, function (r) { return r.hidden; })) {
        fieldset.hidden = true;
      } else if (rows.length) {
        fieldset.hidden = false;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_layout");
    if (!select) {
      return;
    }
    apply(select);
    select.addEventListener("change", function () { apply(select); });
  });
})();
