/* The reply box's text: template variables such as {customer_name} that are still blank are highlighted
 * (a backdrop behind the textarea), listed under the box, and block sending until replaced. */

import { $, button, clear, el } from "./dom.js";

export const replyInput = $("reply-input");
export const VARIABLE = /\{([a-z][a-z0-9_]*)\}/g;

// The names of the blanks left in `text`, each once.
export function unresolved(text) {
  var names = [];
  text.replace(VARIABLE, function (_, name) { if (names.indexOf(name) < 0) names.push(name); return _; });
  return names;
}

function renderBackdrop() {
  var backdrop = $("reply-backdrop");
  clear(backdrop);
  var text = replyInput.value;
  var last = 0;
  text.replace(VARIABLE, function (match, name, offset) {
    if (offset > last) backdrop.appendChild(document.createTextNode(text.slice(last, offset)));
    backdrop.appendChild(el("mark", "", match));
    last = offset + match.length;
    return match;
  });
  backdrop.appendChild(document.createTextNode(text.slice(last) + "\n"));
  backdrop.scrollTop = replyInput.scrollTop;
}

// The blanks' list and highlight, and whether Send is enabled.
export function updateReplyState() {
  var names = unresolved(replyInput.value);
  var list = $("unresolved-list");
  clear(list);
  names.forEach(function (name) {
    var chip = button("{" + name + "}", "var-chip", "unresolved-variable");
    chip.setAttribute("data-variable", name);
    chip.addEventListener("click", function () { selectVariable(name); });
    list.appendChild(chip);
  });
  $("unresolved").hidden = names.length === 0;
  replyInput.classList.toggle("has-unresolved", names.length > 0);
  replyInput.setAttribute("aria-invalid", names.length ? "true" : "false");
  $("send").disabled = replyInput.disabled || names.length > 0 || !replyInput.value.trim();
  if (!names.length) $("reply-error").hidden = true;
  renderBackdrop();
}

// Selects the blank, so typing replaces it.
export function selectVariable(name) {
  var at = replyInput.value.indexOf("{" + name + "}");
  if (at < 0) return;
  replyInput.focus();
  replyInput.setSelectionRange(at, at + name.length + 2);
}

// Puts `text` at the caret (at the end when the box is not focused), as if typed.
export function insertText(text) {
  if (replyInput.disabled) return;
  var start = replyInput.selectionStart || 0, end = replyInput.selectionEnd || 0;
  var value = replyInput.value;
  if (document.activeElement !== replyInput) { start = end = value.length; }
  var before = value.slice(0, start), after = value.slice(end);
  var gap = before && !/\s$/.test(before) ? " " : "";
  replyInput.value = before + gap + text + after;
  var caret = (before + gap + text).length;
  replyInput.focus();
  replyInput.setSelectionRange(caret, caret);
  replyInput.dispatchEvent(new Event("input"));  // the draft, the blanks, quick replies, typing (reply.js)
}

export function scrollBackdrop() { $("reply-backdrop").scrollTop = replyInput.scrollTop; }
