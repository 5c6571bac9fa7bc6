/* Quick replies (GET/PUT/DELETE /api/studio/quick-replies/...): one template id with its English and
 * Chinese versions. While an editor types, the server's checker (POST /api/studio/quick-replies/check)
 * reports every problem at its field — an unknown {variable}, a shortcut taken — with the variables used
 * and a preview filled with sample values. A save reaches agents at once, without a restart; a 409 shows
 * the current template as "changed by someone else", ready to re-apply the edit on top of it. */

import { api, enc, isConflict, query } from "./api.js";
import { $, button, clear, debounce, el, option, testid } from "./dom.js";
import { clearErrors, confirmAction, hideConflict, lockForm, showConflict, showError } from "./forms.js";
import { label, t } from "./language.js";
import { go, hashOf } from "./nav.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

const LANGUAGES = ["en", "zh"];
const FIELDS = ["shortcut", "title", "category", "text"];

const qr = {
  list: null,       // GET /api/studio/quick-replies
  template: null,   // the open template as read (null: a new one)
  key: null,        // its id, "new" for a new one
  lastText: null,   // the text area variables are inserted into
  checkRequest: 0
};

function form() { return $("qr-form"); }

function loadTemplates() {
  return api("GET", "/api/studio/quick-replies").then(function (data) {
    qr.list = data;
    $("qr-error").hidden = true;
    renderList();
    renderVariables();
    return data;
  }, function (err) {
    $("qr-error").textContent = t("error", { m: err.message });
    $("qr-error").hidden = false;
  });
}

function renderList() {
  var list = $("qr-list");
  clear(list);
  if (!qr.list) return;
  var filter = $("qr-filter").value.trim().toLowerCase();
  qr.list.templates.forEach(function (template) {
    var words = [template.id];
    LANGUAGES.forEach(function (l) { var v = template.languages[l]; if (v) words.push(v.shortcut, v.title, v.text); });
    if (filter && words.join(" ").toLowerCase().indexOf(filter) < 0) return;
    var li = el("li");
    var b = button("", "list-button" + (template.id === qr.key ? " selected" : ""), "qr-item");
    b.setAttribute("data-id", template.id);
    b.setAttribute("aria-current", template.id === qr.key ? "true" : "false");
    b.appendChild(el("span", "list-name", template.id));
    var meta = el("span", "list-meta");
    LANGUAGES.forEach(function (l) {
      var v = template.languages[l];
      meta.appendChild(el("span", v ? "" : "muted", l + " " + (v ? "/" + v.shortcut : t("none"))));
    });
    b.appendChild(meta);
    b.addEventListener("click", function () { go(hashOf(["quick-replies", template.id])); });
    li.appendChild(b);
    list.appendChild(li);
  });
}

function renderVariables() {
  var box = $("qr-variables");
  clear(box);
  ((qr.list && qr.list.variables) || []).forEach(function (variable) {
    var chip = button("{" + variable.name + "}", "chip var-chip", "qr-variable");
    chip.title = variable.source;
    chip.setAttribute("data-write", "");
    chip.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the text's caret
    chip.addEventListener("click", function () { insertVariable(variable.name); });
    box.appendChild(chip);
  });
}

function insertVariable(name) {
  var area = qr.lastText || form().querySelector("textarea:not(:disabled)");
  if (!area || area.disabled) return;
  var token = "{" + name + "}";
  var start = area.selectionStart || 0;
  var end = area.selectionEnd || 0;
  area.value = area.value.slice(0, start) + token + area.value.slice(end);
  area.focus();
  area.selectionStart = area.selectionEnd = start + token.length;
  checkSoon();
}

function errorSpan(field, id) {
  var span = el("span", "error", "");
  span.setAttribute("data-error-for", field);
  span.hidden = true;
  if (id) testid(span, id);
  return span;
}

