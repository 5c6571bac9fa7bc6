/* A ticket's thread (GET /api/tickets/<id>/thread): its conversation's messages, with the customer's email
 * replies and the agents' emailed replies (the ticket's history links a reply to its email) marked, and the
 * ticket's emails with their delivery status. A failed email stays in view with its reason and "Send again"
 * until it is sent: the customer is waiting for that answer. Below the thread the reply box (POST
 * /api/tickets/<id>/replies) answers in the conversation and, when the ticket has an address and the box is
 * ticked, by email too. No import of tickets.js (modules have no cycles): what a sent reply refreshes is
 * handed in by wireTicketThread. */

import { api, enc } from "./api.js";
import { $, button, clear, el, isObject, testid } from "./dom.js";
import { dateTime, errorText } from "./format.js";
import { hasText, t } from "./language.js";
import { messagePhotos } from "./photos.js";
import { failed, notify } from "./notice.js";
import { session, state } from "./state.js";

const PENDING_REFRESH_MS = 5000;  // while an email waits for the relay, its status is read again this often
const PENDING = ["queued", "sending", "retrying"];
const EMAIL_STATUSES = ["queued", "sending", "retrying", "sent", "failed"];
const AT_END_PX = 24;  // a thread scrolled this close to its end follows new messages

let thread = { ticketId: null, loaded: false, messages: [], emails: [], error: null };
let loading = 0;  // number of the latest request: an answer to an older one is dropped
let pendingTimer = null;
let onReplied = function () {};
let reply = { ticketId: null, address: "" };  // the ticket and address the reply box was last set up for
let emailOff = false;  // the server said its email channel is off (409 email_off): replies go to the chat
const drafts = {};  // ticket id -> the reply not sent yet

function openId() { return state.ticket ? String(state.ticket.id || state.ticket.ticket_id || "") : ""; }

function listOf(value) { return Array.isArray(value) ? value.filter(isObject) : []; }

function isPending(email) { return PENDING.indexOf(email.status) >= 0; }

// Reads the thread of ticket `id` and shows it; a failed read keeps what is shown, with the error below.
export function loadThread(id) {
  var seq = ++loading;
  clearTimeout(pendingTimer);
  if (thread.ticketId !== id) {
    thread = { ticketId: id, loaded: false, messages: [], emails: [], error: null };
    renderThread();
  }
  return api("GET", "/api/tickets/" + enc(id) + "/thread").then(function (data) {
    if (seq !== loading) return;
    thread = { ticketId: id, loaded: true, messages: listOf(data && data.messages), emails: listOf(data && data.emails), error: null };
    renderThread();
    if (thread.emails.some(isPending)) {
      pendingTimer = setTimeout(function () {
        if (state.view === "tickets" && openId() === id) loadThread(id);
      }, PENDING_REFRESH_MS);
    }
  }).catch(function (err) {
    if (seq !== loading) return;
    thread.error = err;
    renderThread();
  });
}

export function renderThread() {
  var shownFor = openId();
  var emails = $("ticket-emails");
  var messages = $("ticket-thread-messages");
  var note = $("ticket-thread-note");
  var same = messages.getAttribute("data-ticket-id") === shownFor;
  var atEnd = messages.scrollHeight - messages.scrollTop - messages.clientHeight < AT_END_PX;
  var scrolled = messages.scrollTop;
  clear(emails);
  clear(messages);
  messages.setAttribute("data-ticket-id", shownFor);
  var current = thread.ticketId === shownFor ? thread : { loaded: false, messages: [], emails: [], error: null };
  current.emails.forEach(function (email) { emails.appendChild(emailItem(email)); });
  emails.hidden = !current.emails.length;
  var emailed = emailedReplies(state.ticket, current.emails);
  current.messages.forEach(function (m) { messages.appendChild(messageItem(m, emailed[m.id])); });
  messages.hidden = !current.messages.length;
  messages.scrollTop = !same || atEnd ? messages.scrollHeight : scrolled;
  $("ticket-thread").setAttribute("data-loaded", current.loaded ? "true" : "false");

  var failedCount = current.emails.filter(function (e) { return e.status === "failed"; }).length;
  var banner = $("ticket-emails-failed");
  banner.textContent = t("emails_failed_banner", { n: failedCount });
  banner.hidden = !failedCount;

  note.classList.toggle("error", !!current.error);
  if (current.error) {
    note.textContent = current.error.status === 404 && !current.loaded ? t("thread_unavailable") : t("error", { m: errorText(current.error) });
  } else {
    note.textContent = t("thread_empty");
  }
  note.hidden = !current.error && (!current.loaded || current.messages.length > 0);
}

