/* Transcripts, read by cursor (GET /api/conversations/<id>/messages?after=<id>): a reconnect or a duplicate
 * event never shows a message twice, and one request per conversation runs at a time. New customer messages
 * count as unread in chats that are not open, and refresh the suggestions of the open one. */

import { api, enc } from "./api.js";
import { renderChats } from "./chat-list.js";
import { $, el, isObject, testid } from "./dom.js";
import { flagButton } from "./flag-message.js";
import { clockTime } from "./format.js";
import { loadSuggestionsSoon } from "./kb-suggestions.js";
import { hasText, t } from "./language.js";
import { messagePhotos, photoLink } from "./photos.js";
import { conv, session, state } from "./state.js";

const PAGE = 500;  // the server's page size: a full page means more may follow

export function fetchMessages(cid) {
  var c = conv(cid);
  if (c.inflight) { c.again = true; return c.inflight; }
  var path = "/api/conversations/" + enc(cid) + "/messages" + (c.cursor ? "?after=" + enc(c.cursor) : "");
  c.inflight = api("GET", path).then(function (list) {
    var fresh = [];
    (Array.isArray(list) ? list : []).forEach(function (m) {
      if (!m || !m.id || c.ids[m.id]) return;
      c.ids[m.id] = true;
      c.messages.push(m);
      c.cursor = m.id;
      fresh.push(m);
    });
    if (Array.isArray(list) && list.length >= PAGE) c.again = true;  // one page of a long transcript
    var wasLoaded = c.loaded;
    c.loaded = true;
    if (fresh.length) newMessages(cid, fresh, wasLoaded);
  }).then(function () {
    c.inflight = null;
    if (c.again) { c.again = false; return fetchMessages(cid); }
  }, function (err) {
    c.inflight = null;
    c.again = false;
    throw err;
  });
  return c.inflight;
}

function newMessages(cid, fresh, wasLoaded) {
  var fromCustomer = fresh.filter(function (m) { return m.author === "customer"; }).length;
  if (cid === state.selected) {
    var log = $("transcript");
    fresh.forEach(function (m) { log.appendChild(messageItem(m)); });
    log.scrollTop = log.scrollHeight;
    if (fromCustomer) { $("customer-typing").hidden = true; loadSuggestionsSoon(cid); }
  } else if (wasLoaded && fromCustomer) {
    conv(cid).unread += fromCustomer;
  }
  renderChats();
}

function authorLabel(m) {
  var key = "author_" + m.author;
  var label = hasText(key) ? t(key) : String(m.author);
  var me = session.me;
  if (m.author === "agent" && m.agent_id) label += " " + (m.agent_id === (me && me.agent_id) ? "(" + t("you") + ")" : m.agent_id);
  return label;
}

export function messageItem(m) {
  var author = /^(customer|bot|agent|system)$/.test(m.author) ? m.author : "other";
  var item = testid(el("li", "msg msg-" + author + (m.internal ? " internal" : "")), "message");
  item.setAttribute("data-author", author);
  item.setAttribute("data-message-id", String(m.id));
  if (m.internal) item.setAttribute("data-internal", "true");
  var meta = el("div", "meta");
  meta.appendChild(el("span", "author", authorLabel(m)));
  if (m.internal) meta.appendChild(testid(el("span", "tag", t("internal_note")), "internal-note"));
  meta.appendChild(el("time", "time", clockTime(m.ts)));
  if (author === "customer" && m.text && !m.internal) meta.appendChild(flagButton());
  item.appendChild(meta);
  var photos = messagePhotos(m);
  if (photos.length) {
    var gallery = testid(el("div", "photos"), "message-photos");
    photos.forEach(function (id) { gallery.appendChild(photoLink(id)); });
    item.appendChild(gallery);
  }
  if (m.text || !photos.length) item.appendChild(testid(el("div", "text", m.text), "message-text"));
  if (Array.isArray(m.buttons) && m.buttons.length) {
    var row = el("div", "chips");
    m.buttons.forEach(function (b) { row.appendChild(el("span", "chip", isObject(b) ? b.title || b.payload : b)); });
    item.appendChild(row);
  }
  return item;
}
