/* Recent routing decisions (GET /api/decisions): click one for its facts, each candidate's score parts and
 * the filters that removed the others (GET /api/decisions/<id>). */

import { api, enc } from "../api.js";
import { $, button, cell, clear, el, isObject, testid } from "../dom.js";
import { clockTime, field, fmt } from "../format.js";
import { hasText, t } from "../language.js";
import { go } from "../nav.js";
import { failed } from "../notice.js";
import { state } from "../state.js";

const FILTERS = ["no_skill", "not_online", "no_language", "full", "declined"];  // the order they are listed in

export function loadDecisions() {
  api("GET", "/api/decisions?limit=20").then(function (list) {
    list = Array.isArray(list) ? list : (list && list.decisions) || [];
    var ul = $("decision-list");
    clear(ul);
    list.forEach(function (d) {
      var item = el("li");
      var b = button("", "decision-item" + (state.decision === String(d.id) ? " selected" : ""), "decision-item");
      b.setAttribute("data-decision-id", String(d.id));
      b.setAttribute("data-conversation-id", String(d.conversation_id));
      b.appendChild(el("strong", "", "#" + d.id));
      b.appendChild(el("span", "", " " + (d.queue || "") + " → " + (d.chosen || t("nobody"))));
      b.appendChild(el("span", "muted", " " + [d.how, d.outcome, clockTime(d.at)].filter(Boolean).join(" · ")));
      b.addEventListener("click", function () { showDecision(String(d.id)); });
      item.appendChild(b);
      ul.appendChild(item);
    });
    $("decisions-empty").hidden = list.length > 0;
  }).catch(failed);
}

export function closeDecision() {
  $("decision-detail").hidden = true;
  state.decision = null;
}

function showDecision(id) {
  state.decision = id;
  Array.prototype.forEach.call(document.querySelectorAll(".decision-item"), function (b) {
    b.classList.toggle("selected", b.getAttribute("data-decision-id") === id);
  });
  api("GET", "/api/decisions/" + enc(id)).then(function (d) {
    var box = $("decision-detail");
    clear(box);
    box.hidden = false;
    var head = el("div", "row");
    head.appendChild(el("h3", "", t("decision", { id: d.id })));
    var close = button("×", "link close", "decision-close");
    close.setAttribute("aria-label", t("cancel"));
    close.addEventListener("click", closeDecision);
    head.appendChild(close);
    box.appendChild(head);
    box.appendChild(facts(d));
    box.appendChild(el("h4", "", t("candidates")));
    box.appendChild(breakdown(d));
    box.appendChild(el("h4", "", t("removed_by")));
    box.appendChild(filters(d));
    var open = button(t("open_conversation"), "", "decision-open");
    open.addEventListener("click", function () { go("chat/" + d.conversation_id); });
    box.appendChild(open);
  }).catch(failed);
}

function facts(d) {
  var list = el("dl", "fields small");
  field(list, t("conversation"), d.conversation_id);
  field(list, t("queue"), d.queue);
  field(list, t("how"), d.how);
  field(list, t("outcome"), d.outcome);
  field(list, t("pool"), d.pool_size);
  var w = isObject(d.weights) ? d.weights : {};
  field(list, t("score_weights"), [t("w_skill") + " " + fmt(w.skill), t("w_load") + " " + fmt(w.load), t("w_rating") + " " + fmt(w.rating)].join(" · "));
  return list;
}

// Each candidate's score parts (the raw value each came from in brackets) and total.
function breakdown(d) {
  var table = testid(el("table", "breakdown"), "decision-breakdown");
  var thead = el("tr");
  [t("agent"), t("w_skill"), t("w_load"), t("w_rating"), t("total_score")].forEach(function (h) { thead.appendChild(el("th", "", h)); });
  var th = el("thead");
  th.appendChild(thead);
  table.appendChild(th);
  var tb = el("tbody");
  (Array.isArray(d.candidates) ? d.candidates : []).forEach(function (c) {
    var parts = isObject(c.parts) ? c.parts : {};
    var chosen = c.agent_id === d.chosen;
    var row = testid(el("tr", chosen ? "chosen" : ""), "candidate-row");
    row.setAttribute("data-agent-id", String(c.agent_id));
    cell(row, c.agent_id + (chosen ? " ✓ " + t("chosen") : ""));
    var partCell = function (value, raw) {
      var td = cell(row, fmt(value), "num");
      if (raw !== null && raw !== undefined) td.appendChild(el("small", "muted", " (" + fmt(raw) + ")"));
      return td;
    };
    testid(partCell(parts.skill, c.proficiency), "part-skill");
    testid(partCell(parts.load, c.load), "part-load");
    testid(partCell(parts.rating, c.rating), "part-rating");
    var total = typeof c.total === "number" ? c.total : (parts.skill || 0) + (parts.load || 0) + (parts.rating || 0);
    testid(cell(row, fmt(total), "num total"), "part-total");
    tb.appendChild(row);
  });
  table.appendChild(tb);
  return table;
}

function filters(d) {
  var removed = testid(el("ul", "plain"), "decision-filters");
  var r = isObject(d.removed) ? d.removed : {};
  Object.keys(r).sort(function (a, b) { return FILTERS.indexOf(a) - FILTERS.indexOf(b); }).forEach(function (name) {
    var entry = isObject(r[name]) ? r[name] : { count: r[name] };
    var label = hasText("filter_" + name) ? t("filter_" + name) : name;
    var sample = Array.isArray(entry.sample) && entry.sample.length ? ": " + entry.sample.join(", ") : "";
    var item = testid(el("li", "", label + " — " + fmt(entry.count) + sample), "decision-filter");
    item.setAttribute("data-filter", name);
    removed.appendChild(item);
  });
  return removed;
}
