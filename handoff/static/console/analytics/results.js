/* An experiment's results (GET /api/experiments/<id>/results): the verdict, the progress towards the
 * sample size every variant needs before there is one, the primary metric per variant with its 95%
 * interval and its difference from the control, every other metric, and a warning when the split is off
 * the configured shares (sample ratio mismatch). */

import { button, cell, clear, el, isObject, testid } from "../dom.js";
import { fmt } from "../format.js";
import { hasText, t } from "../language.js";

const RATES = ["automation_rate", "fcr_rate", "service_level"];

function isRate(metric) { return RATES.indexOf(metric) >= 0; }

function number(v, digits) { return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : null; }

// A metric's value as read: rates in %, waits in seconds, CSAT in stars.
export function metricValue(metric, v) {
  if (isRate(metric)) { var p = number(v * 100, 1); return p === null ? t("none") : p + "%"; }
  var n = number(v, metric === "mean_wait" ? 1 : 2);
  return n === null ? t("none") : n + (metric === "mean_wait" ? " s" : "");
}

// A difference: percentage points for rates, signed.
function difference(metric, v) {
  if (typeof v !== "number" || !isFinite(v)) return t("none");
  var sign = v > 0 ? "+" : v < 0 ? "−" : "±";
  var size = Math.abs(v);
  return sign + (isRate(metric) ? number(size * 100, 1) + " pp" : number(size, metric === "mean_wait" ? 1 : 2) + (metric === "mean_wait" ? " s" : ""));
}

function interval(low, high, show) {
  return typeof low === "number" && typeof high === "number" ? " [" + show(low) + ", " + show(high) + "]" : "";
}

function verdictLabel(verdict) {
  var key = "xv_" + String(verdict).replace(/\s+/g, "_");
  return hasText(key) ? t(key) : fmt(verdict);
}

function metricLabel(metric) { return hasText("xm_" + metric) ? t("xm_" + metric) : metric; }

export function renderResults(box, data, close) {
  clear(box);
  data = isObject(data) ? data : {};
  var x = isObject(data.experiment) ? data.experiment : {};
  var metric = data.primary_metric || x.primary_metric;
  var head = el("div", "row");
  head.appendChild(testid(el("h3", "", t("x_results_for", { name: x.name || x.id })), "x-results-title"));
  var shut = button(t("x_close"), "link small", "x-results-close");
  shut.addEventListener("click", close);
  head.appendChild(shut);
  box.appendChild(head);
  box.setAttribute("data-experiment-id", String(x.id || ""));

  var ratio = isObject(data.sample_ratio) ? data.sample_ratio : {};
  if (ratio.mismatch) {
    var observed = isObject(ratio.observed) ? ratio.observed : {};
    var expected = isObject(ratio.expected) ? ratio.expected : {};
    var detail = Object.keys(observed).map(function (name) {
      return name + " " + observed[name] + " / " + Math.round(Number(expected[name]) || 0);
    }).join(", ") + " (p = " + (typeof ratio.p_value === "number" ? ratio.p_value.toPrecision(2) : "?") + ")";
    box.appendChild(testid(el("p", "warning srm", t("x_srm", { detail: detail })), "x-srm"));
  }

  var sample = isObject(data.sample_size) ? data.sample_size : {};
  var facts = el("dl", "fields small");
  facts.appendChild(el("dt", "", t("x_verdict")));
  var verdict = testid(el("dd", "verdict verdict-" + String(data.verdict).replace(/\W+/g, "-"),
    verdictLabel(data.verdict) + (data.leader ? " (" + data.leader + ")" : "")), "x-verdict");
  facts.appendChild(verdict);
  facts.appendChild(el("dt", "", t("x_metric")));
  facts.appendChild(el("dd", "", metricLabel(metric) + " · " + t("x_min_effect") + " " + difference(metric, data.minimum_effect).replace(/^\+/, "")));
  facts.appendChild(el("dt", "", t("x_needed")));
  facts.appendChild(testid(el("dd", "", fmt(sample.needed_per_variant)), "x-needed"));
  facts.appendChild(el("dt", "", t("x_progress")));
  var progressCell = el("dd");
  var bar = testid(el("progress"), "x-progress");
  bar.max = 1;
  bar.value = typeof sample.progress === "number" ? sample.progress : 0;
  progressCell.appendChild(bar);
  progressCell.appendChild(el("span", "muted", " " + Math.round(bar.value * 100) + "%"));
  facts.appendChild(progressCell);
  if (data.test) { facts.appendChild(el("dt", "", t("x_test"))); facts.appendChild(el("dd", "muted", data.test)); }
  box.appendChild(facts);

  box.appendChild(primaryTable(data, metric));
  box.appendChild(el("h4", "", t("x_all_metrics")));
  box.appendChild(allMetrics(data));
  var warnings = Array.isArray(data.warnings) ? data.warnings : [];
  if (warnings.length) {
    var list = testid(el("ul", "plain warnings"), "x-warnings");
    warnings.forEach(function (w) { list.appendChild(el("li", "", w)); });
    box.appendChild(list);
  }
}

