/* The analytics view (#analytics, supervisors and admins): the period's key numbers, charts and tables from
 * GET /api/analytics/*, for the filters of the form, the proactive messages card and the experiments panel.
 * Loaded when the view opens and whenever a filter changes; an answer to an older filter is dropped when a
 * newer one was asked. */

import { api } from "../api.js";
import { $, el, isObject, testid } from "../dom.js";
import { errorText, reasonLabel } from "../format.js";
import { t } from "../language.js";
import { session, state } from "../state.js";
import { BAR_GREEN, barChart, chartsReady, dailyChart, serviceLevelChart, wireCharts } from "./charts.js";
import { loadExperiments, wireExperiments } from "./experiments.js";
import { offerQueues, withFilters, wireFilters } from "./filters.js";
import { renderProactive } from "./proactive.js";
import { AS, csvLink, renderTable } from "./tables.js";
import { renderTiles } from "./tiles.js";

let generation = 0;

function rows(answer) { return isObject(answer) && Array.isArray(answer.rows) ? answer.rows : []; }

function get(path, extra) { return api("GET", withFilters(path, extra)); }

export function loadAnalytics() {
  if (!session.me || state.view !== "analytics") return;
  var mine = ++generation;
  var by = $("csat-by").value || "agent";
  $("analytics-error").hidden = true;
  Promise.all([
    get("/api/analytics/summary"),
    get("/api/analytics/series"),
    get("/api/analytics/intents"),
    get("/api/analytics/reasons"),
    get("/api/analytics/csat", { by: by }),
    get("/api/analytics/misses", { kind: "kb_miss" }),
    get("/api/analytics/misses", { kind: "fallback" }),
    get("/api/analytics/proactive"),
    get("/api/analytics/proactive/triggers")
  ]).then(function (answers) {
    if (mine !== generation) return null;
    render(answers, by);
    return chartsReady().then(function () {
      if (mine !== generation) return;
      draw(answers);
      $("view-analytics").setAttribute("data-loaded", String(mine));
    });
  }).catch(function (err) {
    if (mine !== generation) return;
    var box = $("analytics-error");
    box.textContent = err && err.status === 503 ? t("a_off") : t("error", { m: errorText(err) });
    box.hidden = false;
  });
  loadExperiments();
}

function summaryOf(answers) {
  return isObject(answers[0]) && isObject(answers[0].summary) ? answers[0].summary : {};
}

function draw(answers) {
  var summary = summaryOf(answers);
  var series = rows(answers[1]), reasons = rows(answers[3]), csat = rows(answers[4]);
  var target = isObject(summary.service_level_target) ? summary.service_level_target.share : 0.8;
  dailyChart(series);
  serviceLevelChart(series, typeof target === "number" ? target : 0.8);
  barChart("chart-reasons", reasons.map(function (r) { return r.reason; }), reasons.map(function (r) { return r.handoffs || 0; }), t("handoffs"));
  barChart("chart-csat", csat.map(function (r) { return r.key; }), csat.map(function (r) { return r.average; }), t("c_average"), BAR_GREEN, [0, 5]);
}

// The tiles and tables (text: they show even if the chart library cannot load).
function render(answers, by) {
  var series = rows(answers[1]), intents = rows(answers[2]), reasons = rows(answers[3]), csat = rows(answers[4]);
  renderTiles(summaryOf(answers));
  renderTable("table-series", "series", [
    { key: "day", label: "t_day" }, { key: "contacts", label: "c_contacts", as: AS.count, cls: "num" },
    { key: "automation_rate", label: "c_automation", as: AS.share, cls: "num" },
    { key: "service_level", label: "c_sl", as: AS.share, cls: "num" },
    { key: "csat_average", label: "t_csat", as: AS.stars, cls: "num" },
    { key: "first_person_p90", label: "t_p90_wait", as: AS.seconds, cls: "num" }
  ], series);
  csvLink("csv-series", "/api/analytics/series");

  renderTable("table-reasons", "reasons", [
    { key: "reason", label: "reason", as: reasonLabel }, { key: "handoffs", label: "handoffs", as: AS.count, cls: "num" },
    { key: "share", label: "t_share", as: AS.share, cls: "num" }
  ], reasons);
  csvLink("csv-reasons", "/api/analytics/reasons");

  renderTable("table-csat", "csat", [
    { key: "key", label: "t_key" }, { key: "ratings", label: "t_ratings", as: AS.count, cls: "num" },
    { key: "average", label: "t_average", as: AS.stars, cls: "num" }, { key: "share_4_5", label: "t_share_4_5", as: AS.share, cls: "num" }
  ], csat);
  csvLink("csv-csat", "/api/analytics/csat", { by: by });

  renderTable("table-intents", "intents", [
    { key: "intent", label: "t_intent" }, { key: "contacts", label: "c_contacts", as: AS.count, cls: "num" },
    { key: "assistant", label: "t_assistant", as: AS.count, cls: "num" },
    { key: "automation_rate", label: "c_automation", as: AS.share, cls: "num" },
    { key: "handoffs", label: "handoffs", as: AS.count, cls: "num" }, { key: "fcr_rate", label: "t_fcr", as: AS.share, cls: "num" },
    { key: "csat_average", label: "t_csat", as: AS.stars, cls: "num" }
  ], intents);
  csvLink("csv-intents", "/api/analytics/intents");

  misses("kb_miss", rows(answers[5]));
  misses("fallback", rows(answers[6]));
  renderProactive(isObject(answers[7]) ? answers[7].summary : null, rows(answers[8]));
  if (by === "queue") offerQueues(csat.map(function (r) { return r.key; }));
}

// A table of customer messages, each linking to the latest conversation it came from.
function misses(kind, list) {
  renderTable("table-" + kind, kind, [
    { key: "text", label: "t_text", cls: "said" }, { key: "count", label: "t_count", as: AS.count, cls: "num" },
    { key: "language", label: "language" }, { key: "last_at", label: "t_last", as: AS.time }
  ], list, function (row, tr) {
    var td = el("td");
    if (row.conversation_id) {
      var link = testid(el("a", "", t("t_open")), "miss-open");
      link.href = "#chat/" + encodeURIComponent(String(row.conversation_id));
      link.setAttribute("data-conversation-id", String(row.conversation_id));
      td.appendChild(link);
    }
    tr.appendChild(td);
  });
  csvLink("csv-" + kind, "/api/analytics/misses", { kind: kind });
}

export function wireAnalytics() {
  wireFilters(loadAnalytics);
  wireCharts();
  wireExperiments();
  $("csat-by").addEventListener("change", loadAnalytics);
  // The view's texts follow the language switch (the page's own labels change through data-i18n).
  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.addEventListener("click", function () { if (state.view === "analytics") loadAnalytics(); });
  });
}
