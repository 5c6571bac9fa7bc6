/* Customer questions the knowledge base missed (GET /api/studio/kb/misses), masked by the server: add one
 * to an article's customer questions (the next publish makes search find that article for it) or dismiss it. */

import { api, enc, query } from "./api.js";
import { $, button, clear, el, option, testid } from "./dom.js";
import { clearErrors, showError } from "./forms.js";
import { dateTime } from "./format.js";
import { label, t } from "./language.js";
import { articles, loadArticles } from "./kb-articles.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

const misses = { data: null };

function loadMisses() {
  return api("GET", "/api/studio/kb/misses" + query({ language: $("misses-language").value, limit: 200 })).then(function (data) {
    misses.data = data;
    $("misses-error").hidden = true;
    render();
    return data;
  }, function (err) {
    $("misses-error").textContent = t("error", { m: err.message });
    $("misses-error").hidden = false;
  });
}

function missRow(miss) {
  var li = testid(el("li", "miss card"), "miss");
  li.setAttribute("data-miss-id", miss.id);
  li.appendChild(testid(el("blockquote", "item-text", miss.question), "miss-question"));
  var meta = el("p", "muted small", label("lang_", miss.language) + " · " + dateTime(miss.ts) +
    ((miss.masked || []).length ? " · " + t("masked") + ": " + miss.masked.map(function (k) { return label("pii_", k); }).join(", ") : ""));
  li.appendChild(meta);
  if ((miss.hits || []).length) {
    var hits = el("p", "small");
    hits.appendChild(el("span", "muted", t("closest_articles") + " "));
    hits.appendChild(el("span", "", miss.hits.map(function (h) {
      return (h.title || h.article_id) + " (" + (typeof h.score === "number" ? Math.round(h.score * 100) / 100 : "?") + ")";
    }).join(" · ")));
    li.appendChild(hits);
  }
  if (canWrite()) li.appendChild(missForm(miss));
  return li;
}

function missForm(miss) {
  var form = testid(el("form", "miss-form row"), "miss-form");
  form.setAttribute("data-write", "");
  var select = el("select");
  select.name = "slug";
  select.setAttribute("aria-label", t("article"));
  testid(select, "miss-article");
  var top = miss.hits && miss.hits[0] ? miss.hits[0].article_id : "";
  select.appendChild(option("", t("choose_article")));
  articles().forEach(function (a) {
    if (a.language === miss.language) select.appendChild(option(a.slug, (a.title || a.slug) + " (" + a.slug + ")", a.slug === top));
  });
  var question = el("input", "grow");
  question.name = "question";
  question.value = miss.question;
  question.maxLength = 300;
  question.setAttribute("aria-label", t("question"));
  testid(question, "miss-question-input");
  var add = button(t("add_to_article"), "primary small", "miss-add");
  add.type = "submit";
  var dismiss = button(t("dismiss"), "small", "miss-dismiss");
  form.appendChild(select);
  form.appendChild(question);
  form.appendChild(add);
  form.appendChild(dismiss);
  ["slug", "question", "language"].forEach(function (name) {
    var error = el("span", "error");
    error.setAttribute("data-error-for", name);
    error.hidden = true;
    form.appendChild(error);
  });
  var general = el("span", "form-error error");
  general.hidden = true;
  form.appendChild(general);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(form);
    if (!select.value) { showError(form, { data: { field: "slug", message: t("choose_article") } }); return; }
    api("POST", "/api/studio/kb/misses/" + enc(miss.id) + "/to-article", {
      language: miss.language, slug: select.value, question: question.value.trim()
    }).then(function (result) {
      notify(t(result.added ? "question_added" : "question_known", { slug: select.value }));
      return Promise.all([loadMisses(), loadArticles()]);
    }, function (err) { showError(form, err); });
  });
  dismiss.addEventListener("click", function () {
    api("POST", "/api/studio/kb/misses/" + enc(miss.id) + "/dismiss").then(function () {
      notify(t("miss_dismissed"));
      return loadMisses();
    }, failed);
  });
  return form;
}

export function render() {
  var list = $("misses-list");
  clear(list);
  var data = misses.data;
  var items = data ? data.misses || [] : [];
  items.forEach(function (miss) { list.appendChild(missRow(miss)); });
  $("misses-empty").hidden = items.length > 0;
  $("misses-total").textContent = data ? t("misses_total", { n: data.total }) : "";
  var badge = $("kb-misses-badge");
  badge.textContent = data ? String(data.total) : "";
  badge.hidden = !data || !data.total;
}

export function show(parts, entering) {
  var needed = !articles().length ? loadArticles() : Promise.resolve();
  return needed.then(function () { return entering || !misses.data ? loadMisses() : null; });
}

export function wireMisses() {
  $("misses-language").addEventListener("change", loadMisses);
}
