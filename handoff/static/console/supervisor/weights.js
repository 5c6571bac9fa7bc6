/* The routing weights editor (GET and PUT /api/routing/weights) with its audit trail, and a preview of a
 * change before it is saved (POST /api/routing/weights/preview: the last week's recorded handoffs replayed
 * under the current and the proposed weights). A refresh never overwrites weights still being edited. */

import { api } from "../api.js";
import { $, cell, clear, el, isObject, testid } from "../dom.js";
import { dateTime, errorText, fmt, pct, seconds } from "../format.js";
import { t } from "../language.js";
import { failed, notify } from "../notice.js";

const INPUTS = ["weight-skill", "weight-load", "weight-rating"];

let weightsDirty = false;

function weightsText(x) { return isObject(x) ? [fmt(x.skill), fmt(x.load), fmt(x.rating)].join(" / ") : fmt(x); }

export function loadWeights() {
  api("GET", "/api/routing/weights").then(function (data) {
    data = data || {};
    var w = isObject(data.weights) ? data.weights : {};
    if (!weightsDirty) {
      $("weight-skill").value = fmt(w.skill);
      $("weight-load").value = fmt(w.load);
      $("weight-rating").value = fmt(w.rating);
    }
    var body = $("weights-audit");
    clear(body);
    (Array.isArray(data.audit) ? data.audit : []).forEach(function (entry) {
      var row = testid(el("tr"), "audit-row");
      cell(row, dateTime(entry.at));
      cell(row, fmt(entry.by));
      cell(row, weightsText(entry.old));
      cell(row, weightsText(entry.new));
      body.appendChild(row);
    });
  }).catch(failed);
}

function proposedWeights() {
  return {
    skill: Number($("weight-skill").value),
    load: Number($("weight-load").value),
    rating: Number($("weight-rating").value)
  };
}

// Rows of the preview: the metric, how to show it, and whether a rise is good.
const PREVIEW_ROWS = [
  ["preview_wait_mean", "wait_mean", seconds, false],
  ["preview_wait_p90", "wait_p90", seconds, false],
  ["preview_service_level", "service_level", pct, true],
  ["preview_abandonment", "abandonment_rate", pct, false],
  ["preview_fcr", "fcr", pct, true]
];

function change(name, delta, show, risingIsGood) {
  if (typeof delta !== "number" || !isFinite(delta)) return { text: t("none"), tone: "" };
  var text = show === seconds ? (delta >= 0 ? "+" : "−") + seconds(Math.abs(delta))
    : (delta >= 0 ? "+" : "−") + (Math.round(Math.abs(delta) * 1000) / 10) + " " + t("points");
  var tone = Math.abs(delta) < 1e-9 ? "" : ((delta > 0) === risingIsGood ? "better" : "worse");
  return { text: text, tone: tone };
}

function renderPreview(data) {
  var box = $("weights-preview");
  clear(box);
  box.hidden = false;
  data = data || {};
  var comparison = isObject(data.comparison) ? data.comparison : null;
  if (!comparison) {
    box.appendChild(testid(el("p", "muted", t("preview_nothing", { days: fmt(data.days) })), "preview-nothing"));
    return;
  }
  box.appendChild(el("p", "muted small", t("preview_basis", { n: fmt(data.records), days: fmt(data.days), agents: fmt(data.agents) })));
  var table = testid(el("table"), "weights-preview-table");
  var head = el("tr");
  [t("preview_metric"), t("preview_current"), t("preview_proposed"), t("preview_change")].forEach(function (h) { head.appendChild(el("th", "", h)); });
  var thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = el("tbody");
  var current = isObject(comparison.current) ? comparison.current : {};
  var proposed = isObject(comparison.proposed) ? comparison.proposed : {};
  var delta = isObject(comparison.delta) ? comparison.delta : {};
  PREVIEW_ROWS.forEach(function (r) {
    var row = testid(el("tr"), "preview-row");
    row.setAttribute("data-metric", r[1]);
    cell(row, t(r[0]));
    cell(row, r[2](current[r[1]]), "num");
    cell(row, r[2](proposed[r[1]]), "num");
    var c = change(r[1], delta[r[1]], r[2], r[3]);
    cell(row, c.text, "num" + (c.tone ? " " + c.tone : ""));
    body.appendChild(row);
  });
  table.appendChild(body);
  box.appendChild(table);
}

function previewWeights() {
  $("weights-error").hidden = true;
  var button = $("weights-preview-button");
  button.disabled = true;
  api("POST", "/api/routing/weights/preview", proposedWeights()).then(renderPreview).catch(function (err) {
    var box = $("weights-error");
    box.textContent = errorText(err);
    box.hidden = false;
  }).then(function () { button.disabled = false; });
}

function saveWeights(event) {
  event.preventDefault();
  var body = proposedWeights();
  $("weights-error").hidden = true;
  api("PUT", "/api/routing/weights", body).then(function () {
    weightsDirty = false;
    notify(t("weights_saved"));
    loadWeights();
  }).catch(function (err) {
    var box = $("weights-error");
    box.textContent = errorText(err);
    box.hidden = false;
  });
}

export function wireWeights() {
  INPUTS.forEach(function (id) {
    $(id).addEventListener("input", function () { weightsDirty = true; });
  });
  $("weights-form").addEventListener("submit", saveWeights);
  $("weights-preview-button").addEventListener("click", previewWeights);
}
