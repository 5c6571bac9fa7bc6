/* "Try it" (POST /api/studio/try): what the live model makes of a message — intent ranking, entities,
 * language, affect — and the knowledge-base article it would answer with. Nothing is stored. */

import { api } from "./api.js";
import { $, cell, clear, el, isObject, meter, testid } from "./dom.js";
import { clearErrors, showError } from "./forms.js";
import { json, pct } from "./format.js";
import { label, t } from "./language.js";

let last = null;

function section(title) {
  var box = el("section", "card try-part");
  box.appendChild(el("h3", "", title));
  return box;
}

// Frustration is a level, risk and cues are lists, scores a map of numbers: each as one line of text.
function affectValue(value) {
  if (Array.isArray(value)) return value.length ? value.map(String).join(", ") : t("none");
  if (isObject(value)) {
    return Object.keys(value).map(function (k) {
      var v = value[k];
      return k + " " + (typeof v === "number" ? Math.round(v * 100) / 100 : json(v));
    }).join(" · ") || t("none");
  }
  return value === null || value === undefined || value === "" ? t("none") : String(value);
}

function render() {
  var out = $("try-result");
  clear(out);
  out.hidden = !last;
  if (!last) return;
  var summary = section(t("understood"));
  var fields = el("dl", "fields");
  [["language", label("lang_", last.language)], ["intent", last.intent || t("none")], ["confidence", pct(last.confidence)]].forEach(function (pair) {
    fields.appendChild(el("dt", "", t(pair[0])));
    fields.appendChild(testid(el("dd", "", pair[1]), "try-" + pair[0]));
  });
  summary.appendChild(fields);
  out.appendChild(summary);

  var ranking = section(t("ranking_title"));
  var list = testid(el("ol", "ranking"), "try-ranking");
  (last.ranking || []).forEach(function (row) {
    var li = testid(el("li", "rank"), "ranking-row");
    li.appendChild(el("span", "rank-name", row.name));
    li.appendChild(meter(row.confidence, pct(row.confidence)));
    li.appendChild(el("span", "rank-value", pct(row.confidence)));
    list.appendChild(li);
  });
  if (!(last.ranking || []).length) list.appendChild(el("li", "muted", t("none")));
  ranking.appendChild(list);
  out.appendChild(ranking);

  var entities = section(t("entities"));
  if ((last.entities || []).length) {
    var table = testid(el("table"), "try-entities");
    var head = el("tr");
    ["entity", "value", "extractor"].forEach(function (k) { head.appendChild(el("th", "", t(k))); });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    last.entities.forEach(function (e) {
      var row = el("tr");
      cell(row, e.entity);
      cell(row, typeof e.value === "string" ? e.value : json(e.value));
      cell(row, e.extractor || "");
      body.appendChild(row);
    });
    table.appendChild(body);
    entities.appendChild(table);
  } else {
    entities.appendChild(el("p", "muted", t("no_entities")));
  }
  out.appendChild(entities);

  var affect = section(t("affect"));
  if (isObject(last.affect)) {
    var af = testid(el("dl", "fields"), "try-affect");
    Object.keys(last.affect).forEach(function (key) {
      var value = last.affect[key];
      af.appendChild(el("dt", "", label("affect_", key)));
      af.appendChild(el("dd", "", affectValue(value)));
    });
    affect.appendChild(af);
  } else {
    affect.appendChild(el("p", "muted", t("no_affect")));
  }
  out.appendChild(affect);

  var kb = section(t("kb_answer"));
  var article = last.article;
  if (article) {
    var box = testid(el("div", "kb-answer-box"), "try-article");
    box.appendChild(el("strong", "", article.title || article.article_id));
    box.appendChild(el("div", "muted small", article.article_id + " · " + t("score", { s: Math.round(article.score * 1000) / 1000 })));
    box.appendChild(el("p", article.answered ? "ok" : "warn-text", article.answered ? t("would_answer") : t("would_hand_off")));
    kb.appendChild(box);
  } else {
    kb.appendChild(el("p", "muted", t("no_article")));
  }
  out.appendChild(kb);
}

function submit(event) {
  event.preventDefault();
  var form = $("try-form");
  clearErrors(form);
  var text = $("try-text").value.trim();
  if (!text) { $("try-text").focus(); return; }
  var b = form.querySelector("[type=submit]");
  b.disabled = true;
  api("POST", "/api/studio/try", { text: text }).then(function (result) {
    last = result;
    render();
  }, function (err) { showError(form, err); }).then(function () { b.disabled = false; });
}

export function show() {
  setTimeout(function () { $("try-text").focus(); }, 0);
  return Promise.resolve();
}

export { render };

export function wireTry() {
  $("try-form").addEventListener("submit", submit);
}
