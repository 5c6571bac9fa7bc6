/* The context card: what the handoff packet says about the conversation (reason, intent, who the customer
 * is and how that was proven, intents with confidence, entities, known details, the order, the knowledge-base
 * articles the assistant tried, photos and what the customer added since) and any fields it grows later. */

import { $, clear, el, isObject, testid } from "./dom.js";
import { clockTime, field, fmt, pct, reasonLabel } from "./format.js";
import { currentLanguage, t } from "./language.js";
import { PHOTO_ID, photoIds, photoLink } from "./photos.js";

// Slots the card never lists: shown elsewhere, or bookkeeping.
const HIDDEN_SLOTS = { session_started_metadata: 1, language: 1, handoff_reason: 1, kb_hits: 1, requested_slot: 1 };
const ORDER_FIELDS = { id: 1, status: 1, placed_on: 1, delivered_on: 1, total: 1, currency: 1, items: 1 };
// Packet fields with a place of their own on the card; the rest are listed under "Other".
const SHOWN = { reason: 1, intent: 1, language: 1, channel: 1, customer_id: 1, identity: 1, customer_tier: 1, intent_history: 1,
  entities: 1, slots: 1, order: 1, kb_hits: 1, transcript: 1, conversation_id: 1, photos: 1, updates: 1, order_hint: 1,
  affect: 1 };
const FRUSTRATION = { calm: 1, annoyed: 1, angry: 1 };

// Who the customer is and how that was proven (packet.identity); packets without it are unverified,
// and a customer id named anywhere else in the packet is only a claim.
const VERIFIED_BY = { storefront: "verified_storefront", rest_token: "verified_rest_token",
  telegram_contact: "verified_telegram_contact", order_check: "verified_order_check" };

function idText(value) {
  if (typeof value === "number" && isFinite(value)) return String(value);
  return typeof value === "string" && value ? value : null;
}

function identityOf(packet) {
  var identity = isObject(packet.identity) ? packet.identity : {};
  var verifiedBy = typeof identity.verified_by === "string" && identity.verified_by ? identity.verified_by : null;
  return { customerId: idText(identity.customer_id) || idText(packet.customer_id), verifiedBy: verifiedBy };
}

function identityText(identity) {
  var how = identity.verifiedBy;
  var status = !how ? t("not_verified")
    : Object.prototype.hasOwnProperty.call(VERIFIED_BY, how) ? t(VERIFIED_BY[how]) : t("verified_other", { how: how });
  return identity.customerId ? identity.customerId + " · " + status : status;
}

// The card for `info`, the conversation as GET /api/conversations/<id> returns it.
export function renderContext(info) {
  var body = $("context-body");
  clear(body);
  var packet = isObject(info.packet) ? info.packet : {};
  body.appendChild(summary(info, packet));
  renderPhotosAndUpdates(body, packet);
  [intentHistory, entities, slots, order, kbTried, otherFields].forEach(function (section) {
    var parts = section(packet);
    if (parts) parts.forEach(function (node) { body.appendChild(node); });
  });
}

function summary(info, packet) {
  var fields = el("dl", "fields");
  field(fields, t("reason"), reasonLabel(packet.reason), "context-reason");
  affectFields(fields, isObject(packet.affect) ? packet.affect : {});
  field(fields, t("intent"), packet.intent, "context-intent");
  field(fields, t("skill"), info.skill);
  field(fields, t("language"), info.language || packet.language);
  field(fields, t("channel"), info.channel || packet.channel);
  var identity = identityOf(packet);
  var who = field(fields, t("customer"), identityText(identity), "context-identity");
  who.className = identity.verifiedBy ? "identity is-verified" : "identity is-unverified";
  who.setAttribute("data-verified", identity.verifiedBy || "");
  if (packet.customer_tier) field(fields, t("tier"), packet.customer_tier);
  if (info.transfer_note) field(fields, t("transfer_note"), info.transfer_note, "context-transfer-note");
  var hasOrder = isObject(packet.order) && Object.keys(packet.order).length > 0;
  if (!hasOrder && packet.order_hint) {
    field(fields, t("order"), t("order_hint", { order: fmt(packet.order_hint) }), "context-order-hint");
  }
  return fields;
}

// Risk flags first and loud (they are why the chat jumped the queue); the mood as the assistant judged it.
function affectFields(fields, affect) {
  var risk = Array.isArray(affect.risk) ? affect.risk.filter(function (f) { return typeof f === "string"; }) : [];
  if (risk.length) {
    var flags = field(fields, t("risk"), risk.map(reasonLabel).join(" · "), "context-risk");
    flags.className = "risk";
  }
  var now = FRUSTRATION[affect.frustration] ? affect.frustration : null;
  var peak = FRUSTRATION[affect.peak_frustration] ? affect.peak_frustration : now;
  if (!now || (now === "calm" && peak === "calm")) return;
  var text = peak && peak !== now ? t("mood_peak", { now: t("f_" + now), peak: t("f_" + peak) }) : t("f_" + now);
  var mood = field(fields, t("mood"), text, "context-mood");
  mood.className = "mood mood-" + (peak || now);
}

// Each section below returns its heading and content, or nothing when the packet has nothing for it.

