/* "The assistant misunderstood this": a flag on any customer message sends it to the studio's inbox
 * (POST /api/studio/flags), with the intent it should have been if the agent knows it. */

import { api } from "./api.js";
import { dialogError, openDialog } from "./dialogs.js";
import { $, el } from "./dom.js";
import { t } from "./language.js";
import { notify } from "./notice.js";
import { state } from "./state.js";

var flagging = null;  // {conversation_id, message_id, button}
var intents = null;   // the domain's intent names, loaded once

function loadIntents() {
  if (intents) return Promise.resolve(intents);
  return api("GET", "/api/studio/intent-names").then(function (data) {
    intents = (data && Array.isArray(data.intents)) ? data.intents : [];
    return intents;
  }, function () { return []; });
}

function fillIntents(names) {
  var select = $("flag-intent");
  select.textContent = "";
  select.appendChild(el("option", "", t("flag_intent_unknown"))).value = "";
  names.forEach(function (name) { select.appendChild(el("option", "", name)).value = name; });
}

function openFlagDialog(button) {
  var item = button.closest("li[data-message-id]");
  if (!item || !state.selected) return;
  flagging = { conversation_id: state.selected, message_id: item.getAttribute("data-message-id"), button: button };
  var text = item.querySelector("[data-testid=message-text]");
  $("flag-quote").textContent = text ? text.textContent : "";
  $("flag-note").value = "";
  fillIntents(intents || []);
  openDialog("flag-dialog");
  loadIntents().then(fillIntents);
}

function submitFlag(event) {
  event.preventDefault();
  if (!flagging) return;
  var target = flagging;
  var body = { conversation_id: target.conversation_id, message_id: target.message_id };
  var intent = $("flag-intent").value;
  var note = $("flag-note").value.trim();
  if (intent) body.intent = intent;
  if (note) body.note = note;
  api("POST", "/api/studio/flags", body).then(function () {
    $("flag-dialog").close();
    target.button.classList.add("flagged");
    target.button.setAttribute("data-i18n", "flagged");
    target.button.textContent = t("flagged");
    target.button.disabled = true;
    notify(t("flag_sent"));
  }, function (err) { dialogError("flag-error", err); });
}

// A flag button on a customer's text message (transcript.js calls this for each message it draws).
export function flagButton() {
  var button = el("button", "flag-message link", t("flag_misunderstood"));
  button.type = "button";
  button.setAttribute("data-testid", "flag-message");
  button.setAttribute("data-i18n", "flag_misunderstood");
  return button;
}

export function wireFlags() {
  $("transcript").addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.flag-message") : null;
    if (button && !button.disabled) openFlagDialog(button);
  });
  $("flag-form").addEventListener("submit", submitFlag);
}
