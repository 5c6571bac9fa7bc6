/* The tickets view (#tickets, #ticket/<id>): the list filtered by status, by a promise falling due or
 * "assigned to me", and one ticket's fields and history, where it is assigned, moved to another status or
 * given a note, its customer's email address kept and a promise to the customer ("reply by", "call back
 * by") set, cleared or marked done. Its thread and reply box are ticket-thread.js. */

import { api, enc } from "./api.js";
import { $, button, clear, el, isObject, testid } from "./dom.js";
import { dateTime, errorText, field, fmt } from "./format.js";
import { hasText, t } from "./language.js";
import { go } from "./nav.js";
import { failed, notify } from "./notice.js";
import { session, state } from "./state.js";
import { loadThread, renderReplyBox, renderThread, wireTicketThread } from "./ticket-thread.js";

const PROMISE_STATES = ["pending", "due", "overdue", "kept"];
const ATTENTION = ["due", "overdue"];  // promise states the list flags

let ticketsTimer = null;
// What the detail's inputs were last filled from: a refresh fills them again only when the server's value
// changed, so an address or promise being typed survives the list's refresh.
let shown = { email: null, promise: null };

function ticketId(ticket) { return String(ticket.id || ticket.ticket_id || ""); }
function ticketAssignee(ticket) { return ticket.assignee || ticket.assigned_to || ticket.agent_id || null; }
function isMine(ticket) {
  var who = ticketAssignee(ticket);
  return !!who && (who === session.me.user_id || who === session.me.agent_id);
}
function ticketStatusLabel(status) {
  return hasText("ticket_" + status) ? t("ticket_" + status) : fmt(status);
}

function promiseOf(ticket) {
  var promise = ticket.promise;
  return isObject(promise) && PROMISE_STATES.indexOf(promise.state) >= 0 ? promise : null;
}

// "Reply by 14/03/2026, 15:00 · Overdue"
function promiseText(promise) {
  var kind = promise.kind === "callback" ? t("promise_kind_callback") : t("promise_kind_reply");
  return kind + " " + dateTime(promise.due_at) + " · " + t("promise_" + promise.state);
}

function pad(n) { return (n < 10 ? "0" : "") + n; }