// One language's fields, named after the API's field paths (languages.en.text) so errors land beside them.
function buildVariant(language) {
  var box = $("qr-" + language);
  clear(box);
  var legend = el("legend");
  var has = el("input");
  has.type = "checkbox";
  has.name = "has-" + language;
  testid(has, "qr-has-" + language);
  var hasLabel = el("label", "check");
  hasLabel.appendChild(has);
  hasLabel.appendChild(el("span", "", " " + label("lang_", language)));
  legend.appendChild(hasLabel);
  box.appendChild(legend);
  box.appendChild(errorSpan("languages." + language, "qr-" + language + "-error"));
  var base = "languages." + language + ".";
  var inner = el("div", "variant-fields");
  FIELDS.forEach(function (name) {
    var wrap = el("label");
    wrap.appendChild(el("span", "", t("qr_" + name)));
    var input;
    if (name === "text") {
      input = el("textarea");
      input.rows = 5;
      input.maxLength = 2000;
      input.addEventListener("focus", function () { qr.lastText = input; });
    } else if (name === "category") {
      input = el("select");
      ((qr.list && qr.list.categories) || []).forEach(function (c) { input.appendChild(option(c, label("qr_category_", c))); });
    } else {
      input = el("input");
      input.maxLength = name === "shortcut" ? 32 : 120;
      input.autocomplete = "off";
    }
    input.name = base + name;
    testid(input, "qr-" + language + "-" + name);
    wrap.appendChild(input);
    wrap.appendChild(errorSpan(base + name, "qr-" + language + "-" + name + "-error"));
    inner.appendChild(wrap);
  });
  var fileWrap = el("label");
  fileWrap.appendChild(el("span", "", t("qr_file")));
  var file = el("select");
  file.name = base + "file";
  testid(file, "qr-" + language + "-file");
  file.appendChild(option("", t("qr_file_default")));
  ((qr.list && qr.list.files) || []).forEach(function (f) { if (f.language === language) file.appendChild(option(f.file)); });
  fileWrap.appendChild(file);
  fileWrap.appendChild(errorSpan(base + "file"));
  inner.appendChild(fileWrap);
  var previewBox = testid(el("div", "qr-preview"), "qr-" + language + "-preview");
  previewBox.id = "qr-" + language + "-preview";
  inner.appendChild(previewBox);
  box.appendChild(inner);
  has.addEventListener("change", function () { inner.hidden = !has.checked; checkSoon(); });
}

function fillVariant(language, variant) {
  var f = form();
  var base = "languages." + language + ".";
  f.elements["has-" + language].checked = !!variant;
  $("qr-" + language).querySelector(".variant-fields").hidden = !variant;
  FIELDS.forEach(function (name) { f.elements[base + name].value = variant ? variant[name] : (name === "category" ? f.elements[base + name].value : ""); });
  var file = f.elements[base + "file"];
  if (variant && variant.file && !Array.prototype.some.call(file.options, function (o) { return o.value === variant.file; })) {
    file.appendChild(option(variant.file));
  }
  file.value = variant ? variant.file || "" : "";
  clear($("qr-" + language + "-preview"));
}

function draft() {
  var f = form();
  var languages = {};
  LANGUAGES.forEach(function (language) {
    var base = "languages." + language + ".";
    if (f.elements["has-" + language].checked) {
      var entry = {};
      FIELDS.forEach(function (name) { entry[name] = f.elements[base + name].value; });
      if (f.elements[base + "file"].value) entry.file = f.elements[base + "file"].value;
      languages[language] = entry;
    } else if (qr.template && qr.template.languages[language]) {
      languages[language] = null;
    }
  });
  return { id: qr.template ? qr.template.id : f.elements.id.value.trim(), languages: languages };
}