function emailStatusLabel(status) {
  return EMAIL_STATUSES.indexOf(status) >= 0 ? t("email_" + status) : String(status || t("none"));
}

function emailItem(email) {
  var status = String(email.status || "");
  var item = testid(el("li", "email email-" + (EMAIL_STATUSES.indexOf(status) >= 0 ? status : "other")), "ticket-email");
  item.setAttribute("data-status", status);
  item.setAttribute("data-email-id", String(email.id || ""));
  var meta = el("div", "meta");
  meta.appendChild(testid(el("span", "email-status", emailStatusLabel(status)), "ticket-email-status"));
  if (email.recipient) meta.appendChild(el("span", "", t("email_to", { to: email.recipient })));
  meta.appendChild(el("time", "", dateTime(email.sent_at || email.updated_at || email.created_at)));
  if (typeof email.attempts === "number" && email.attempts > 1) meta.appendChild(el("span", "", t("email_attempts", { n: email.attempts })));
  item.appendChild(meta);
  if (email.subject) item.appendChild(el("div", "email-subject", email.subject));
  if (status === "failed") {
    item.appendChild(testid(el("div", "email-reason", t("email_failed_reason", { reason: email.reason || t("none") })), "ticket-email-reason"));
    var retry = button(t("email_retry"), "primary small", "ticket-email-retry");
    retry.addEventListener("click", function () { retryEmail(String(email.id || ""), retry); });
    item.appendChild(retry);
  } else if (status === "retrying" && email.reason) {
    item.appendChild(el("div", "muted email-note", email.reason));
  }
  return item;
}

function retryEmail(messageId, control) {
  var id = thread.ticketId;
  if (!id || !messageId) return;
  control.disabled = true;
  api("POST", "/api/tickets/" + enc(id) + "/emails/" + enc(messageId) + "/retry").then(function () {
    notify(t("email_requeued"));
  }, failed).then(function () {
    control.disabled = false;
    if (openId() === id) loadThread(id);
  });
}

// Message id -> the email that also carried it ({id, status}), from the history's "replied" entries.
function emailedReplies(ticket, emails) {
  var byId = {};
  emails.forEach(function (e) { byId[e.id] = e; });
  var found = {};
  var history = ticket && Array.isArray(ticket.history) ? ticket.history : [];
  history.forEach(function (entry) {
    if (isObject(entry) && entry.action === "replied" && entry.message_id && entry.email_id) {
      found[entry.message_id] = byId[entry.email_id] || { id: entry.email_id, status: "" };
    }
  });
  return found;
}

function authorLabel(m) {
  var key = "author_" + m.author;
  var label = hasText(key) ? t(key) : String(m.author || "");
  if (m.author === "agent" && m.agent_id) {
    label += " " + (m.agent_id === (session.me && session.me.agent_id) ? "(" + t("you") + ")" : m.agent_id);
  }
  return label;
}

