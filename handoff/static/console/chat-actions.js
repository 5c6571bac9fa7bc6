/* The open chat's actions that end it for this agent: Resolve, Transfer (to a skill queue or an agent, with a
 * note) and Return to bot (optionally into a flow). */

import { api, enc } from "./api.js";
import { renderChats } from "./chat-list.js";
import { replyInput } from "./composer.js";
import { renderConversation } from "./conversation.js";
import { dialogError, openDialog } from "./dialogs.js";
import { $, clear, el, isObject } from "./dom.js";
import { loadInbox } from "./inbox.js";
import { t } from "./language.js";
import { failed, notify } from "./notice.js";
import { conv, state } from "./state.js";

// The skill queues a chat can be transferred to (the chat's own skill is added when it is another).
const SKILLS = ["general", "orders", "returns", "payments", "shipping", "complaints"];

function afterRelease(cid, message) {
  state.chats = state.chats.filter(function (chat) { return chat.conversation_id !== cid; });
  if (state.selected === cid) {
    state.selected = null;
    state.drafts[cid] = "";
    replyInput.value = "";
    window.history.replaceState(null, "", "#chats");
  }
  renderChats();
  renderConversation();
  notify(message);
  loadInbox();
}

function resolve(event) {
  var cid = state.selected;
  if (!cid) return;
  event.currentTarget.disabled = true;
  api("POST", "/api/assignments/" + enc(cid) + "/resolve").then(function () {
    afterRelease(cid, t("resolved_notice"));
  }).catch(function (err) { failed(err); renderConversation(); });
}

function transferToAgent() {
  return document.querySelector("input[name=transfer-kind]:checked").value === "agent";
}

function openTransfer() {
  var select = $("transfer-skill");
  clear(select);
  var skills = SKILLS.slice();
  var current = state.selected && conv(state.selected).info && conv(state.selected).info.skill;
  if (current && skills.indexOf(current) < 0) skills.push(current);
  skills.forEach(function (skill) {
    var option = el("option", "", skill);
    option.value = skill;
    select.appendChild(option);
  });
  $("transfer-note").value = "";
  $("transfer-agent").value = "";
  openDialog("transfer-dialog");
  select.focus();
}

function transfer(event) {
  event.preventDefault();
  var cid = state.selected;
  var body = { note: $("transfer-note").value };
  if (transferToAgent()) body.agent_id = $("transfer-agent").value.trim();
  else body.skill = $("transfer-skill").value;
  api("POST", "/api/assignments/" + enc(cid) + "/transfer", body).then(function () {
    $("transfer-dialog").close();
    afterRelease(cid, t("transferred_notice"));
  }).catch(function (err) { dialogError("transfer-error", err); });
}

// The flows a chat can be handed back into, read once.
function flows() {
  if (state.flows) return Promise.resolve(state.flows);
  return api("GET", "/api/console/flows").then(function (data) {
    state.flows = Array.isArray(data) ? data : (data && data.flows) || [];
    return state.flows;
  }).catch(function () { return []; });
}

function openReturn() {
  var select = $("return-flow");
  flows().then(function (list) {
    clear(select);
    var none = el("option", "", t("no_flow"));
    none.value = "";
    select.appendChild(none);
    list.forEach(function (flow) {
      var id = isObject(flow) ? flow.id || flow.name || flow.flow : flow;
      var option = el("option", "", isObject(flow) ? flow.title || flow.label || id : id);
      option.value = String(id);
      select.appendChild(option);
    });
    openDialog("return-dialog");
    select.focus();
  });
}

function returnToBot(event) {
  event.preventDefault();
  var cid = state.selected;
  var flow = $("return-flow").value;
  api("POST", "/api/assignments/" + enc(cid) + "/return-to-bot", flow ? { flow: flow } : {}).then(function () {
    $("return-dialog").close();
    afterRelease(cid, t("returned_notice"));
  }).catch(function (err) { dialogError("return-error", err); });
}

export function wireChatActions() {
  $("action-resolve").addEventListener("click", resolve);
  $("action-transfer").addEventListener("click", openTransfer);
  Array.prototype.forEach.call(document.querySelectorAll("input[name=transfer-kind]"), function (radio) {
    radio.addEventListener("change", function () {
      var toAgent = transferToAgent();
      $("transfer-agent-wrap").hidden = !toAgent;
      $("transfer-skill-wrap").hidden = toAgent;
    });
  });
  $("transfer-form").addEventListener("submit", transfer);
  $("action-return").addEventListener("click", openReturn);
  $("return-form").addEventListener("submit", returnToBot);
}
