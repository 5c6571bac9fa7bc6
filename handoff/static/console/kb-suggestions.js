/* Knowledge-base suggestions for the open conversation's latest customer message
 * (GET /api/conversations/<id>/suggestions), each with Insert into the reply box. */

import { api, enc } from "./api.js";
import { insertText } from "./composer.js";
import { $, button, clear, el, testid } from "./dom.js";
import { pct } from "./format.js";
import { t } from "./language.js";
import { state } from "./state.js";

let kbTimer = null;
let kbSeq = 0;  // only the latest request may draw: an earlier, slower answer is for an older message

export function loadSuggestionsSoon(cid) {
  clearTimeout(kbTimer);
  kbTimer = setTimeout(function () { loadSuggestions(cid); }, 300);
}

export function loadSuggestions(cid) {
  var seq = ++kbSeq;
  api("GET", "/api/conversations/" + enc(cid) + "/suggestions").then(function (data) {
    if (seq === kbSeq && state.selected === cid) renderKb(data);
  }).catch(function () { if (seq === kbSeq && state.selected === cid) renderKb(null); });
}

// The suggestions in `data` (none for null).
export function renderKb(data) {
  var list = $("kb-list");
  clear(list);
  var hits = data && Array.isArray(data.hits) ? data.hits : [];
  $("kb-query").textContent = data && data.query ? t("kb_for", { q: data.query }) : "";
  hits.forEach(function (hit) {
    var item = testid(el("li", "kb-hit"), "kb-hit");
    var head = el("div", "row");
    head.appendChild(el("strong", "", hit.title || hit.article_id));
    if (typeof hit.score === "number") head.appendChild(el("span", "muted", pct(hit.score)));
    item.appendChild(head);
    item.appendChild(el("p", "kb-answer", hit.answer));
    var insert = button(t("insert"), "small", "kb-insert");
    insert.addEventListener("click", function () { insertText(String(hit.answer || "")); });
    item.appendChild(insert);
    list.appendChild(item);
  });
  $("kb-empty").hidden = hits.length > 0;
}
