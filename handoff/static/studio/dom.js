/* Element helpers: the console's (text goes in with textContent only, never as markup), plus the few the
 * studio's forms need. The page's Content-Security-Policy forbids inline script and style, so layout
 * changes go through classes, the hidden attribute and value attributes (meter, progress), never style. */

export { $, button, cell, clear, el, isObject, testid } from "/console/dom.js";
import { el } from "/console/dom.js";

// An <option> with `value` and the label `text` (the value itself when no label is given).
export function option(value, text, selected) {
  var node = el("option", "", text === undefined ? value : text);
  node.value = value;
  if (selected) node.selected = true;
  return node;
}

// A <meter> for a share between 0 and 1 (confidence, accuracy), with the share as its accessible label.
export function meter(share, label) {
  var node = document.createElement("meter");
  node.min = 0;
  node.max = 1;
  node.value = typeof share === "number" && isFinite(share) ? Math.max(0, Math.min(1, share)) : 0;
  if (label) node.setAttribute("aria-label", label);
  return node;
}

// Calls `fn` once typing has paused for `ms`.
export function debounce(fn, ms) {
  var timer = null;
  return function () {
    var args = arguments;
    clearTimeout(timer);
    timer = setTimeout(function () { fn.apply(null, args); }, ms);
  };
}

// Lines of a textarea, trimmed, without empty ones.
export function lines(text) {
  return String(text || "").split(/\r?\n/).map(function (line) { return line.trim(); }).filter(Boolean);
}

// A comma-separated field as a list.
export function commaList(text) {
  return String(text || "").split(",").map(function (part) { return part.trim(); }).filter(Boolean);
}
