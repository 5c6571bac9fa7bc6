/* The inbox (GET /api/studio/inbox): real customer messages the assistant was unsure of, handed off, or an
 * agent flagged, masked by the server, in the groups of similar messages the server forms. An editor opens
 * one (with the conversation around it and the model's ranking), accepts it into the training data under
 * the right intent (optionally reworded) or dismisses it; checkboxes and group actions do the same for
 * several at once (POST /api/studio/inbox/accept and /dismiss). */

import { api, enc, query } from "./api.js";
import { $, button, clear, el, meter, testid } from "./dom.js";
import { clearErrors, fieldError, showError } from "./forms.js";
import { dateTime, pct } from "./format.js";
import { fillIntentSelect, forget as forgetIntents } from "./intent-names.js";
import { label, t } from "./language.js";
import { go, hashOf } from "./nav.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

const FALLBACK = "nlu_fallback";

const inbox = {
  items: {},      // id -> item
  order: [],      // ids as listed
  groups: [],     // lists of ids
  counts: null,
  selected: {},   // id -> true
  current: null,  // the open item's id
  detail: null,   // {item, context} of the open item
  loading: null
};

function filters() {
  return { status: $("inbox-status").value, language: $("inbox-language").value, reason: $("inbox-reason").value };
}

export function loadInbox() {
  var request = api("GET", "/api/studio/inbox" + query(filters()));
  inbox.loading = request;
  return request.then(function (data) {
    if (inbox.loading !== request) return;
    inbox.items = {};
    inbox.order = [];
    (data.items || []).forEach(function (item) { inbox.items[item.id] = item; inbox.order.push(item.id); });
    inbox.groups = (data.groups || []).filter(function (group) {
      return group.some(function (id) { return inbox.items[id]; });
    });
    inbox.counts = data.counts || null;
    Object.keys(inbox.selected).forEach(function (id) { if (!inbox.items[id]) delete inbox.selected[id]; });
    $("inbox-error").hidden = true;
    renderList();
    renderBadge();
  }, function (err) {
    $("inbox-error").textContent = t("error", { m: err.message });
    $("inbox-error").hidden = false;
  });
}

// The tab's badge: open items, refreshed with the list.
export function renderBadge() {
  var badge = $("tab-inbox-badge");
  var open = inbox.counts ? inbox.counts.open : 0;
  badge.textContent = open > 99 ? "99+" : String(open);
  badge.hidden = !open;
}

function predictedText(item) {
  var p = item.predicted;
  if (!p || !p.intent) return t("no_prediction");
  return p.intent + " " + pct(p.confidence);
}

function reasonChips(item) {
  var chips = el("span", "chips");
  (item.reasons || []).forEach(function (reason) {
    chips.appendChild(el("span", "chip reason-" + reason, label("reason_", reason)));
  });
  return chips;
}

function itemRow(id) {
  var item = inbox.items[id];
  var li = el("li", "inbox-item" + (id === inbox.current ? " selected" : ""));
  li.setAttribute("data-item-id", id);
  testid(li, "inbox-item");
  if (canWrite() && item.status === "open") {
    var box = document.createElement("input");
    box.type = "checkbox";
    box.className = "pick";
    box.checked = !!inbox.selected[id];
    box.setAttribute("aria-label", t("select_item", { text: item.text }));
    testid(box, "inbox-pick");
    box.addEventListener("change", function () {
      if (box.checked) inbox.selected[id] = true; else delete inbox.selected[id];
      renderBulk();
      syncGroupBoxes();
    });
    li.appendChild(box);
  }
  var open = button("", "item-open", "inbox-open");
  open.setAttribute("aria-current", id === inbox.current ? "true" : "false");
  open.appendChild(testid(el("span", "item-text", item.text), "inbox-item-text"));
  var meta = el("span", "item-meta");
  meta.appendChild(el("span", "lang-tag", item.language));
  meta.appendChild(testid(el("span", "predicted", predictedText(item)), "inbox-predicted"));
  meta.appendChild(reasonChips(item));
  meta.appendChild(el("span", "muted", dateTime(item.ts)));
  open.appendChild(meta);
  open.addEventListener("click", function () { go(hashOf(["inbox", id])); });
  li.appendChild(open);
  return li;
}

function groupBlock(group) {
  var ids = group.filter(function (id) { return inbox.items[id]; });
  if (ids.length === 1) return itemRow(ids[0]);
  var li = el("li", "inbox-group");
  testid(li, "inbox-group");
  var head = el("div", "group-head");
  if (canWrite() && ids.every(function (id) { return inbox.items[id].status === "open"; })) {
    var box = document.createElement("input");
    box.type = "checkbox";
    box.className = "group-pick";
    box.setAttribute("aria-label", t("select_group", { n: ids.length }));
    box.setAttribute("data-group", ids.join(" "));
    testid(box, "group-pick");
    box.addEventListener("change", function () {
      ids.forEach(function (id) { if (box.checked) inbox.selected[id] = true; else delete inbox.selected[id]; });
      renderList();
    });
    head.appendChild(box);
    head.appendChild(el("span", "group-title", t("similar_messages", { n: ids.length })));
    var dismiss = button(t("dismiss_group"), "small", "group-dismiss");
    dismiss.setAttribute("data-write", "");
    dismiss.addEventListener("click", function () { dismissItems(ids); });
    head.appendChild(dismiss);
  } else {
    head.appendChild(el("span", "group-title", t("similar_messages", { n: ids.length })));
  }
  li.appendChild(head);
  var list = el("ul", "group-items");
  ids.forEach(function (id) { list.appendChild(itemRow(id)); });
  li.appendChild(list);
  return li;
}