function intentHistory(packet) {
  var history = Array.isArray(packet.intent_history) ? packet.intent_history : [];
  if (!history.length) return null;
  var list = testid(el("ol", "intent-history"), "context-intents");
  history.forEach(function (h) {
    var item = el("li");
    if (!isObject(h)) { item.textContent = fmt(h); list.appendChild(item); return; }
    item.appendChild(el("span", "intent-name", fmt(h.intent)));
    var conf = typeof h.confidence === "number" ? h.confidence : null;
    var meter = el("meter");
    meter.min = 0; meter.max = 1; meter.low = 0.5; meter.high = 0.8; meter.optimum = 1;
    meter.value = conf || 0;
    item.appendChild(meter);
    item.appendChild(el("span", "muted", conf === null ? t("none") : pct(conf)));
    if (h.text) item.appendChild(el("q", "said", h.text));
    list.appendChild(item);
  });
  return [el("h3", "", t("intent_history")), list];
}

function entities(packet) {
  var found = Array.isArray(packet.entities) ? packet.entities : [];
  if (!found.length) return null;
  var list = testid(el("ul", "plain"), "context-entities");
  found.forEach(function (e) {
    list.appendChild(el("li", "", isObject(e) ? fmt(e.entity) + ": " + fmt(e.value) : fmt(e)));
  });
  return [el("h3", "", t("entities")), list];
}

function slots(packet) {
  var values = isObject(packet.slots) ? packet.slots : {};
  var names = Object.keys(values).filter(function (k) {
    return !HIDDEN_SLOTS[k] && values[k] !== null && values[k] !== undefined && values[k] !== "";
  });
  if (!names.length) return null;
  var list = testid(el("dl", "fields"), "context-slots");
  names.forEach(function (k) { field(list, k, values[k]); });
  return [el("h3", "", t("slots")), list];
}

function order(packet) {
  var o = isObject(packet.order) ? packet.order : {};
  if (!Object.keys(o).length) return null;
  var list = testid(el("dl", "fields"), "context-order");
  field(list, "#", o.id || o.order_id);
  field(list, t("status"), o.status);
  field(list, t("placed_on"), o.placed_on);
  if (o.delivered_on) field(list, t("delivered_on"), o.delivered_on);
  field(list, t("total"), o.total === undefined ? null : fmt(o.total) + (o.currency ? " " + o.currency : ""));
  if (Array.isArray(o.items)) {
    field(list, t("items"), o.items.map(function (i) {
      return isObject(i) ? [i.name_zh && currentLanguage() === "zh" ? i.name_zh : i.name || i.sku, i.condition].filter(Boolean).join(", ") : fmt(i);
    }).join("; "));
  }
  Object.keys(o).forEach(function (k) { if (!ORDER_FIELDS[k] && k !== "order_id") field(list, k, o[k]); });
  return [el("h3", "", t("order")), list];
}

function kbTried(packet) {
  var hits = Array.isArray(packet.kb_hits) ? packet.kb_hits : [];
  if (!hits.length) return null;
  var list = testid(el("ul", "plain"), "context-kb");
  hits.forEach(function (h) {
    if (!isObject(h)) { list.appendChild(el("li", "", fmt(h))); return; }
    var label = h.title || h.question || h.article_id || h.id || fmt(h);
    var score = typeof h.score === "number" ? " (" + pct(h.score) + ")" : "";
    list.appendChild(el("li", "", fmt(label) + score));
  });
  return [el("h3", "", t("kb_tried")), list];
}

function otherFields(packet) {
  var rest = Object.keys(packet).filter(function (k) { return !SHOWN[k]; });
  if (!rest.length) return null;
  var list = el("dl", "fields");
  rest.forEach(function (k) { field(list, k, packet[k]); });
  return [el("h3", "", t("other")), list];
}

// The photos the customer sent (before the handoff: packet.photos; since: photo updates), and what they
// added since the handoff (packet.updates: order numbers, photos, what they said while waiting).
const UPDATE_KINDS = { text: "u_text", order_id: "u_order_id", photo: "u_photo" };

function renderPhotosAndUpdates(body, packet) {
  var updates = (Array.isArray(packet.updates) ? packet.updates : []).filter(function (u) {
    return isObject(u) && Object.prototype.hasOwnProperty.call(UPDATE_KINDS, u.kind);
  });
  var photos = photoIds(packet.photos, function (p) { return isObject(p) ? p.id : null; });
  photoIds(updates, function (u) { return u.kind === "photo" ? u.value : null; }).forEach(function (id) {
    if (photos.indexOf(id) < 0) photos.push(id);
  });
  if (photos.length) {
    body.appendChild(el("h3", "", t("photos")));
    var grid = testid(el("div", "photo-grid"), "context-photos");
    photos.forEach(function (id) { grid.appendChild(photoLink(id, "small")); });
    body.appendChild(grid);
  }
  if (!updates.length) return;
  body.appendChild(el("h3", "", t("updates")));
  var list = testid(el("ol", "updates"), "context-updates");
  updates.forEach(function (u) {
    var item = el("li", "update update-" + u.kind);
    item.setAttribute("data-kind", u.kind);
    item.appendChild(el("time", "time muted", clockTime(u.ts)));
    item.appendChild(el("span", "update-kind", t(UPDATE_KINDS[u.kind])));
    if (u.kind === "photo") {
      if (typeof u.value === "string" && PHOTO_ID.test(u.value)) item.appendChild(photoLink(u.value, "tiny"));
    } else {
      item.appendChild(el(u.kind === "text" ? "q" : "span", "update-value", fmt(u.value)));
    }
    list.appendChild(item);
  });
  body.appendChild(list);
}
