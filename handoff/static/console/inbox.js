/* The agent's inbox (GET /api/console/inbox): their status, the offers waiting for them with a countdown,
 * and the chats they hold. Offers are accepted or declined here; an expired one disappears with the next
 * load. */

import { alertOffer, askNotificationPermission } from "./alerts.js";
import { api, enc } from "./api.js";
import { renderChats, renderPresence } from "./chat-list.js";
import { updateActions } from "./conversation.js";
import { $, button, el, isObject, testid } from "./dom.js";
import { reasonLabel } from "./format.js";
import { t } from "./language.js";
import { go } from "./nav.js";
import { failed } from "./notice.js";
import { sendWatch } from "./socket.js";
import { session, state } from "./state.js";
import { fetchMessages } from "./transcript.js";

const TICK_MS = 250;
const URGENT_SECONDS = 5;

let inboxTimer = null;

// Several events in a row load the inbox once.
export function loadInboxSoon() {
  clearTimeout(inboxTimer);
  inboxTimer = setTimeout(loadInbox, 150);
}

export function loadInbox() {
  var me = session.me;
  if (!me || !me.agent_id) return Promise.resolve();
  return api("GET", "/api/console/inbox").then(function (inbox) {
    inbox = inbox || {};
    if (isObject(inbox.agent)) state.agent = inbox.agent;
    var offers = {};
    (inbox.offers || []).forEach(function (offer) {
      var known = state.offers[offer.conversation_id];
      offers[offer.conversation_id] = Object.assign({}, known || {}, offer, { first: known ? known.first : Date.now() + session.skew });
      if (!known) alertOffer(offer);
    });
    state.offers = offers;
    state.chats = inbox.chats || [];
    state.chats.forEach(function (chat) { fetchMessages(chat.conversation_id).catch(function () {}); });
    renderPresence();
    renderOffers();
    renderChats();
    updateActions();
    sendWatch();
  }).catch(function (err) { if (err.status !== 401) failed(err); });
}

function offerRemaining(offer) {
  return Math.ceil((Number(offer.expires_at) * 1000 - (Date.now() + session.skew)) / 1000);
}

// Offers keep their element while they stay the same: the inbox reloads on every event, and a list rebuilt
// between the press and the release of the mouse would swallow the agent's click on Accept.
export function renderOffers() {
  var list = $("offers");
  var kept = {};
  Array.prototype.slice.call(list.children).forEach(function (item) {
    var cid = item.getAttribute("data-conversation-id");
    if (state.offers[cid]) kept[cid] = item;
    else list.removeChild(item);
  });
  var ids = Object.keys(state.offers);
  ids.forEach(function (cid, index) {
    var offer = state.offers[cid];
    var item = kept[cid];
    if (!item || item.getAttribute("data-shape") !== offerShape(offer)) {
      var fresh = offerItem(cid, offer);
      if (item) list.replaceChild(fresh, item);
      item = fresh;
    }
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  $("offers-empty").hidden = ids.length > 0;
  tick();
}

// What an offer's element shows; the interface language is part of it.
function offerShape(offer) {
  return JSON.stringify([t("accept"), offer.reason, offer.skill, offer.language, offer.first, offer.expires_at]);
}

function offerItem(cid, offer) {
  var item = testid(el("li", "offer"), "offer");
  item.setAttribute("data-conversation-id", cid);
  item.setAttribute("data-shape", offerShape(offer));
  item.appendChild(el("strong", "offer-title", reasonLabel(offer.reason)));
  item.appendChild(el("span", "muted", [offer.skill || "", offer.language || ""].filter(Boolean).join(" · ")));
  var bar = el("progress", "offer-bar");
  var total = Math.max(1, Math.round((Number(offer.expires_at) * 1000 - offer.first) / 1000));
  bar.max = total;
  bar.setAttribute("aria-hidden", "true");
  var countdown = testid(el("span", "countdown"), "offer-countdown");
  countdown.setAttribute("role", "timer");
  var row = el("div", "row");
  var accept = button(t("accept"), "primary", "offer-accept");
  var decline = button(t("decline"), "", "offer-decline");
  accept.addEventListener("click", function () { acceptOffer(cid, accept); });
  decline.addEventListener("click", function () { declineOffer(cid, decline); });
  row.appendChild(accept);
  row.appendChild(decline);
  item.appendChild(bar);
  item.appendChild(countdown);
  item.appendChild(row);
  return item;
}

// The countdowns: seconds left, the bar, urgency; an expired offer is disabled and the inbox reloaded.
function tick() {
  Array.prototype.forEach.call(document.querySelectorAll("#offers .offer"), function (item) {
    var offer = state.offers[item.getAttribute("data-conversation-id")];
    if (!offer) return;
    var left = offerRemaining(offer);
    var countdown = item.querySelector(".countdown");
    var bar = item.querySelector("progress");
    countdown.textContent = left > 0 ? t("seconds_left", { s: left }) : t("expired");
    bar.value = Math.max(0, Math.min(bar.max, left));
    item.classList.toggle("urgent", left <= URGENT_SECONDS);
    if (left <= 0 && !offer.expiredSeen) {
      offer.expiredSeen = true;
      item.classList.add("expired");
      Array.prototype.forEach.call(item.querySelectorAll("button"), function (b) { b.disabled = true; });
      setTimeout(loadInbox, 1000);
    }
  });
}

function acceptOffer(cid, control) {
  control.disabled = true;
  api("POST", "/api/offers/" + enc(cid) + "/accept").then(function () {
    delete state.offers[cid];
    renderOffers();
    return loadInbox().then(function () { go("chat/" + cid); });
  }).catch(function (err) {
    control.disabled = false;
    failed(err);
    loadInbox();
  });
}

function declineOffer(cid, control) {
  control.disabled = true;
  api("POST", "/api/offers/" + enc(cid) + "/decline").then(function () {
    delete state.offers[cid];
    renderOffers();
    loadInbox();
  }).catch(function (err) { control.disabled = false; failed(err); loadInbox(); });
}

export function wireInbox() {
  $("presence").addEventListener("change", function (event) {
    var value = event.target.value;
    if (value === "online") askNotificationPermission();
    api("PUT", "/api/agents/" + enc(session.me.agent_id) + "/presence", { presence: value }).then(function () {
      state.agent = Object.assign({}, state.agent || {}, { presence: value });
      renderPresence();
      loadInbox();
    }).catch(function (err) { failed(err); renderPresence(); });
  });
  setInterval(tick, TICK_MS);
}
