/* The analytics charts, drawn by the vendored uPlot (static/vendor/uplot/README.md): contacts per day with
 * the automation rate, the service level per day against its target, and bars per category (handoff reasons,
 * CSAT per agent, queue or intent). uPlot styles through the CSSOM only, so the page's
 * Content-Security-Policy needs no exception. The library is loaded when the first chart is drawn, so
 * agents, who never open the view, never download it. Each chart's container carries the data it drew in
 * data-series, for whoever inspects the page; the tables beside the charts hold the same numbers as text. */

import { $, clear } from "../dom.js";
import { t } from "../language.js";

const HEIGHT = 240;
const BLUE = "#1f6feb", GREEN = "#1a7f37", RED = "#b3261e", GREY = "#5c6670";
const charts = {};  // container id -> uPlot
let library = null;  // the promise of the uPlot class
let uPlot = null;

// Resolves when uPlot is loaded; the view draws its charts after this.
export function chartsReady() {
  if (!library) {
    library = import("../vendor/uplot/uPlot.esm.js").then(function (module) { uPlot = module.default; });
    library.catch(function () { library = null; });  // asked again on the next load
  }
  return library;
}

function widthOf(box) { return Math.max(240, box.clientWidth || 600); }

function draw(id, opts, data) {
  var box = $(id);
  if (charts[id]) { charts[id].destroy(); delete charts[id]; }
  clear(box);
  box.setAttribute("data-series", JSON.stringify(data));
  opts.width = widthOf(box);
  opts.height = HEIGHT;
  charts[id] = new uPlot(opts, data, box);
}

// Days ("2026-01-31") as the epoch seconds of their midnight, drawn as the dates they are (not shifted by
// the browser's time zone).
function dayStamp(day) {
  var p = String(day).split("-").map(Number);
  return Date.UTC(p[0], p[1] - 1, p[2]) / 1000;
}

function percent(v) { return typeof v === "number" ? Math.round(v * 1000) / 10 : null; }
function shown(v, unit) { return v === null || v === undefined ? "—" : v + unit; }

export function dailyChart(rows) {
  var x = rows.map(function (r) { return dayStamp(r.day); });
  var data = [x, rows.map(function (r) { return r.contacts || 0; }), rows.map(function (r) { return percent(r.automation_rate); })];
  draw("chart-daily", {
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    // Half a day either side, so the first and last bars are drawn whole; counts from zero.
    scales: {
      x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } },
      y: { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } },
      pct: { range: [0, 100] }
    },
    series: [
      {},
      { label: t("c_contacts"), stroke: BLUE, fill: "rgba(31, 111, 235, 0.25)", paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
      { label: t("c_automation"), stroke: GREEN, width: 2, scale: "pct", value: function (u, v) { return shown(v, "%"); } }
    ],
    axes: [
      {},
      { stroke: GREY },
      { scale: "pct", side: 1, stroke: GREY, grid: { show: false }, values: function (u, splits) { return splits.map(function (v) { return v + "%"; }); } }
    ]
  }, data);
}

export function serviceLevelChart(rows, target) {
  var goal = percent(target);
  var x = rows.map(function (r) { return dayStamp(r.day); });
  var data = [x, rows.map(function (r) { return percent(r.service_level); }), rows.map(function () { return goal; })];
  draw("chart-sl", {
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    scales: { x: { time: true }, y: { range: [0, 100] } },
    series: [
      {},
      { label: t("c_sl"), stroke: BLUE, width: 2, value: function (u, v) { return shown(v, "%"); } },
      { label: t("c_target"), stroke: RED, width: 1, dash: [6, 4], points: { show: false }, value: function (u, v) { return shown(v, "%"); } }
    ],
    axes: [{}, { stroke: GREY, values: function (u, splits) { return splits.map(function (v) { return v + "%"; }); } }]
  }, data);
}

// Bars for categories: `labels` under the x axis (shortened), `values` as bars; `range` the y scale.
export function barChart(id, labels, values, label, color, range) {
  var x = labels.map(function (_, i) { return i; });
  var data = [x, values];
  var short = labels.map(function (name) { name = String(name); return name.length > 16 ? name.slice(0, 15) + "…" : name; });
  draw(id, {
    scales: {
      x: { time: false, range: function () { return [-0.5, Math.max(labels.length, 1) - 0.5]; } },
      y: range ? { range: range } : { range: function (u, min, max) { return [0, Math.max(1, max * 1.1)]; } }
    },
    legend: { show: false },
    cursor: { points: { show: false } },
    series: [
      { value: function (u, i) { return i === null ? "—" : String(labels[i]); } },
      { label: label, stroke: color || BLUE, fill: color === GREEN ? "rgba(26, 127, 55, 0.45)" : "rgba(31, 111, 235, 0.45)", paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }
    ],
    axes: [
      { stroke: GREY, grid: { show: false }, rotate: labels.length > 4 ? -35 : 0, size: labels.length > 4 ? 90 : 40,
        splits: function () { return x; }, values: function () { return short; } },
      { stroke: GREY }
    ]
  }, data);
}

export const BAR_GREEN = GREEN;

// Charts follow the width of their card.
export function wireCharts() {
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) {
      var box = $(id);
      if (box && box.offsetParent !== null) charts[id].setSize({ width: widthOf(box), height: HEIGHT });
    });
  });
}
