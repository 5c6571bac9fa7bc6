/* The tickets view (#tickets, #ticket/<id>): the list filtered by status or "assigned to me", and one
 * ticket's fields and history, where it is assigned, moved to another status or given a note. */

import { api, enc } from "./api.js";
import { $, button, clear, el, isObject, testid } from "./dom.js";
import { dateTime, errorText, field, fmt } from "./format.js";
import { hasText, t } from "./language.js";
import { go } from "./nav.js";
import { failed } from "./notice.js";
import { session, state } from "./state.js";

let ticketsTimer = null;

function ticketId(ticket) { return String(ticket.id || ticket.ticket_id || ""); }
function ticketAssignee(ticket) { return ticket.assignee || ticket.assigned_to || ticket.agent_id || null; }
function isMine(ticket) {
  var who = ticketAssignee(ticket);
  return !!who && (who === session.me.user_id || who === session.me.agent_id);
}
function ticketStatusLabel(status) {
  return hasText("ticket_" + status) ? t("ticket_" + status) : fmt(status);
}

export function loadTicketsSoon() {
  clearTimeout(ticketsTimer);
  ticketsTimer = setTimeout(loadTickets, 300);
}

export function loadTickets() {
  var params = [];
  var status = $("ticket-filter-status").value;
  var mine = $("ticket-filter-mine").checked;
  if (status) params.push("status=" + enc(status));
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

function patchTicket(body) {
  var id = ticketId(state.ticket);
  $("ticket-error").hidden = true;
  return api("PATCH", "/api/tickets/" + enc(id), body).then(function (ticket) {
    if (ticket && (ticket.id || ticket.ticket)) state.ticket = ticket.ticket || ticket;
    openTicket(id, true);
    loadTickets();
  }).catch(function (err) {
    var box = $("ticket-error");
    box.textContent = t("error", { m: errorText(err) });
    box.hidden = false;
    throw err;
  });
}

export function wireTickets() {
  $("ticket-filter-status").addEventListener("change", loadTickets);
  $("ticket-filter-mine").addEventListener("change", loadTickets);
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
}
