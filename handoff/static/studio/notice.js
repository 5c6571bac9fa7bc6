/* The notice line under the top bar: confirmations for a few seconds, errors a little longer. */

import { $ } from "./dom.js";
import { t } from "./language.js";

let timer = null;

export function notify(text, isError) {
  var box = $("notice");
  box.textContent = text;
  box.classList.toggle("is-error", !!isError);
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(function () { box.hidden = true; }, isError ? 8000 : 4000);
}

export function failed(err) { notify(t("error", { m: (err && err.message) || String(err) }), true); }