// Epoch seconds as a datetime-local input's value, in the browser's time zone, to the minute.
function localInput(ts) {
  var d = new Date(ts * 1000);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

// A datetime-local input's value (the browser's time zone) as epoch seconds, or null.
function fromLocalInput(value) {
  var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
  if (!m) return null;
  var d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  return isNaN(d.getTime()) ? null : d.getTime() / 1000;
}

export function loadTicketsSoon() {
  clearTimeout(ticketsTimer);
  ticketsTimer = setTimeout(loadTickets, 300);
}

export function loadTickets() {
  var params = [];
  var status = $("ticket-filter-status").value;
  var mine = $("ticket-filter-mine").checked;
  var promise = $("ticket-filter-promise").value;
  if (status) params.push("status=" + enc(status));
  if (promise) params.push("promise=" + enc(promise));
  if (mine && session.me.agent_id) params.push("assignee=" + enc(session.me.agent_id));
  api("GET", "/api/tickets" + (params.length ? "?" + params.join("&") : "")).then(function (data) {
    var list = Array.isArray(data) ? data : (data && (data.tickets || data.items)) || [];
    state.tickets = list.filter(function (tk) {
      return (!status || tk.status === status) && (!mine || isMine(tk));
    });
    $("tickets-error").hidden = true;
    renderTickets();
    if (state.ticket) openTicket(ticketId(state.ticket), true);
  }).catch(function (err) {
    state.tickets = [];
    renderTickets();
    if (state.ticket) openTicket(ticketId(state.ticket), true);  // the open ticket is read all the same
    var box = $("tickets-error");
    box.textContent = err.status === 404 ? t("tickets_unavailable") : t("error", { m: errorText(err) });
    box.hidden = false;
  });
}

export function renderTickets() {
  var list = $("ticket-list");
  clear(list);
  state.tickets.forEach(function (ticket) {
    var id = ticketId(ticket);
    var item = el("li");
    var b = button("", "ticket-item" + (state.ticket && ticketId(state.ticket) === id ? " selected" : ""), "ticket-item");
    b.setAttribute("data-ticket-id", id);
    var head = el("span", "row");
    head.appendChild(el("strong", "", "#" + id));
    head.appendChild(el("span", "status status-" + String(ticket.status).replace(/[^a-z_]/g, ""), ticketStatusLabel(ticket.status)));
    var promise = promiseOf(ticket);
    if (promise && ATTENTION.indexOf(promise.state) >= 0) {
      var badge = testid(el("span", "promise-badge promise-" + promise.state, t("promise_badge_" + promise.state)), "ticket-promise-badge");
      badge.setAttribute("data-state", promise.state);
      badge.title = promiseText(promise);
      head.appendChild(badge);
    }
    b.appendChild(head);
    b.appendChild(el("span", "ticket-subject", ticket.subject || ticket.title || ticket.summary || ticket.category));
    b.appendChild(el("span", "muted", [ticket.priority, ticket.skill, ticket.category, ticketAssignee(ticket)].filter(Boolean).join(" · ")));
    b.addEventListener("click", function () { go("ticket/" + id); });
    item.appendChild(b);
    list.appendChild(item);
  });
  $("tickets-empty").hidden = state.tickets.length > 0;
}

// Reads the ticket and shows it; `quiet` (a refresh) keeps what is shown when that fails.
export function openTicket(id, quiet) {
  api("GET", "/api/tickets/" + enc(id)).then(function (ticket) {
    state.ticket = (ticket && ticket.ticket) || ticket;
    renderTicket();
    renderTickets();
    loadThread(id);
  }).catch(function (err) {
    if (!quiet) { state.ticket = null; renderTicket(); failed(err); }
  });
}

export function renderTicket() {
  var ticket = state.ticket;
  $("ticket-detail").hidden = !ticket;
  if (!ticket) return;
  $("ticket-title").textContent = "#" + ticketId(ticket) + " " + (ticket.subject || ticket.title || ticket.summary || "");
  var fields = $("ticket-fields");
  clear(fields);
  field(fields, t("status"), ticketStatusLabel(ticket.status), "ticket-field-status");
  field(fields, t("assignee"), ticketAssignee(ticket), "ticket-field-assignee");
  field(fields, t("priority"), ticket.priority, "ticket-field-priority");
  field(fields, t("category"), ticket.category);
  field(fields, t("intent"), ticket.intent);
  field(fields, t("skill"), ticket.skill);
  field(fields, t("source"), ticket.source || ticket.reason);
  field(fields, t("conversation"), ticket.conversation_id);
  field(fields, t("created"), dateTime(ticket.created_at));
  if (ticket.updated_at) field(fields, t("updated"), dateTime(ticket.updated_at));
  if (ticket.description) field(fields, t("description"), ticket.description);
  $("ticket-status").value = ticket.status || "open";
  $("ticket-assign").disabled = isMine(ticket) || !session.me.agent_id;
  $("ticket-open-chat").hidden = !ticket.conversation_id;
  var notes = $("ticket-notes");
  clear(notes);
  // history: [{at, actor, action, changes: {field: [old, new]}, note}]
  var history = Array.isArray(ticket.history) ? ticket.history : Array.isArray(ticket.notes) ? ticket.notes : [];
  history.forEach(function (entry) { notes.appendChild(historyItem(entry)); });
  renderCustomerEmail(ticket);
  renderPromise(ticket);
  renderThread();
  renderReplyBox(ticket);
}

function renderCustomerEmail(ticket) {
  var address = typeof ticket.customer_email === "string" ? ticket.customer_email : "";
  var key = ticketId(ticket) + "|" + address;
  if (shown.email !== key) {
    var input = $("ticket-customer-email");
    input.value = address;
    input.removeAttribute("aria-invalid");
    shown.email = key;
  }
}

function renderPromise(ticket) {
  var promise = promiseOf(ticket);
  var line = $("ticket-promise-state");
  var current = promise ? promise.state : "none";
  line.setAttribute("data-state", current);
  line.className = "promise-state promise-" + current;
  line.textContent = promise ? promiseText(promise) : t("promise_none");
  $("ticket-promise-clear").hidden = !promise;
  $("ticket-promise-kept").hidden = !promise || promise.kind !== "callback" || promise.state === "kept";
  var key = ticketId(ticket) + "|" + (promise ? promise.kind + "|" + promise.due_at : "");
  if (shown.promise !== key) {
    $("ticket-promise-kind").value = promise && promise.kind === "callback" ? "callback" : "reply";
    $("ticket-promise-due").value = promise && typeof promise.due_at === "number" ? localInput(promise.due_at) : "";
    shown.promise = key;
  }
  $("ticket-promise-due").min = localInput(Date.now() / 1000);
}

function historyItem(entry) {
  var item = testid(el("li", "note"), "ticket-history-item");
  if (!isObject(entry)) {
    item.appendChild(el("div", "text", fmt(entry)));
    return item;
  }
  item.appendChild(el("div", "meta", [entry.actor || entry.by || entry.author, dateTime(entry.at || entry.ts),
    entry.action].filter(Boolean).join(" · ")));
  if (isObject(entry.changes)) {
    Object.keys(entry.changes).forEach(function (name) {
      var change = entry.changes[name];
      var text = Array.isArray(change) ? fmt(change[0]) + " → " + fmt(change[1]) : fmt(change);
      item.appendChild(el("div", "change", name + ": " + text));
    });
  }
  var note = entry.note || entry.text;
  if (note) item.appendChild(testid(el("div", "text", note), "ticket-note-text"));
  return item;
}

function showTicketError(text) {
  var box = $("ticket-error");
  box.textContent = text;
  box.hidden = false;
}

function patchTicket(body) {
  var id = ticketId(state.ticket);
  $("ticket-error").hidden = true;
  return api("PATCH", "/api/tickets/" + enc(id), body).then(function (ticket) {
    ticket = ticket && (ticket.ticket || ticket);
    if (ticket && ticketId(ticket) === id && state.ticket && ticketId(state.ticket) === id) {
      state.ticket = ticket;
      renderTicket();
    }
    loadTickets();  // the list, and the open ticket read again with it
  }).catch(function (err) {
    showTicketError(t("error", { m: errorText(err) }));
    throw err;
  });
}

function saveCustomerEmail(event) {
  event.preventDefault();
  var input = $("ticket-customer-email");
  var address = input.value.trim();
  if (address && !input.checkValidity()) {
    input.setAttribute("aria-invalid", "true");
    showTicketError(t("email_invalid"));
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  patchTicket({ customer_email: address || null }).then(function () {
    notify(t(address ? "email_saved" : "email_removed"));
  }).catch(function () {});
}

function savePromise(event) {
  event.preventDefault();
  var due = fromLocalInput($("ticket-promise-due").value);
  if (due === null || due <= Date.now() / 1000) {
    showTicketError(t("promise_pick_time"));
    $("ticket-promise-due").focus();
    return;
  }
  var kind = $("ticket-promise-kind").value === "callback" ? "callback" : "reply";
  patchTicket({ promise: { kind: kind, due_at: due } }).then(function () { notify(t("promise_saved")); }).catch(function () {});
}

export function wireTickets() {
  $("ticket-filter-status").addEventListener("change", loadTickets);
  $("ticket-filter-mine").addEventListener("change", loadTickets);
  $("ticket-filter-promise").addEventListener("change", loadTickets);
  $("ticket-refresh").addEventListener("click", loadTickets);
  $("ticket-assign").addEventListener("click", function () {
    patchTicket({ assignee: session.me.agent_id || session.me.user_id }).catch(function () {});
  });
  $("ticket-status").addEventListener("change", function (event) { patchTicket({ status: event.target.value }).catch(function () {}); });
  $("ticket-note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("ticket-note").value.trim();
    if (!text) return;
    patchTicket({ note: text }).then(function () { $("ticket-note").value = ""; }).catch(function () {});
  });
  $("ticket-open-chat").addEventListener("click", function () {
    if (state.ticket && state.ticket.conversation_id) go("chat/" + state.ticket.conversation_id);
  });
  $("ticket-email-form").addEventListener("submit", saveCustomerEmail);
  $("ticket-customer-email").addEventListener("input", function (event) { event.target.removeAttribute("aria-invalid"); });
  $("ticket-promise-form").addEventListener("submit", savePromise);
  $("ticket-promise-clear").addEventListener("click", function () {
    patchTicket({ promise: null }).then(function () { notify(t("promise_cleared")); }).catch(function () {});
  });
  $("ticket-promise-kept").addEventListener("click", function () {
    patchTicket({ promise_kept: true }).then(function () { notify(t("promise_marked_kept")); }).catch(function () {});
  });
  wireTicketThread(function () { loadTickets(); });
}
