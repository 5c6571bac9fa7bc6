/* Page-wide keys: Escape closes quick replies, the open routing decision and the notice (dialogs close
 * themselves); Alt+↑ / Alt+↓ switch to the previous / next chat. */

import { replyInput } from "./composer.js";
import { $ } from "./dom.js";
import { go } from "./nav.js";
import { closeQuickReplies, quickRepliesOpen } from "./quick-replies.js";
import { state } from "./state.js";
import { closeDecision } from "./supervisor/decisions.js";

function onKeydown(event) {
  if (event.key === "Escape") {
    if (quickRepliesOpen()) { closeQuickReplies(); replyInput.focus(); return; }
    if (!$("decision-detail").hidden && state.view === "supervisor") closeDecision();
    if (!$("notice").hidden) $("notice").hidden = true;
    return;
  }
  if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && state.view === "chats" && state.chats.length) {
    event.preventDefault();
    var ids = state.chats.map(function (chat) { return chat.conversation_id; });
    var i = ids.indexOf(state.selected);
    var next = ids[(i + (event.key === "ArrowDown" ? 1 : -1) + ids.length) % ids.length] || ids[0];
    go("chat/" + next);
    setTimeout(function () { if (!replyInput.disabled) replyInput.focus(); }, 0);
  }
}

export function wireKeyboard() {
  document.addEventListener("keydown", onKeydown);
}