// `email`: the email that also carried this reply, if any.
function messageItem(m, email) {
  var author = /^(customer|bot|agent|system)$/.test(m.author) ? m.author : "other";
  var byEmail = m.channel === "email" || !!email;
  var item = testid(el("li", "msg msg-" + author + (m.internal ? " internal" : "")), "ticket-thread-message");
  item.setAttribute("data-author", author);
  item.setAttribute("data-message-id", String(m.id || ""));
  if (byEmail) item.setAttribute("data-channel", "email");
  var meta = el("div", "meta");
  meta.appendChild(el("span", "author", authorLabel(m)));
  if (m.internal) meta.appendChild(el("span", "tag", t("internal_note")));
  if (byEmail) {
    var status = email && EMAIL_STATUSES.indexOf(email.status) >= 0 ? email.status : "";
    var tag = testid(el("span", "tag by-email" + (status === "failed" ? " is-failed" : ""),
      t("by_email") + (status ? " · " + emailStatusLabel(status) : "")), "ticket-message-by-email");
    if (status) tag.setAttribute("data-email-status", status);
    meta.appendChild(tag);
  }
  meta.appendChild(el("time", "time", dateTime(m.ts)));
  item.appendChild(meta);
  var photos = messagePhotos(m).length;
  if (m.text) item.appendChild(testid(el("div", "text", m.text), "ticket-thread-text"));
  if (photos) item.appendChild(el("div", "chips")).appendChild(el("span", "chip", t("photo") + (photos > 1 ? " ×" + photos : "")));
  return item;
}

// The reply box for `ticket`: its own draft, and "also by email" ticked and usable only when it has an
// address. A refresh of the same ticket and address leaves the agent's text and choice alone.
export function renderReplyBox(ticket) {
  var id = String(ticket.id || ticket.ticket_id || "");
  var address = typeof ticket.customer_email === "string" ? ticket.customer_email : "";
  var text = $("ticket-reply-text");
  var box = $("ticket-reply-email");
  if (reply.ticketId !== id) text.value = drafts[id] || "";
  var usable = !!address && !emailOff;
  if (reply.ticketId !== id || reply.address !== address) box.checked = usable;
  box.disabled = !usable;
  if (!usable) box.checked = false;
  $("ticket-reply-email-label").textContent = emailOff ? t("reply_email_off")
    : address ? t("reply_email_to", { to: address }) : t("reply_no_email");
  reply = { ticketId: id, address: address };
}

function sendReply(event) {
  event.preventDefault();
  var id = reply.ticketId;
  var address = reply.address;
  var input = $("ticket-reply-text");
  var send = $("ticket-reply-send");
  var text = input.value;
  if (!id || send.disabled) return;  // one reply per click, however often it is pressed
  if (!text.trim()) { notify(t("reply_empty"), true); input.focus(); return; }
  var box = $("ticket-reply-email");
  var byEmail = !!address && !emailOff && box.checked && !box.disabled;
  send.disabled = true;
  api("POST", "/api/tickets/" + enc(id) + "/replies", { text: text, email: byEmail }).then(function (result) {
    if (reply.ticketId === id && input.value === text) input.value = "";
    delete drafts[id];
    var email = result && isObject(result.email) ? result.email : null;
    notify(email ? t("reply_sent_email", { to: address }) : t("reply_sent"));
    onReplied(id);
  }).catch(function (err) {
    failed(err);
    if (err.status === 409 && err.data && err.data.error === "email_off") {
      emailOff = true;  // the text is still in the box: sent again, it goes to the chat alone
      if (state.ticket) renderReplyBox(state.ticket);
    }
  }).then(function () {
    send.disabled = false;
  });
}

// `replied(ticketId)` runs after a reply was stored: the ticket's status, history and promise changed.
export function wireTicketThread(replied) {
  onReplied = replied;
  var input = $("ticket-reply-text");
  input.addEventListener("input", function () { if (reply.ticketId) drafts[reply.ticketId] = input.value; });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      $("ticket-reply-form").requestSubmit();
    }
  });
  $("ticket-reply-form").addEventListener("submit", sendReply);
}
