/* The analytics tables: built from the API's rows with textContent only (customer messages are shown as the
 * characters typed), each with an "Export CSV" link to the same route with format=csv, so the file holds
 * exactly the rows of the table. */

import { $, cell, clear, el, testid } from "../dom.js";
import { dateTime, fmt, pct, seconds } from "../format.js";
import { t } from "../language.js";
import { withFilters } from "./filters.js";

// How a column's value is written in a cell.
export const AS = {
  text: function (v) { return fmt(v); },
  count: function (v) { return typeof v === "number" ? String(v) : fmt(v); },
  share: pct,
  seconds: seconds,
  stars: function (v) { return typeof v === "number" ? v.toFixed(2) : t("none"); },
  time: dateTime
};

// Renders `rows` into the element `id` as a table; `columns`: [{key, label (text key), as, cls}];
// `extra(row, tr)` may append cells of its own (a link).
export function renderTable(id, name, columns, rows, extra) {
  var box = $(id);
  clear(box);
  if (!rows.length) {
    box.appendChild(testid(el("p", "muted", t("no_rows")), "table-" + name + "-empty"));
    return;
  }
  var table = testid(el("table", "data"), "table-" + name);
  var head = el("tr");
  columns.forEach(function (c) { head.appendChild(el("th", c.cls || "", t(c.label))); });
  if (extra) head.appendChild(el("th", "", ""));
  var thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = el("tbody");
  rows.forEach(function (row) {
    var tr = testid(el("tr"), "row-" + name);
    columns.forEach(function (c) {
      var td = cell(tr, (c.as || AS.text)(row[c.key]), c.cls || "");
      td.setAttribute("data-key", c.key);
    });
    if (extra) extra(row, tr);
    body.appendChild(tr);
  });
  table.appendChild(body);
  box.appendChild(table);
}

// The "Export CSV" link of a table, in the element `id`, for the route `path` with the current filters.
export function csvLink(id, path, extra) {
  var box = $(id);
  clear(box);
  var link = testid(el("a", "csv", t("export_csv")), "csv-" + id.replace(/^csv-/, ""));
  link.href = withFilters(path, Object.assign({}, extra || {}, { format: "csv" }));
  link.setAttribute("download", "");
  box.appendChild(link);
}
