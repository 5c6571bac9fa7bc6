/* Quick replies: "/" at the start of the reply box searches the templates (GET /api/quick-replies) in the
 * conversation's language; ↑/↓ move, Enter or Tab picks, Escape closes. A picked template's variables are
 * filled from the conversation (GET .../variables); the blanks left stay for the agent (composer.js). */

import { api, enc } from "./api.js";
import { replyInput, selectVariable, unresolved, updateReplyState, VARIABLE } from "./composer.js";
import { $, clear, el, isObject, testid } from "./dom.js";
import { currentLanguage } from "./language.js";
import { failed } from "./notice.js";
import { conv, session, state } from "./state.js";

const SEARCH_DELAY_MS = 120;
const LIMIT = 20;

const qr = { items: [], active: -1, seq: 0, timer: null, open: false };

export function quickRepliesOpen() { return qr.open; }

function conversationLanguage() {
  var c = state.selected ? conv(state.selected) : null;
  var chat = state.chats.filter(function (x) { return x.conversation_id === state.selected; })[0];
  return (c && c.info && (c.info.language || (c.info.packet && c.info.packet.language))) || (chat && chat.language) || currentLanguage();
}

export function searchQuickReplies(query) {
  clearTimeout(qr.timer);
  qr.timer = setTimeout(function () {
    var seq = ++qr.seq;
    var path = "/api/quick-replies?q=" + enc(query) + "&lang=" + enc(conversationLanguage()) + "&limit=" + LIMIT;
    api("GET", path).then(function (data) {
      if (seq !== qr.seq || replyInput.value.charAt(0) !== "/") return;
      qr.items = Array.isArray(data) ? data : (data && (data.templates || data.items || data.results)) || [];
      qr.active = qr.items.length ? 0 : -1;
      renderQuickReplies();
    }).catch(function (err) { if (seq === qr.seq) failed(err); });
  }, SEARCH_DELAY_MS);
}

function renderQuickReplies() {
  var list = $("quick-reply-list");
  clear(list);
  qr.items.forEach(function (item, i) { list.appendChild(optionItem(item, i)); });
  $("quick-reply-empty").hidden = qr.items.length > 0;
  $("quick-replies").hidden = false;
  qr.open = true;
  replyInput.setAttribute("aria-expanded", "true");
  if (qr.active >= 0) {
    replyInput.setAttribute("aria-activedescendant", "qr-option-" + qr.active);
    var active = $("qr-option-" + qr.active);
    if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
  } else {
    replyInput.removeAttribute("aria-activedescendant");
  }
}

function optionItem(item, i) {
  var option = testid(el("li", "qr-option" + (i === qr.active ? " active" : "")), "quick-reply-option");
  option.id = "qr-option-" + i;
  option.setAttribute("role", "option");
  option.setAttribute("aria-selected", i === qr.active ? "true" : "false");
  option.setAttribute("data-id", String(item.id));
  var head = el("div", "row");
  head.appendChild(el("strong", "", item.title || item.id));
  var shortcut = item.shortcut || (Array.isArray(item.tags) && item.tags.length ? item.tags[0] : "");
  if (shortcut) head.appendChild(el("span", "muted shortcut", "/" + shortcut));
  option.appendChild(head);
  option.appendChild(el("div", "qr-text", item.text));
  option.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the caret
  option.addEventListener("click", function () { pickQuickReply(item); });
  return option;
}

export function closeQuickReplies() {
  clearTimeout(qr.timer);
  qr.seq++;
  qr.open = false;
  $("quick-replies").hidden = true;
  replyInput.setAttribute("aria-expanded", "false");
  replyInput.removeAttribute("aria-activedescendant");
}

// The template with the known values in; a blank or missing value leaves its {name} for the agent.
function fillTemplate(text, values) {
  return text.replace(VARIABLE, function (match, name) {
    var value = values[name];
    if (value === null || value === undefined) return match;
    value = String(value);
    return value.trim() ? value : match;
  });
}

function pickQuickReply(item) {
  closeQuickReplies();
  var cid = state.selected;
  var text = String(item.text || "");
  api("GET", "/api/conversations/" + enc(cid) + "/variables").catch(function () { return null; }).then(function (data) {
    if (state.selected !== cid) return;
    var values = Object.assign({}, data && isObject(data.variables) ? data.variables : {});
    var me = session.me;
    if (!values.agent_name && me && me.name) values.agent_name = me.name;
    replyInput.value = fillTemplate(text, values);
    state.drafts[cid] = replyInput.value;
    replyInput.focus();
    var names = unresolved(replyInput.value);
    updateReplyState();
    if (names.length) selectVariable(names[0]);  // type to replace the first blank
    else replyInput.setSelectionRange(replyInput.value.length, replyInput.value.length);
  });
}

// The reply box's keys while the list is open; true when the key was the list's.
export function quickReplyKey(event) {
  if (!qr.open) return false;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!qr.items.length) return true;
    var step = event.key === "ArrowDown" ? 1 : -1;
    qr.active = (qr.active + step + qr.items.length) % qr.items.length;
    renderQuickReplies();
    return true;
  }
  if (event.key === "Enter" || event.key === "Tab") {
    if (qr.active >= 0 && qr.items[qr.active]) {
      event.preventDefault();
      pickQuickReply(qr.items[qr.active]);
    }
    return true;
  }
  if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    closeQuickReplies();
    return true;
  }
  return false;
}

// A click anywhere but the list and the reply box closes the list.
export function wireQuickReplies() {
  document.addEventListener("click", function (event) {
    if (qr.open && !$("quick-replies").contains(event.target) && event.target !== replyInput) closeQuickReplies();
  });
}