function showProblems(problems) {
  var f = form();
  clearErrors(f);
  var shown = new Map();  // element -> {messages, warningsOnly}
  problems.forEach(function (problem) {
    var target = showError(f, { data: { field: problem.field, message: problem.message } });
    if (!target) return;
    var entry = shown.get(target) || { messages: [], warningsOnly: true };
    entry.messages.push(problem.message);
    entry.warningsOnly = entry.warningsOnly && problem.severity === "warning";
    shown.set(target, entry);
    target.textContent = entry.messages.join(" · ");
    target.classList.toggle("warn", entry.warningsOnly);
  });
}

function renderCheck(result) {
  showProblems(result.problems || []);
  LANGUAGES.forEach(function (language) {
    var box = $("qr-" + language + "-preview");
    clear(box);
    var info = result.languages && result.languages[language];
    if (!info) return;
    box.appendChild(el("span", "muted small", t("qr_preview") + " "));
    box.appendChild(testid(el("span", "preview-text", info.preview), "qr-preview-text"));
    if ((info.variables || []).length) box.appendChild(el("div", "muted small", t("qr_uses", { vars: info.variables.map(function (v) { return "{" + v + "}"; }).join(" ") })));
  });
}

function check() {
  if (!qr.key) return;
  var body = draft();
  if (!body.id) body.id = "draft";
  body.version = qr.template ? qr.template.version : null;
  var mine = ++qr.checkRequest;
  api("POST", "/api/studio/quick-replies/check", body).then(function (result) {
    if (mine === qr.checkRequest) renderCheck(result);
  }, function (err) {
    if (mine === qr.checkRequest && err.status !== 409) showError(form(), err);
  });
}

const checkSoon = debounce(check, 350);

function showForm(template) {
  qr.template = template;
  var f = form();
  hideConflict($("qr-conflict"));
  $("qr-placeholder").hidden = true;
  f.hidden = false;
  $("qr-id-wrap").hidden = !!template;
  f.elements.id.value = template ? template.id : "";
  $("qr-title").textContent = template ? template.id : t("new_template_title");
  $("qr-delete").hidden = !template;
  LANGUAGES.forEach(function (language) { buildVariant(language); fillVariant(language, template ? template.languages[language] : null); });
  if (!template) {
    f.elements["has-en"].checked = true;
    $("qr-en").querySelector(".variant-fields").hidden = false;
  }
  clearErrors(f);
  lockForm(f, !canWrite());
  qr.lastText = null;
  check();
}

function openTemplate(id) {
  qr.key = id;
  renderList();
  return api("GET", "/api/studio/quick-replies/" + enc(id)).then(function (template) {
    if (qr.key === id) showForm(template);
  }, function (err) {
    form().hidden = true;
    $("qr-placeholder").hidden = false;
    failed(err);
  });
}

function save(event, version) {
  if (event) event.preventDefault();
  var f = form();
  clearErrors(f);
  var body = draft();
  if (!body.id) { showError(f, { data: { field: "id", message: t("id_needed") } }); return Promise.resolve(); }
  var payload = { version: version !== undefined ? version : qr.template ? qr.template.version : null, languages: body.languages };
  var submit = f.querySelector("[type=submit]");
  submit.disabled = true;
  return api("PUT", "/api/studio/quick-replies/" + enc(body.id), payload).then(function (result) {
    notify(result.changed ? t("qr_saved", { id: body.id }) : t("qr_unchanged"));
    qr.key = body.id;
    showForm(result.template);
    if ((result.warnings || []).length) showProblems(result.warnings);
    loadTemplates();
    if (window.location.hash !== "#" + hashOf(["quick-replies", body.id])) go(hashOf(["quick-replies", body.id]));
  }, function (err) {
    if (isConflict(err)) { conflict(err); return; }
    showError(f, err);
  }).then(function () { submit.disabled = false; });
}

function variantOf(template, language) {
  var v = template && template.languages && template.languages[language];
  if (!v) return null;
  var fields = { file: v.file || "" };
  FIELDS.forEach(function (name) { fields[name] = v[name]; });
  return fields;
}

