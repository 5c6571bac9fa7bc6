/* What every editor form shares: the server's errors next to the field they name, the "changed by someone
 * else" panel of a 409, the confirmation dialog, and read-only forms for supervisors.
 *
 * The server answers {error, message, field?}; `field` may name a list entry (texts[2]) or a nested field
 * (languages.en.text). The error goes to the closest element with a matching data-error-for inside the
 * form (texts[2] → texts; languages.en.text → languages.en → languages), else to the form's own error
 * line. The message is inserted as text. */

import { $, button, clear, el, testid } from "./dom.js";
import { t } from "./language.js";

// The names an error field could be shown under, most specific first.
function candidates(field) {
  var names = [];
  var name = String(field);
  while (name) {
    names.push(name);
    var stripped = name.replace(/\[\d+\]$/, "");
    if (stripped !== name) { name = stripped; continue; }
    var dot = name.lastIndexOf(".");
    name = dot > 0 ? name.slice(0, dot) : "";
  }
  return names;
}

export function clearErrors(form) {
  Array.prototype.forEach.call(form.querySelectorAll("[data-error-for], .form-error"), function (node) {
    node.textContent = "";
    node.hidden = true;
  });
  Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid=true]"), function (node) {
    node.removeAttribute("aria-invalid");
  });
}

// Shows `message` at the field named `field` (or the form's error line); returns the element used.
export function fieldError(form, field, message) {
  var target = null;
  if (field) {
    var names = candidates(field);
    for (var i = 0; i < names.length && !target; i++) {
      target = form.querySelector('[data-error-for="' + CSS.escape(names[i]) + '"]');
    }
  }
  target = target || form.querySelector(".form-error");
  if (!target) return null;
  target.textContent = message;
  target.hidden = false;
  var input = target.getAttribute("data-error-for") &&
    form.querySelector('[name="' + CSS.escape(target.getAttribute("data-error-for")) + '"]');
  if (input) input.setAttribute("aria-invalid", "true");
  return target;
}

// The server's error `err` in `form`: at its field when it names one.
export function showError(form, err) {
  var data = (err && err.data) || {};
  var message = data.message || (err && err.message) || String(err);
  return fieldError(form, data.field, message);
}

/* The 409 panel: the server's message, the current version (drawn by `renderCurrent` into the panel), and
 * two ways on: re-apply my change on top of it, or take theirs. */
export function showConflict(box, options) {
  clear(box);
  box.hidden = false;
  box.setAttribute("role", "alert");
  box.appendChild(el("h3", "conflict-title", t("conflict_title")));
  if (options.message) box.appendChild(el("p", "muted", options.message));
  box.appendChild(el("p", "conflict-label", t("conflict_current")));
  var current = testid(el("div", "conflict-current"), "conflict-current");
  box.appendChild(current);
  options.renderCurrent(current);
  var row = el("div", "row");
  if (options.onReapply) {
    var again = button(t("conflict_reapply"), "primary", "conflict-reapply");
    again.addEventListener("click", function () { box.hidden = true; options.onReapply(); });
    row.appendChild(again);
  }
  var theirs = button(t("conflict_theirs"), "", "conflict-theirs");
  theirs.addEventListener("click", function () { box.hidden = true; if (options.onTheirs) options.onTheirs(); });
  row.appendChild(theirs);
  box.appendChild(row);
  (options.onReapply ? row.firstChild : theirs).focus();
}

export function hideConflict(box) { box.hidden = true; clear(box); }

// A yes/no question in the page's modal dialog; resolves true on OK.
export function confirmAction(question, okText) {
  var dialog = $("confirm-dialog");
  $("confirm-text").textContent = question;
  $("confirm-ok").textContent = okText || t("ok");
  return new Promise(function (resolve) {
    function done() {
      dialog.removeEventListener("close", done);
      resolve(dialog.returnValue === "ok");
    }
    dialog.returnValue = "";
    dialog.addEventListener("close", done);
    dialog.showModal();
  });
}

// Supervisors read: every field of `form` becomes read-only (write buttons are hidden by the page's CSS).
export function lockForm(form, locked) {
  Array.prototype.forEach.call(form.querySelectorAll("input, select, textarea"), function (node) {
    if (node.type === "search" || node.hasAttribute("data-always")) return;
    node.disabled = !!locked;
  });
}

export function wireConfirmDialog() {
  var dialog = $("confirm-dialog");
  dialog.querySelector(".cancel").addEventListener("click", function () { dialog.close(""); });
}
