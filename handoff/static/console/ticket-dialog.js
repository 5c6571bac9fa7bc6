/* Create ticket from the open chat (POST /api/tickets): the dialog is prefilled from the context (reason and
 * order as the subject; intent, order and the customer's last messages as the description); the server
 * classifies what is left empty. */

import { api } from "./api.js";
import { dialogError, openDialog } from "./dialogs.js";
import { $, isObject } from "./dom.js";
import { reasonLabel } from "./format.js";
import { t } from "./language.js";
import { notify } from "./notice.js";
import { conv, state } from "./state.js";

const DESCRIPTION_MAX = 4000;  // the field's maxlength, under the server's limit
const CUSTOMER_LINES = 5;

function openTicketDialog() {
  var c = conv(state.selected);
  var info = c.info || {};
  var packet = isObject(info.packet) ? info.packet : {};
  var order = isObject(packet.order) ? packet.order : {};
  var subject = reasonLabel(packet.reason);
  if (order.id) subject += " · " + order.id;
  var lines = c.messages.filter(function (m) { return m.author === "customer"; }).slice(-CUSTOMER_LINES)
    .map(function (m) { return "> " + m.text; });
  var details = [];
  if (packet.intent) details.push(t("intent") + ": " + packet.intent);
  if (order.id) details.push(t("order") + ": " + order.id + (order.status ? " (" + order.status + ")" : ""));
  $("ticket-subject").value = subject;
  $("ticket-description").value = details.concat(lines).join("\n").slice(0, DESCRIPTION_MAX);
  $("ticket-category").value = "";  // empty: the server classifies from the conversation
  $("ticket-skill").value = info.skill || "";
  openDialog("ticket-dialog");
  $("ticket-subject").focus();
}

function createTicket(event) {
  event.preventDefault();
  var submit = $("ticket-form").querySelector("button[type=submit]");
  if (submit && submit.disabled) return;  // one ticket per click, however often it is pressed
  if (submit) submit.disabled = true;
  var cid = state.selected;
  var info = conv(cid).info || {};
  var packet = isObject(info.packet) ? info.packet : {};
  var body = {
    conversation_id: cid,
    subject: $("ticket-subject").value.trim(),
    description: $("ticket-description").value,
    category: $("ticket-category").value.trim() || undefined,
    skill: $("ticket-skill").value.trim() || undefined,
    intent: packet.intent || undefined,
    language: info.language || packet.language || undefined,
    customer_id: packet.customer_id || undefined
  };
  api("POST", "/api/tickets", body).then(function (ticket) {
    $("ticket-dialog").close();
    notify(t("ticket_created", { id: ticket && (ticket.id || ticket.ticket_id) || "" }));
  }).catch(function (err) {
    dialogError("ticket-create-error", err.status === 404 ? new Error(t("tickets_unavailable")) : err);
  }).then(function () {
    if (submit) submit.disabled = false;
  });
}

export function wireTicketDialog() {
  $("action-ticket").addEventListener("click", openTicketDialog);
  $("ticket-form").addEventListener("submit", createTicket);
}
