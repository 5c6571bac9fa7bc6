/* Replying: each edit keeps the conversation's draft, opens quick replies on a leading "/", and tells the
 * customer the agent is typing (at most every 2.5 s); Enter sends, Shift+Enter starts a new line. A reply
 * with blanks left is refused with the blanks shaken. */

import { api, enc } from "./api.js";
import { replyInput, scrollBackdrop, unresolved, updateReplyState } from "./composer.js";
import { $ } from "./dom.js";
import { errorText } from "./format.js";
import { t } from "./language.js";
import { closeQuickReplies, quickReplyKey, searchQuickReplies } from "./quick-replies.js";
import { holds, state } from "./state.js";
import { fetchMessages } from "./transcript.js";

const TYPING_EVERY_MS = 2500;

let lastTyping = 0;

function onInput() {
  if (state.selected) state.drafts[state.selected] = replyInput.value;
  updateReplyState();
  var value = replyInput.value;
  if (value.charAt(0) === "/" && value.indexOf("\n") < 0) searchQuickReplies(value.slice(1));
  else closeQuickReplies();
  var now = Date.now();
  if (state.selected && value && now - lastTyping > TYPING_EVERY_MS && holds(state.selected)) {
    lastTyping = now;
    api("POST", "/api/conversations/" + enc(state.selected) + "/typing").catch(function () { /* best effort */ });
  }
}

function onKeydown(event) {
  if (quickReplyKey(event)) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("reply-form").requestSubmit();
  }
}

function showUnresolved() {
  var error = $("reply-error");
  error.textContent = t("fill_first");
  error.hidden = false;
  $("unresolved").classList.remove("shake");
  void $("unresolved").offsetWidth;  // restart the animation
  $("unresolved").classList.add("shake");
}

function onSubmit(event) {
  event.preventDefault();
  var cid = state.selected;
  var text = replyInput.value;
  if (!cid || !text.trim() || replyInput.disabled) return;
  if (unresolved(text).length) { showUnresolved(); return; }
  $("send").disabled = true;
  api("POST", "/api/conversations/" + enc(cid) + "/messages", { text: text }).then(function () {
    if (state.selected === cid && replyInput.value === text) replyInput.value = "";
    state.drafts[cid] = "";
    updateReplyState();
    return fetchMessages(cid);
  }).catch(function (err) {
    var box = $("reply-error");
    box.textContent = t("error", { m: errorText(err) });
    box.hidden = false;
    updateReplyState();
  });
}

export function wireReply() {
  replyInput.addEventListener("input", onInput);
  replyInput.addEventListener("scroll", scrollBackdrop);
  replyInput.addEventListener("keydown", onKeydown);
  $("reply-form").addEventListener("submit", onSubmit);
}
