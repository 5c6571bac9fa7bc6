/* The key numbers of the period (GET /api/analytics/summary) as tiles. The service-level tile names its
 * target (80% within 20 s unless configured otherwise) and is flagged when the period missed it. */

import { $, clear, el, isObject, testid } from "../dom.js";
import { pct, seconds } from "../format.js";
import { t } from "../language.js";

// One tile in `box`: its value as shown, label and note; `raw` (a number) is kept as data-value.
export function tile(box, name, value, label, note, raw) {
  var node = testid(el("div", "stat tile"), "kpi-" + name);
  var shown = testid(el("span", "stat-value", value), "kpi-" + name + "-value");
  if (typeof raw === "number") node.setAttribute("data-value", String(raw));
  node.appendChild(shown);
  node.appendChild(el("span", "stat-label", label));
  if (note) node.appendChild(el("span", "stat-note muted", note));
  box.appendChild(node);
  return node;
}

function percentiles(s, key) {
  return t("k_p50_p90", { p90: seconds(s[key + "_p90"]) });
}

export function renderTiles(s) {
  s = isObject(s) ? s : {};
  var box = $("analytics-tiles");
  clear(box);
  tile(box, "contacts", String(s.contacts || 0), t("k_contacts"),
    t("k_contacts_note", { ended: s.ended || 0, person: s.person || 0 }), s.contacts);
  tile(box, "automation", pct(s.automation_rate), t("k_automation"), t("k_automation_note"), s.automation_rate);
  tile(box, "fcr", pct(s.fcr_rate), t("k_fcr"), t("k_fcr_note"), s.fcr_rate);
  tile(box, "first-response", seconds(s.first_response_p50), t("k_first_response"), percentiles(s, "first_response"), s.first_response_p50);
  tile(box, "first-person", seconds(s.first_person_p50), t("k_first_person"), percentiles(s, "first_person"), s.first_person_p50);
  tile(box, "handle", seconds(s.handle_p50), t("k_handle"), percentiles(s, "handle"), s.handle_p50);
  serviceLevel(box, s);
  var csat = typeof s.csat_average === "number" ? s.csat_average.toFixed(2) + " ★" : t("none");
  tile(box, "csat", csat, t("k_csat"), t("k_csat_note", { n: s.csat_count || 0 }), s.csat_average);
}

function serviceLevel(box, s) {
  var target = isObject(s.service_level_target) ? s.service_level_target : {};
  var share = typeof target.share === "number" ? target.share : 0.8;
  var limit = typeof target.seconds === "number" ? target.seconds : 20;
  var note = t("k_sl_target", { share: pct(share), seconds: limit }) + " · " + t("k_handoffs") + " " + (s.handoffs || 0);
  var node = tile(box, "service-level", pct(s.service_level), t("k_service_level"), note, s.service_level);
  if (typeof s.service_level !== "number") return;
  var missed = s.service_level < share;
  node.classList.add(missed ? "is-missed" : "is-met");
  node.appendChild(testid(el("span", "flag", t(missed ? "k_sl_missed" : "k_sl_met")), missed ? "sl-missed" : "sl-met"));
}