function comparisonsByVariant(data) {
  var found = {};
  (Array.isArray(data.comparisons) ? data.comparisons : []).forEach(function (c) { if (isObject(c)) found[c.variant] = c; });
  return found;
}

function primaryTable(data, metric) {
  var table = testid(el("table", "data results"), "x-results-table");
  var head = el("tr");
  ["x_variant", "x_share", "x_n", "x_value", "x_diff", "x_p", "x_verdict"].forEach(function (k) { head.appendChild(el("th", "", t(k))); });
  var thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = el("tbody");
  var compared = comparisonsByVariant(data);
  var show = function (v) { return metricValue(metric, v); };
  (Array.isArray(data.variants) ? data.variants : []).forEach(function (v) {
    var m = isObject(v.metrics) && isObject(v.metrics[metric]) ? v.metrics[metric] : {};
    var row = testid(el("tr", v.control ? "control" : ""), "x-result-row");
    row.setAttribute("data-variant", String(v.name));
    cell(row, v.name + (v.control && v.name !== "control" ? " (" + t("x_control") + ")" : ""));
    cell(row, Math.round(Number(v.share) * 1000) / 10 + "%", "num");
    testid(cell(row, fmt(m.n) + " / " + fmt(v.contacts), "num"), "x-result-n");
    testid(cell(row, show(m.value) + interval(m.low, m.high, show), "num"), "x-result-value");
    var c = compared[v.name];
    var d = c && isObject(c.metrics) && isObject(c.metrics[metric]) ? c.metrics[metric] : null;
    var diff = function (x) { return difference(metric, x); };
    testid(cell(row, d ? diff(d.difference) + interval(d.low, d.high, diff) : "", "num"), "x-result-diff");
    cell(row, d && typeof d.p_value === "number" ? d.p_value.toPrecision(2) : "", "num");
    cell(row, c ? verdictLabel(c.verdict) : "");
    body.appendChild(row);
  });
  table.appendChild(body);
  return table;
}

function allMetrics(data) {
  var variants = Array.isArray(data.variants) ? data.variants : [];
  var table = testid(el("table", "data results small"), "x-metrics-table");
  var head = el("tr");
  head.appendChild(el("th", "", t("x_metric")));
  variants.forEach(function (v) { head.appendChild(el("th", "", v.name)); });
  var thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = el("tbody");
  var metrics = variants.length && isObject(variants[0].metrics) ? Object.keys(variants[0].metrics) : [];
  metrics.forEach(function (metric) {
    var row = el("tr");
    cell(row, metricLabel(metric));
    var show = function (x) { return metricValue(metric, x); };
    variants.forEach(function (v) {
      var m = isObject(v.metrics) && isObject(v.metrics[metric]) ? v.metrics[metric] : {};
      cell(row, show(m.value) + interval(m.low, m.high, show), "num");
    });
    body.appendChild(row);
  });
  table.appendChild(body);
  return table;
}