/* My edits on top of `current`, per language and field: what I changed since opening is mine (a language
 * I added or removed included), everything else is theirs. */
function merged(mine, current) {
  var result = {};
  LANGUAGES.forEach(function (language) {
    var opened = variantOf(qr.template, language);
    var theirs = variantOf(current, language);
    var edit = mine.languages[language];
    if (edit === undefined) { result[language] = theirs; return; }  // untouched: theirs
    if (edit === null) { result[language] = null; return; }  // I removed it
    var fields = Object.assign({ file: "" }, edit);
    if (!opened) { result[language] = fields; return; }  // I added it
    var base = theirs || opened;
    var out = {};
    FIELDS.concat(["file"]).forEach(function (name) {
      out[name] = fields[name] === opened[name] ? base[name] : fields[name];
    });
    result[language] = out;
  });
  return result;
}

function conflict(err) {
  var current = err.data.current;
  showConflict($("qr-conflict"), {
    message: err.data.message,
    renderCurrent: function (box) {
      LANGUAGES.forEach(function (language) {
        var v = current.languages && current.languages[language];
        box.appendChild(el("h4", "", label("lang_", language) + (v ? " · /" + v.shortcut + " · " + v.title : "")));
        box.appendChild(testid(el("pre", "plain-body", v ? v.text : t("none")), "conflict-text-" + language));
      });
    },
    onReapply: function () {
      var mix = merged(draft(), current);
      qr.template = current;
      LANGUAGES.forEach(function (language) { fillVariant(language, mix[language]); });
      return save(null, current.version);
    },
    onTheirs: function () { showForm(current); }
  });
}

function remove() {
  var template = qr.template;
  if (!template) return;
  confirmAction(t("confirm_delete_template", { id: template.id }), t("delete")).then(function (yes) {
    if (!yes) return;
    api("DELETE", "/api/studio/quick-replies/" + enc(template.id) + query({ version: template.version })).then(function () {
      notify(t("qr_deleted", { id: template.id }));
      qr.key = null;
      qr.template = null;
      loadTemplates();
      go("quick-replies");
    }, function (err) {
      if (isConflict(err)) { conflict(err); return; }
      showError(form(), err);
    });
  });
}

// `parts`: [] (the list), ["new"] or [template id].
export function show(parts, entering) {
  var listed = entering || !qr.list ? loadTemplates() : Promise.resolve();
  if (parts[0] === "new") {
    return listed.then(function () {
      qr.key = "new";
      renderList();
      showForm(null);
      form().elements.id.focus();
    });
  }
  if (parts[0]) {
    if (parts[0] !== qr.key || entering || !qr.template) return listed.then(function () { return openTemplate(parts[0]); });
    return listed;
  }
  qr.key = null;
  qr.template = null;
  form().hidden = true;
  $("qr-placeholder").hidden = false;
  renderList();
  return listed;
}

export function render() {
  renderList();
  renderVariables();
  if (!form().hidden) {
    var mine = draft();
    var template = qr.template;
    var has = {};
    LANGUAGES.forEach(function (language) { has[language] = form().elements["has-" + language].checked; });
    LANGUAGES.forEach(function (language) {
      buildVariant(language);
      fillVariant(language, has[language] ? Object.assign({ file: "" }, mine.languages[language]) : null);
    });
    $("qr-title").textContent = template ? template.id : t("new_template_title");
    lockForm(form(), !canWrite());
    check();
  }
}

export function wireQuickReplies() {
  $("qr-filter").addEventListener("input", renderList);
  $("qr-new").addEventListener("click", function () { go("quick-replies/new"); });
  form().addEventListener("submit", save);
  form().addEventListener("input", function (event) {
    if (event.target.name && event.target.name !== "id") checkSoon();
  });
  form().addEventListener("change", function (event) { if (event.target.tagName === "SELECT") checkSoon(); });
  $("qr-delete").addEventListener("click", remove);
}