function syncGroupBoxes() {
  Array.prototype.forEach.call(document.querySelectorAll("#inbox-list .group-pick"), function (box) {
    var ids = box.getAttribute("data-group").split(" ");
    var picked = ids.filter(function (id) { return inbox.selected[id]; }).length;
    box.checked = picked === ids.length;
    box.indeterminate = picked > 0 && picked < ids.length;
  });
}

function renderList() {
  var list = $("inbox-list");
  clear(list);
  var shown = {};
  inbox.groups.forEach(function (group) {
    list.appendChild(groupBlock(group));
    group.forEach(function (id) { shown[id] = true; });
  });
  inbox.order.forEach(function (id) { if (!shown[id]) list.appendChild(itemRow(id)); });
  $("inbox-empty").hidden = inbox.order.length > 0;
  var counts = inbox.counts;
  $("inbox-counts").textContent = counts ? t("inbox_counts", { open: counts.open, resolved: counts.resolved }) : "";
  syncGroupBoxes();
  renderBulk();
}

function selectedIds() { return Object.keys(inbox.selected).filter(function (id) { return inbox.items[id]; }); }

function renderBulk() {
  var ids = selectedIds();
  var form = $("inbox-bulk");
  form.hidden = !canWrite() || ids.length === 0;
  $("inbox-selected").textContent = t("n_selected", { n: ids.length });
  if (!form.hidden && !$("inbox-bulk-intent").options.length) fillIntentSelect($("inbox-bulk-intent")).catch(failed);
}

function afterResolving(ids) {
  ids.forEach(function (id) { delete inbox.selected[id]; });
  if (inbox.current && ids.indexOf(inbox.current) >= 0) {
    // Open the next message still listed, so an editor can work down the inbox.
    var at = inbox.order.indexOf(inbox.current);
    var next = inbox.order.slice(at + 1).concat(inbox.order.slice(0, at)).filter(function (id) {
      return ids.indexOf(id) < 0;
    })[0];
    inbox.current = null;
    return loadInbox().then(function () {
      if (next && inbox.items[next]) go(hashOf(["inbox", next]));
      else { go("inbox"); showPlaceholder(); }
    });
  }
  return loadInbox();
}

function dismissItems(ids) {
  return api("POST", "/api/studio/inbox/dismiss", { ids: ids }).then(function (result) {
    notify(t("dismissed_n", { n: (result.dismissed || []).length }));
    return afterResolving(result.dismissed || []);
  }, failed);
}

// Accepts `ids` under `intent`; `text` rewords a single item. Errors go to `form`.
function acceptItems(form, ids, intent, text) {
  clearErrors(form);
  if (!intent) { fieldError(form, "intent", t("choose_intent_first")); return Promise.resolve(); }
  var body = { ids: ids, intent: intent };
  if (text !== undefined) body.text = text;
  return api("POST", "/api/studio/inbox/accept", body).then(function (result) {
    var accepted = result.accepted || [];
    var refused = result.refused || [];
    if (accepted.length) {
      forgetIntents();
      notify(t("accepted_n", { n: accepted.length, intent: intent }));
    }
    if (refused.length) fieldError(form, refused.length === 1 && ids.length === 1 ? "text" : null, refused.map(function (r) { return r.message; }).join(" · "));
    return afterResolving(accepted.map(function (a) { return a.id; }));
  }, function (err) { showError(form, err); });
}

function showPlaceholder() {
  $("inbox-item").hidden = true;
  $("inbox-placeholder").hidden = false;
}

function field(list, name, value, id) {
  list.appendChild(el("dt", "", name));
  var dd = el("dd", "", value);
  if (id) testid(dd, id);
  list.appendChild(dd);
  return dd;
}

