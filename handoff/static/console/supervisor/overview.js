/* The overview (GET /api/supervisor/overview): queues with their waits, agents with presence, load and
 * rating, and the last hour's service level with open tickets. */

import { $, cell, clear, el, isObject, testid } from "../dom.js";
import { field, fmt, pct, seconds } from "../format.js";
import { hasText, t } from "../language.js";

export function renderOverview(data) {
  data = data || {};
  renderQueues(Array.isArray(data.queues) ? data.queues : []);
  renderAgents(Array.isArray(data.agents) ? data.agents : []);
  renderServiceLevel(isObject(data.service_level) ? data.service_level : {}, data.tickets);
  renderTarget(isObject(data.service_level_target) ? data.service_level_target : null);
}

// The live level (last 15 minutes) against the target, and the alert once it has stayed below it for
// SERVICE_LEVEL_ALERT_MINUTES.
function renderTarget(target) {
  var box = $("sl-target");
  clear(box);
  if (!target || !isObject(target.target)) { box.hidden = true; return; }
  box.hidden = false;
  var goal = t("sl_target", { share: pct(target.target.share), seconds: fmt(target.target.seconds) });
  var state = target.level === null || target.level === undefined ? t("sl_no_handoffs")
    : t("sl_live", { level: pct(target.level) });
  box.appendChild(el("span", "", state + " · " + goal));
  box.classList.toggle("missed", Boolean(target.missed));
  var alert = $("sl-alert");
  alert.hidden = !target.alert;
  alert.textContent = target.alert ? t("sl_alert", { minutes: fmt(target.missed_minutes), goal: goal }) : "";
}

function renderQueues(queues) {
  var body = $("queues-body");
  clear(body);
  queues.forEach(function (q) {
    var row = testid(el("tr"), "queue-row");
    cell(row, q.queue || [q.skill || "*", q.language].join(":"));
    cell(row, fmt(q.length), "num");
    cell(row, seconds(q.oldest_wait_seconds), "num");
    cell(row, q.estimated_wait_seconds === null ? t("none") : seconds(q.estimated_wait_seconds), "num");
    body.appendChild(row);
  });
  $("queues-empty").hidden = queues.length > 0;
}

function renderAgents(agents) {
  var body = $("agents-body");
  clear(body);
  agents.forEach(function (a) {
    var row = testid(el("tr"), "agent-row");
    row.setAttribute("data-agent-id", String(a.id || a.agent_id));
    cell(row, (a.name ? a.name + " " : "") + "(" + (a.id || a.agent_id) + ")");
    var presence = String(a.presence || "offline");
    cell(row, hasText(presence) ? t(presence) : presence, "presence-" + presence.replace(/[^a-z]/g, ""));
    var active = typeof a.active === "number" ? a.active : a.load;
    cell(row, fmt(active) + (typeof a.capacity === "number" ? " / " + a.capacity : ""), "num");
    var rating = typeof a.rating_average === "number"
      ? t("reviews", { avg: a.rating_average.toFixed(1), n: a.rating_count || 0 }) : t("no_reviews");
    cell(row, rating);
    body.appendChild(row);
  });
}

function renderServiceLevel(level, tickets) {
  var sl = $("service-level");
  clear(sl);
  var share20 = pickShare(level, "20"), share60 = pickShare(level, "60");
  [["within_20", share20, "sl-20"], ["within_60", share60, "sl-60"]].forEach(function (x) {
    var box = testid(el("div", "stat"), x[2]);
    box.appendChild(el("span", "stat-value", pct(x[1])));
    box.appendChild(el("span", "stat-label", t(x[0])));
    sl.appendChild(box);
  });
  var details = el("dl", "fields small");
  var labels = { handoffs: "handoffs", answered: "sl_answered", abandoned: "sl_abandoned" };
  Object.keys(labels).forEach(function (k) { if (k in level) field(details, t(labels[k]), level[k]); });
  if ("average_wait_seconds" in level) field(details, t("sl_average_wait"), seconds(level.average_wait_seconds));
  if (isObject(tickets) || Array.isArray(tickets)) {
    var parts = Array.isArray(tickets) ? tickets.map(function (x) { return isObject(x) ? fmt(x.skill) + " " + fmt(x.count || x.open) : fmt(x); })
      : Object.keys(tickets).map(function (k) { return k + " " + fmt(tickets[k]); });
    field(details, t("open_tickets"), parts.join(" · ") || "0");
  }
  sl.appendChild(details);
}

// share_within_20s (0-1, null before the first handoff); other shapes are read as well as they can be
function pickShare(level, limit) {
  var keys = Object.keys(level).filter(function (k) { return k.indexOf(limit) >= 0; });
  var shares = keys.filter(function (k) { return /share|rate|pct|percent/.test(k); });
  var candidates = shares.length ? shares : keys.filter(function (k) { return !/answered|count/.test(k); });
  for (var i = 0; i < candidates.length; i++) {
    var value = level[candidates[i]];
    if (typeof value === "number") return value;
    if (isObject(value) && typeof value.share === "number") return value.share;
  }
  return null;
}
