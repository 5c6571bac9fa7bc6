/* Knowledge-base articles (GET/PUT/DELETE /api/studio/kb/articles/...): the list with each article's
 * publish status, and the editor: front matter as form fields, the customer questions as a list, the
 * Markdown body with a live preview (kb-preview.js). Saves are based on the version opened; a 409 shows
 * the current article as "changed by someone else", with the edit ready to re-apply on top of it. */

import { api, enc, isConflict, query } from "./api.js";
import { $, button, clear, commaList, debounce, el, option, testid } from "./dom.js";
import { clearErrors, confirmAction, hideConflict, lockForm, showConflict, showError } from "./forms.js";
import { clearPreview, preview } from "./kb-preview.js";
import { label, t } from "./language.js";
import { go, hashOf } from "./nav.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

// The builder's choices (kb_index/articles.py); the list answer's `choices`, when it has them, wins.
const CHOICES = {
  category: ["account", "invoices", "membership", "orders", "payment", "privacy", "product_care", "promotions",
    "refunds", "returns", "shipping", "sizing", "warranty"],
  question_type: ["faq", "how_to", "policy", "troubleshooting"],
  urgency: ["low", "normal", "high"]
};

const FIELDS = ["title", "category", "question_type", "urgency", "tags", "related", "questions", "body"];

const kb = {
  list: null,      // GET /api/studio/kb/articles
  article: null,   // the open article as read (null: a new one)
  opened: null,    // its fields as the form first showed them: what the editor changed is what differs
  key: null,       // "language/slug" of the open article, "new" for a new one
  listeners: []
};

// Called with the list answer after every load (the publish bar shows its unpublished changes).
export function onList(listener) { kb.listeners.push(listener); }

export function loadArticles() {
  return api("GET", "/api/studio/kb/articles").then(function (data) {
    kb.list = data;
    renderList();
    kb.listeners.forEach(function (listener) { listener(data); });
    return data;
  }, function (err) { failed(err); return null; });
}

export function articles() { return kb.list ? kb.list.articles || [] : []; }

function choices(name) {
  var served = kb.list && kb.list.choices && kb.list.choices[name];
  return Array.isArray(served) && served.length ? served : CHOICES[name];
}

function renderList() {
  var list = $("kb-list");
  clear(list);
  var language = $("kb-language").value;
  var filter = $("kb-filter").value.trim().toLowerCase();
  articles().forEach(function (article) {
    if (language && article.language !== language) return;
    var name = article.title || article.slug;
    if (filter && (name + " " + article.slug).toLowerCase().indexOf(filter) < 0) return;
    var key = article.language + "/" + article.slug;
    var li = el("li");
    var b = button("", "list-button" + (key === kb.key ? " selected" : ""), "kb-item");
    b.setAttribute("data-slug", article.slug);
    b.setAttribute("aria-current", key === kb.key ? "true" : "false");
    b.appendChild(el("span", "list-name", name));
    var meta = el("span", "list-meta");
    meta.appendChild(el("span", "", article.slug));
    meta.appendChild(el("span", "status status-" + article.status, label("kb_status_", article.status)));
    if ((article.problems || []).length) meta.appendChild(el("span", "status status-problem", t("has_problems")));
    b.appendChild(meta);
    b.addEventListener("click", function () { go(hashOf(["kb", "articles", article.language, article.slug])); });
    li.appendChild(b);
    list.appendChild(li);
  });
}

function form() { return $("article-form"); }

function fillSelect(select, values, current) {
  clear(select);
  var all = values.slice();
  if (current && all.indexOf(current) < 0) all.push(current);
  if (!current) select.appendChild(option("", t("choose")));
  all.forEach(function (value) { select.appendChild(option(value, label("kb_" + select.name + "_", value), value === current)); });
}

function questionRow(text) {
  var li = testid(el("li", "question"), "article-question");
  var input = el("input", "grow");
  input.value = text || "";
  input.maxLength = 300;
  input.setAttribute("aria-label", t("question"));
  testid(input, "article-question-input");
  li.appendChild(input);
  var remove = button("×", "small link", "article-remove-question");
  remove.setAttribute("aria-label", t("remove_question"));
  remove.setAttribute("data-write", "");
  remove.addEventListener("click", function () { li.remove(); });
  li.appendChild(remove);
  return li;
}

