/* The audit view (GET /api/studio/audit): who changed what in the studio, and when, newest first. */

import { api, query } from "./api.js";
import { $, cell, clear, el, isObject, testid } from "./dom.js";
import { dateTime, json } from "./format.js";
import { label, t } from "./language.js";

const audit = { entries: null };

// The detail's most telling values on one line; the whole entry opens below it.
function summary(detail) {
  if (!isObject(detail)) return "";
  var parts = [];
  ["intent", "language", "slug", "id", "model", "version", "run", "to_intent", "outcome"].forEach(function (key) {
    var value = detail[key];
    if (value !== undefined && value !== null && value !== "" && typeof value !== "object") parts.push(key + ": " + value);
  });
  ["texts", "examples", "ids"].forEach(function (key) {
    if (Array.isArray(detail[key])) parts.push(t("n_entries", { key: key, n: detail[key].length }));
  });
  return parts.join(" · ");
}

function render() {
  var body = $("audit-body");
  clear(body);
  var entries = audit.entries || [];
  entries.forEach(function (entry) {
    var row = testid(el("tr"), "audit-row");
    row.setAttribute("data-action", entry.action);
    cell(row, dateTime(entry.ts));
    cell(row, entry.actor);
    cell(row, label("action_", entry.action), "action");
    var detail = cell(row, "");
    var more = el("details");
    more.appendChild(el("summary", "", summary(entry.detail) || t("detail")));
    more.appendChild(el("pre", "plain-body", json(entry.detail)));
    detail.appendChild(more);
    body.appendChild(row);
  });
  $("audit-empty").hidden = entries.length > 0 || audit.entries === null;
}

function load() {
  return api("GET", "/api/studio/audit" + query({ limit: 200, prefix: $("audit-prefix").value })).then(function (data) {
    audit.entries = data.entries || [];
    $("audit-error").hidden = true;
    render();
  }, function (err) {
    $("audit-error").textContent = t("error", { m: err.message });
    $("audit-error").hidden = false;
  });
}

export function show() { return load(); }

export { render };

export function wireAudit() {
  $("audit-prefix").addEventListener("change", load);
  $("audit-refresh").addEventListener("click", load);
}
