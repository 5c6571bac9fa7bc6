/* The proactive messages card of the analytics view: how many late-order contacts the shop started (a
 * message about a late order) against those where the customer had to ask, the reply rate, and a table per
 * trigger, from GET /api/analytics/proactive and /api/analytics/proactive/triggers for the form's filters.
 * The card is built here on first use, before the experiments panel, so the page keeps one place per card. */

import { $, clear, el, isObject, testid } from "../dom.js";
import { pct } from "../format.js";
import { hasText, t } from "../language.js";
import { AS, csvLink, renderTable } from "./tables.js";
import { tile } from "./tiles.js";

const CARD = "analytics-proactive";

// The trigger as configured (handoff/proactive.yml), with its name in the interface language when known.
function triggerLabel(trigger) {
  if (!trigger) return t("none");
  var key = "pa_t_" + trigger;
  return hasText(key) ? t(key) : String(trigger);
}

function card() {
  var existing = $(CARD);
  if (existing) return existing;
  var section = testid(el("section", "card wide"), "proactive");
  section.id = CARD;
  section.setAttribute("aria-labelledby", "proactive-title");
  var head = el("div", "card-head");
  var title = el("h2");
  title.id = "proactive-title";
  var csv = el("span");
  csv.id = "csv-proactive-triggers";
  head.appendChild(title);
  head.appendChild(csv);
  var tiles = testid(el("div", "tiles"), "proactive-tiles");
  tiles.id = "proactive-tiles";
  var table = el("div", "scroll");
  table.id = "table-proactive-triggers";
  section.appendChild(head);
  section.appendChild(tiles);
  section.appendChild(table);
  var grid = document.querySelector("#view-analytics .analytics-grid");
  var before = grid && grid.querySelector("section.experiments");
  if (before) grid.insertBefore(section, before);
  else if (grid) grid.appendChild(section);
  return section;
}

function count(v) { return typeof v === "number" ? v : 0; }

// `summary`: the proactive summary object; `rows`: one per trigger.
export function renderProactive(summary, rows) {
  var s = isObject(summary) ? summary : {};
  card();
  $("proactive-title").textContent = t("pa_title");
  var box = $("proactive-tiles");
  clear(box);
  tile(box, "late-proactive", pct(s.late_proactive_share), t("pa_late_told"),
    t("pa_late_told_note", { n: count(s.late_proactive), total: count(s.late_orders) }), s.late_proactive_share);
  tile(box, "late-reactive", pct(s.late_reactive_share), t("pa_late_asked"),
    t("pa_late_asked_note", { n: count(s.late_reactive) }), s.late_reactive_share);
  tile(box, "reply-rate", pct(s.reply_rate), t("pa_reply_rate"),
    t("pa_reply_note", { replied: count(s.proactive_replied), contacts: count(s.proactive_contacts) }), s.reply_rate);
  tile(box, "proactive-sent", String(count(s.proactive_sent)), t("pa_sent"),
    t("pa_sent_note", { n: count(s.proactive_handoffs) }), s.proactive_sent);

  renderTable("table-proactive-triggers", "proactive-triggers", [
    { key: "trigger", label: "pa_trigger", as: triggerLabel },
    { key: "late_order", label: "pa_late_order", as: function (v) { return v ? t("pa_yes") : ""; } },
    { key: "sent", label: "pa_sent_col", as: AS.count, cls: "num" },
    { key: "contacts", label: "pa_started", as: AS.count, cls: "num" },
    { key: "replied", label: "pa_replied", as: AS.count, cls: "num" },
    { key: "reply_rate", label: "pa_reply_rate", as: AS.share, cls: "num" },
    { key: "handoffs", label: "handoffs", as: AS.count, cls: "num" }
  ], Array.isArray(rows) ? rows : []);
  csvLink("csv-proactive-triggers", "/api/analytics/proactive/triggers");
}