function fillForm(article) {
  var f = form();
  f.elements.title.value = (article && article.title) || "";
  fillSelect(f.elements.category, choices("category"), article && article.category);
  fillSelect(f.elements.question_type, choices("question_type"), article && article.question_type);
  fillSelect(f.elements.urgency, choices("urgency"), (article && article.urgency) || (article ? null : "normal"));
  f.elements.tags.value = ((article && article.tags) || []).join(", ");
  f.elements.related.value = ((article && article.related) || []).join(", ");
  var questions = $("article-questions");
  clear(questions);
  ((article && article.questions) || []).forEach(function (q) { questions.appendChild(questionRow(q)); });
  f.elements.body.value = (article && article.body) || "";
  var problems = $("article-problems");
  clear(problems);
  ((article && article.problems) || []).forEach(function (p) {
    problems.appendChild(el("li", "warning blocking", (p.line ? t("line_n", { n: p.line }) + " " : "") + p.message));
  });
  if (article && article.source) problems.appendChild(el("li", "source")).appendChild(el("pre", "plain-body", article.source));
  problems.hidden = !problems.firstChild;
  refreshPreview();
}

// The form's values of `article` (what collect() returns for it unedited).
function fieldsOf(article) {
  var fields = {};
  FIELDS.forEach(function (key) {
    var value = article ? article[key] : null;
    fields[key] = Array.isArray(value) ? value.slice() : value === null || value === undefined ? (key === "tags" || key === "related" || key === "questions" ? [] : "") : value;
  });
  return fields;
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

// My edits on top of `current`: each field I changed since opening is mine, every other is theirs.
function merged(mine, current) {
  var theirs = fieldsOf(current);
  var opened = kb.opened || fieldsOf(null);
  var result = {};
  FIELDS.forEach(function (key) { result[key] = same(mine[key], opened[key]) ? theirs[key] : mine[key]; });
  return result;
}

function collect() {
  var f = form();
  return {
    title: f.elements.title.value.trim(),
    category: f.elements.category.value,
    question_type: f.elements.question_type.value,
    urgency: f.elements.urgency.value,
    tags: commaList(f.elements.tags.value),
    related: commaList(f.elements.related.value),
    questions: Array.prototype.map.call($("article-questions").querySelectorAll("input"), function (i) { return i.value.trim(); })
      .filter(Boolean),
    body: f.elements.body.value
  };
}

function refreshPreview() {
  var frame = $("article-preview");
  if (!canWrite()) return;
  var body = form().elements.body.value;
  if (!body.trim()) { clearPreview(frame); return; }
  preview(frame, body).catch(function () { /* the preview is a convenience; saving reports real errors */ });
}

const previewSoon = debounce(refreshPreview, 400);

function renderHeader() {
  var article = kb.article;
  $("article-title").textContent = article ? (article.title || article.slug) : t("new_article");
  var status = $("article-status");
  status.textContent = article ? label("kb_status_", article.status) : "";
  status.className = "status" + (article ? " status-" + article.status : "");
  status.hidden = !article;
}

function openArticle(language, slug) {
  kb.key = language + "/" + slug;
  renderList();
  return api("GET", "/api/studio/kb/articles/" + enc(language) + "/" + enc(slug)).then(function (article) {
    if (kb.key !== language + "/" + slug) return;
    showForm(article);
  }, function (err) {
    kb.article = null;
    form().hidden = true;
    $("article-placeholder").hidden = false;
    failed(err);
  });
}

function showForm(article) {
  kb.article = article;
  var f = form();
  clearErrors(f);
  hideConflict($("article-conflict"));
  $("article-placeholder").hidden = true;
  f.hidden = false;
  $("article-new-fields").hidden = !!article;
  $("article-delete").hidden = !article;
  if (!article) {
    f.elements.slug.value = "";
    f.elements.language.value = $("kb-language").value || "en";
  }
  fillForm(article);
  kb.opened = collect();
  renderHeader();
  lockForm(f, !canWrite());
  f.querySelector(".preview-wrap").hidden = !canWrite();
}

function save(event, baseVersion) {
  if (event) event.preventDefault();
  var f = form();
  clearErrors(f);
  var article = kb.article;
  var language = article ? article.language : f.elements.language.value;
  var slug = article ? article.slug : f.elements.slug.value.trim();
  if (!slug) { showError(f, { data: { field: "slug", message: t("slug_needed", { language: language }) } }); return Promise.resolve(); }
  var body = collect();
  body.base_version = baseVersion !== undefined ? baseVersion : article ? article.version : null;
  var submit = f.querySelector("[type=submit]");
  submit.disabled = true;
  return api("PUT", "/api/studio/kb/articles/" + enc(language) + "/" + enc(slug), body).then(function (result) {
    notify(t("article_" + result.result, { slug: slug }));
    kb.key = language + "/" + slug;
    showForm(result.article);
    loadArticles();
    if (!article) go(hashOf(["kb", "articles", language, slug]));
  }, function (err) {
    if (isConflict(err)) { conflict(err, body); return; }
    showError(f, err);
  }).then(function () { submit.disabled = false; });
}

// The current article beside my edit: re-apply mine on its version, or take theirs.
function conflict(err, mine) {
  var current = err.data.current;
  showConflict($("article-conflict"), {
    message: err.data.message,
    renderCurrent: function (box) {
      if (current.deleted) { box.appendChild(el("p", "", t("article_was_deleted"))); return; }
      var dl = el("dl", "fields small");
      [["title", current.title], ["category", current.category], ["question_type", current.question_type],
        ["urgency", current.urgency], ["tags", (current.tags || []).join(", ")],
        ["questions", (current.questions || []).join(" · ")]].forEach(function (pair) {
        dl.appendChild(el("dt", "", t(pair[0])));
        dl.appendChild(el("dd", "", pair[1] || t("none")));
      });
      box.appendChild(dl);
      box.appendChild(testid(el("pre", "plain-body", current.body || current.source || ""), "conflict-body"));
    },
    onReapply: function () {
      var f = form();
      if (current.deleted) {
        // Recreate it from my version: nothing of theirs is left to keep.
        kb.article = null;
        kb.opened = fieldsOf(null);
        $("article-new-fields").hidden = false;
        f.elements.language.value = current.language;
        f.elements.slug.value = current.slug;
        fillForm(mine);
        return save(null, null);
      }
      var mix = merged(mine, current);
      kb.article = current;
      kb.opened = fieldsOf(current);
      fillForm(Object.assign({}, current, mix));
      return save(null, current.version);
    },
    onTheirs: function () {
      if (current.deleted) { go("kb"); return; }
      showForm(current);
    }
  });
}

function remove() {
  var article = kb.article;
  if (!article) return;
  confirmAction(t("confirm_delete_article", { slug: article.slug }), t("delete")).then(function (yes) {
    if (!yes) return;
    api("DELETE", "/api/studio/kb/articles/" + enc(article.language) + "/" + enc(article.slug) + query({ base_version: article.version }))
      .then(function () {
        notify(t("article_deleted", { slug: article.slug }));
        kb.article = null;
        kb.key = null;
        loadArticles();
        go("kb");
      }, function (err) {
        if (isConflict(err) && err.data.current.version) { conflict(err, collect()); return; }
        showError(form(), err);
      });
  });
}

// `parts`: [] (the list), ["new"], or [language, slug].
export function show(parts, entering) {
  var listed = entering || !kb.list ? loadArticles() : Promise.resolve();
  if (parts[0] === "new") {
    kb.key = "new";
    renderList();
    showForm(null);
    form().elements.slug.focus();
    return listed;
  }
  if (parts.length >= 2) {
    var key = parts[0] + "/" + parts[1];
    if (key !== kb.key || entering || !kb.article) return Promise.all([listed, openArticle(parts[0], parts[1])]);
    return listed;
  }
  kb.key = null;
  kb.article = null;
  form().hidden = true;
  $("article-placeholder").hidden = false;
  renderList();
  return listed;
}

export function render() {
  renderList();
  if (!form().hidden) renderHeader();
}

export function wireArticles() {
  $("kb-language").addEventListener("change", renderList);
  $("kb-filter").addEventListener("input", renderList);
  $("kb-new").addEventListener("click", function () { go("kb/new"); });
  form().addEventListener("submit", save);
  form().elements.body.addEventListener("input", previewSoon);
  $("article-add-question").addEventListener("click", function () {
    var row = questionRow("");
    $("article-questions").appendChild(row);
    row.querySelector("input").focus();
  });
  $("article-delete").addEventListener("click", remove);
}