function renderDetail() {
  var detail = inbox.detail;
  if (!detail) { showPlaceholder(); return; }
  var item = detail.item;
  $("inbox-placeholder").hidden = true;
  $("inbox-item").hidden = false;
  $("inbox-text").textContent = item.text;
  var fields = $("inbox-fields");
  clear(fields);
  field(fields, t("language"), label("lang_", item.language), "inbox-language-value");
  var reasons = field(fields, t("reason"), "");
  reasons.appendChild(reasonChips(item));
  if (item.handoff_reason) field(fields, t("handoff_reason"), label("r_", item.handoff_reason));
  field(fields, t("predicted"), predictedText(item), "inbox-predicted-value");
  if (item.suggested_intent) field(fields, t("suggested_intent"), item.suggested_intent, "inbox-suggested");
  field(fields, t("masked"), item.masked && item.masked.length ? item.masked.map(function (k) { return label("pii_", k); }).join(", ") : t("masked_nothing"), "inbox-masked");
  field(fields, t("received"), dateTime(item.ts));
  if (item.status !== "open") {
    var how = item.status === "accepted" ? t("accepted_into", { intent: item.accepted_intent || "?" }) : t("status_dismissed");
    field(fields, t("status"), how + " · " + (item.resolved_by || "") + " · " + dateTime(item.resolved_at), "inbox-resolution");
  }

  var ranking = $("inbox-ranking");
  clear(ranking);
  var rows = (item.predicted && item.predicted.ranking && item.predicted.ranking.length)
    ? item.predicted.ranking
    : (item.predicted && item.predicted.intent ? [{ name: item.predicted.intent, confidence: item.predicted.confidence }] : []);
  rows.forEach(function (row) {
    var li = testid(el("li", "rank"), "ranking-row");
    li.appendChild(el("span", "rank-name", row.name));
    li.appendChild(meter(row.confidence, pct(row.confidence)));
    li.appendChild(el("span", "rank-value", pct(row.confidence)));
    ranking.appendChild(li);
  });
  if (!rows.length) ranking.appendChild(el("li", "muted", t("no_prediction")));

  var flags = item.flags || [];
  $("inbox-flags-wrap").hidden = !flags.length;
  clear($("inbox-flags"));
  flags.forEach(function (flag) {
    var li = el("li", "flag");
    li.appendChild(el("strong", "", flag.by || "?"));
    li.appendChild(el("span", "muted", " · " + dateTime(flag.ts)));
    if (flag.intent) li.appendChild(el("div", "", t("flag_meant", { intent: flag.intent })));
    if (flag.note) li.appendChild(el("q", "flag-note", flag.note));
    $("inbox-flags").appendChild(li);
  });

  var form = $("annotate-form");
  form.hidden = !canWrite() || item.status !== "open";
  clearErrors(form);
  if (!form.hidden) {
    var guess = item.suggested_intent || (item.predicted && item.predicted.intent !== FALLBACK ? item.predicted.intent : "");
    fillIntentSelect($("annotate-intent"), guess || "").catch(failed);
    $("annotate-text").value = item.text;
  }

  var context = $("inbox-context");
  clear(context);
  (detail.context || []).forEach(function (line) {
    var li = el("li", "ctx ctx-" + line.author + (line.this ? " this" : ""));
    if (line.this) li.setAttribute("aria-current", "true");
    testid(li, "context-line");
    var meta = el("span", "ctx-meta", label("author_", line.author) + (line.ts ? " · " + dateTime(line.ts) : ""));
    li.appendChild(meta);
    li.appendChild(el("span", "ctx-text", line.text));
    context.appendChild(li);
  });
  if (!(detail.context || []).length) context.appendChild(el("li", "muted", t("no_context")));
}

function openItem(id) {
  inbox.current = id;
  Array.prototype.forEach.call(document.querySelectorAll("#inbox-list .inbox-item"), function (li) {
    var on = li.getAttribute("data-item-id") === id;
    li.classList.toggle("selected", on);
    var b = li.querySelector(".item-open");
    if (b) b.setAttribute("aria-current", on ? "true" : "false");
  });
  return api("GET", "/api/studio/inbox/" + enc(id)).then(function (detail) {
    if (inbox.current !== id) return;
    inbox.detail = detail;
    renderDetail();
  }, function (err) {
    inbox.detail = null;
    showPlaceholder();
    failed(err);
  });
}

// The view opened (`entering`: from another view, so the list is loaded again); `parts`: [] or [item id].
export function show(parts, entering) {
  var id = parts[0];
  var listed = entering || !inbox.loading ? loadInbox() : Promise.resolve();
  if (!id) { inbox.current = null; inbox.detail = null; showPlaceholder(); return listed; }
  if (id !== inbox.current || !inbox.detail) return Promise.all([listed, openItem(id)]);
  return listed;
}

export function render() {
  renderList();
  renderDetail();
}

export function wireInbox() {
  ["inbox-status", "inbox-language", "inbox-reason"].forEach(function (id) {
    $(id).addEventListener("change", function () { inbox.selected = {}; loadInbox(); });
  });
  $("inbox-refresh").addEventListener("click", function () { loadInbox(); });
  $("inbox-bulk").addEventListener("submit", function (event) {
    event.preventDefault();
    acceptItems($("inbox-bulk"), selectedIds(), $("inbox-bulk-intent").value);
  });
  $("inbox-bulk-dismiss").addEventListener("click", function () { dismissItems(selectedIds()); });
  $("annotate-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var item = inbox.detail && inbox.detail.item;
    if (!item) return;
    var text = $("annotate-text").value.trim();
    acceptItems($("annotate-form"), [item.id], $("annotate-intent").value, text && text !== item.text ? text : undefined);
  });
  $("annotate-dismiss").addEventListener("click", function () {
    if (inbox.detail) dismissItems([inbox.detail.item.id]);
  });
}
