/* The analytics filters (date range, channel, language, queue): read from the form as the API's query, so
 * every chart, table and CSV link of the view shows the same period and slice. */

import { enc } from "../api.js";
import { $, clear, el } from "../dom.js";

const FIELDS = { start: "af-start", end: "af-end", channel: "af-channel", language: "af-language", queue: "af-queue" };

// The filters as {name: value}, without the empty ones.
export function currentFilters() {
  var found = {};
  Object.keys(FIELDS).forEach(function (name) {
    var value = String($(FIELDS[name]).value || "").trim();
    if (value) found[name] = value;
  });
  return found;
}

// `base` + the current filters + `extra` ({name: value}) as a URL.
export function withFilters(base, extra) {
  var params = Object.assign({}, currentFilters(), extra || {});
  var query = Object.keys(params).map(function (k) { return enc(k) + "=" + enc(params[k]); }).join("&");
  return query ? base + "?" + query : base;
}

export function resetFilters() {
  Object.keys(FIELDS).forEach(function (name) { $(FIELDS[name]).value = ""; });
}

// The queues offered in the queue field: those seen in the data (the field still takes any name).
export function offerQueues(names) {
  var list = $("af-queues");
  clear(list);
  names.filter(function (n, i) { return n && names.indexOf(n) === i; }).sort().forEach(function (name) {
    var option = el("option");
    option.value = name;
    list.appendChild(option);
  });
}

// `changed()` after any filter changes (typing in the queue field waits until the field is left).
export function wireFilters(changed) {
  $("analytics-filters").addEventListener("submit", function (event) { event.preventDefault(); changed(); });
  Object.keys(FIELDS).forEach(function (name) { $(FIELDS[name]).addEventListener("change", changed); });
  $("af-reset").addEventListener("click", function () { resetFilters(); changed(); });
}
