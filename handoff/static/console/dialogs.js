/* The modal dialogs (transfer, return to bot, new ticket): opened with their errors cleared; Cancel and
 * Escape close them. */

import { $ } from "./dom.js";
import { errorText } from "./format.js";
import { t } from "./language.js";

export function openDialog(id) {
  var dialog = $(id);
  Array.prototype.forEach.call(dialog.querySelectorAll(".error"), function (e) { e.hidden = true; });
  dialog.showModal();
  return dialog;
}

// Shows `err` in the dialog's error line `id`.
export function dialogError(id, err) {
  var box = $(id);
  box.textContent = t("error", { m: errorText(err) });
  box.hidden = false;
}

export function wireDialogs() {
  Array.prototype.forEach.call(document.querySelectorAll("dialog .cancel"), function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
}
