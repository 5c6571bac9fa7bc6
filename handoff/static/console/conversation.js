/* The open conversation (#chat/<id>): its title, transcript and context card, with each conversation's
 * draft kept while another is open. An agent opens only chats offered to or held by them (403 otherwise);
 * supervisors open any. Replying and the chat actions need the chat to be held (by me, or by an agent when
 * I supervise). */

import { api, enc } from "./api.js";
import { renderChats } from "./chat-list.js";
import { replyInput, updateReplyState } from "./composer.js";
import { renderContext } from "./context-card.js";
import { $, clear, isObject } from "./dom.js";
import { errorText } from "./format.js";
import { loadSuggestions, renderKb } from "./kb-suggestions.js";
import { t } from "./language.js";
import { closeQuickReplies } from "./quick-replies.js";
import { sendWatch } from "./socket.js";
import { conv, holds, isStaff, state } from "./state.js";
import { fetchMessages, messageItem } from "./transcript.js";

export function select(cid) {
  if (state.selected && state.selected !== cid) state.drafts[state.selected] = replyInput.value;
  var changed = state.selected !== cid;
  state.selected = cid;
  var c = conv(cid);
  c.unread = 0;
  c.error = null;
  if (changed) {
    replyInput.value = state.drafts[cid] || "";
    closeQuickReplies();
    $("customer-typing").hidden = true;
    $("reply-error").hidden = true;
    renderKb(null);
  }
  renderConversation();
  renderChats();
  sendWatch();
  return api("GET", "/api/conversations/" + enc(cid)).then(function (info) {
    if (state.selected !== cid) return;
    c.info = info;
    renderConversation();
    loadSuggestions(cid);
    return fetchMessages(cid);
  }).catch(function (err) {
    if (state.selected !== cid) return;
    c.error = err.status === 403 ? t("forbidden_conversation")
      : err.status === 404 ? t("unknown_conversation") : t("error", { m: errorText(err) });
    renderConversation();
  });
}

export function renderConversation() {
  var cid = state.selected;
  var c = cid ? conv(cid) : null;
  var error = $("conversation-error");
  error.textContent = c && c.error ? c.error : "";
  error.hidden = !(c && c.error);
  var open = !!(c && !c.error && (c.info || holds(cid)));
  $("conversation-placeholder").hidden = !!c;
  $("conversation-body").hidden = !open;
  $("context").hidden = !open;
  if (!open) return;
  var chat = state.chats.filter(function (x) { return x.conversation_id === cid; })[0] || {};
  var info = c.info || {};
  var packet = isObject(info.packet) ? info.packet : {};
  $("conversation-title").textContent = [chat.customer_id || packet.customer_id || t("customer"),
    info.language || chat.language, info.channel || chat.channel].filter(Boolean).join(" · ");
  var log = $("transcript");
  clear(log);
  c.messages.forEach(function (m) { log.appendChild(messageItem(m)); });
  log.scrollTop = log.scrollHeight;
  renderContext(info);
  updateActions();
}

// Enables replying and the chat actions only while the chat is held.
export function updateActions() {
  var cid = state.selected;
  if (!cid) return;
  var info = conv(cid).info || {};
  var active = holds(cid) || (isStaff() && info.owner === "agent");
  ["action-resolve", "action-transfer", "action-return"].forEach(function (id) { $(id).disabled = !active; });
  replyInput.disabled = !active;
  updateReplyState();
}

// The card again after a change (an event for the open conversation: a message, or the packet updated
// by what the customer sent): only the card is redrawn, the transcript stays as it is.
let cardTimer = null;

export function refreshCardSoon(cid) {
  clearTimeout(cardTimer);
  cardTimer = setTimeout(function () {
    if (state.selected !== cid) return;
    api("GET", "/api/conversations/" + enc(cid)).then(function (info) {
      if (state.selected !== cid || !isObject(info)) return;
      conv(cid).info = info;
      renderContext(info);
      updateActions();
    }).catch(function () { /* the next event or the periodic resync tries again */ });
  }, 250);
}
