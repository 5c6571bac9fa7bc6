/* Intents and their examples per language (docs/studio.md): the list with counts, an intent's examples with
 * edit, move and delete, new examples with live warnings (POST /api/studio/warnings: the same text in
 * another intent, an entity the domain does not declare, too few examples), and a search across intents.
 * Every change is based on the version the editor saw; a 409 carries the current examples, shown as
 * "changed by someone else", and the change can be re-applied on top of them. */

import { api, enc, isConflict, query } from "./api.js";
import { $, button, clear, debounce, el, lines, testid } from "./dom.js";
import { clearErrors, confirmAction, fieldError, hideConflict, showConflict, showError } from "./forms.js";
import { fillIntentSelect, loadIntents } from "./intent-names.js";
import { label, t } from "./language.js";
import { go, hashOf } from "./nav.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

const nlu = {
  language: "en",
  intents: null,   // GET /api/studio/intents
  intent: null,    // the open intent's name
  examples: null,  // its examples in `language` (with their version)
  warnings: [],
  editing: null    // the example text being edited or moved
};

function examplesPath(intent, language) {
  return "/api/studio/intents/" + enc(intent) + "/" + enc(language);
}

function loadList(again) {
  return loadIntents(again).then(function (data) {
    nlu.intents = data;
    renderList();
    return data;
  }, failed);
}

function countOf(intent, language) {
  var entry = intent.languages && intent.languages[language];
  return entry ? entry.count : 0;
}

function renderList() {
  var list = $("intent-list");
  clear(list);
  if (!nlu.intents) return;
  var filter = $("intent-filter").value.trim().toLowerCase();
  var minimum = nlu.intents.min_examples || 0;
  nlu.intents.intents.forEach(function (intent) {
    if (filter && intent.name.toLowerCase().indexOf(filter) < 0) return;
    var li = el("li");
    var b = button("", "list-button" + (intent.name === nlu.intent ? " selected" : ""), "intent-item");
    b.setAttribute("data-intent", intent.name);
    b.setAttribute("aria-current", intent.name === nlu.intent ? "true" : "false");
    b.appendChild(el("span", "list-name", intent.name));
    var counts = el("span", "list-meta");
    ["en", "zh"].forEach(function (language) {
      var n = countOf(intent, language);
      var chip = el("span", "count" + (intent.editable && n < minimum ? " low" : ""), language + " " + n);
      if (intent.editable && n < minimum) chip.title = t("too_few", { n: n, min: minimum });
      counts.appendChild(chip);
    });
    b.appendChild(counts);
    if (!intent.editable) b.classList.add("not-editable");
    b.addEventListener("click", function () { go(hashOf(["intents", nlu.language, intent.name])); });
    li.appendChild(b);
    list.appendChild(li);
  });
}

function intentInfo(name) {
  return nlu.intents && nlu.intents.intents.filter(function (i) { return i.name === name; })[0];
}

function editable() {
  var info = intentInfo(nlu.intent);
  return canWrite() && (!info || info.editable);
}

function renderExamples() {
  var data = nlu.examples;
  $("intent-placeholder").hidden = !!data;
  $("intent-body").hidden = !data;
  if (!data) return;
  $("intent-title").textContent = data.intent + " · " + label("lang_", data.language);
  $("intent-meta").textContent = t("examples_meta", {
    n: data.count, files: (data.files || []).join(", ") || t("none"), adds: data.adds_to || t("none")
  });
  $("add-examples-form").hidden = !editable();
  var list = $("example-list");
  clear(list);
  (data.examples || []).forEach(function (example) { list.appendChild(exampleRow(example)); });
  $("examples-empty").hidden = (data.examples || []).length > 0;
}

function exampleRow(example) {
  var li = testid(el("li", "example"), "example");
  li.setAttribute("data-text", example.text);
  if (nlu.editing && nlu.editing.text === example.text) {
    li.appendChild(nlu.editing.kind === "edit" ? editForm(example) : moveForm(example));
    return li;
  }
  li.appendChild(testid(el("span", "example-text", example.text), "example-text"));
  if ((example.entities || []).length) {
    var chips = el("span", "chips");
    example.entities.forEach(function (entity) { chips.appendChild(el("span", "chip entity", entity.entity + "=" + entity.value)); });
    li.appendChild(chips);
  }
  if (example.problem) li.appendChild(el("span", "error small", example.problem));
  if (editable()) {
    var actions = el("span", "example-actions");
    var edit = button(t("edit"), "small", "example-edit");
    edit.addEventListener("click", function () { nlu.editing = { kind: "edit", text: example.text }; renderExamples(); focusEditor(); });
    var move = button(t("move"), "small", "example-move");
    move.addEventListener("click", function () { nlu.editing = { kind: "move", text: example.text }; renderExamples(); focusEditor(); });
    var del = button(t("delete"), "small danger", "example-delete");
    del.addEventListener("click", function () { deleteExample(example.text); });
    actions.appendChild(edit);
    actions.appendChild(move);
    actions.appendChild(del);
    li.appendChild(actions);
  }
  return li;
}

function focusEditor() {
  var input = document.querySelector("#example-list .inline-form input, #example-list .inline-form select");
  if (input) input.focus();
}

function inlineForm(testId) {
  var form = testid(el("form", "inline-form"), testId);
  form.noValidate = true;
  return form;
}

function cancelButton() {
  var cancel = button(t("cancel"), "small", "inline-cancel");
  cancel.addEventListener("click", function () { nlu.editing = null; renderExamples(); });
  return cancel;
}

function editForm(example) {
  var form = inlineForm("example-edit-form");
  var input = el("input", "grow");
  input.name = "new";
  input.value = example.text;
  input.setAttribute("aria-label", t("edit_example"));
  testid(input, "example-edit-input");
  form.appendChild(input);
  var save = button(t("save"), "small primary", "example-edit-save");
  save.type = "submit";
  form.appendChild(save);
  form.appendChild(cancelButton());
  var error = el("span", "error", "");
  error.setAttribute("data-error-for", "new");
  error.hidden = true;
  form.appendChild(error);
  var general = el("span", "form-error error");
  general.hidden = true;
  form.appendChild(general);
  input.addEventListener("keydown", function (event) { if (event.key === "Escape") { nlu.editing = null; renderExamples(); } });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var change = { kind: "edit", old: example.text, new: input.value.trim() };
    run(change, form);
  });
  return form;
}

function moveForm(example) {
  var form = inlineForm("example-move-form");
  form.appendChild(el("span", "example-text", example.text));
  var select = el("select");
  select.name = "to_intent";
  select.setAttribute("aria-label", t("move_to"));
  testid(select, "example-move-intent");
  fillIntentSelect(select, "").then(function () {
    Array.prototype.slice.call(select.options).forEach(function (o) { if (o.value === nlu.intent) o.remove(); });
  }, failed);
  form.appendChild(select);
  var submit = button(t("move"), "small primary", "example-move-save");
  submit.type = "submit";
  form.appendChild(submit);
  form.appendChild(cancelButton());
  var error = el("span", "error", "");
  error.setAttribute("data-error-for", "to_intent");
  error.hidden = true;
  form.appendChild(error);
  var general = el("span", "form-error error");
  general.hidden = true;
  form.appendChild(general);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!select.value) { clearErrors(form); fieldError(form, "to_intent", t("choose_intent_first")); return; }
    run({ kind: "move", text: example.text, to_intent: select.value }, form);
  });
  return form;
}

function deleteExample(text) {
  confirmAction(t("confirm_delete_example", { text: text }), t("delete")).then(function (yes) {
    if (yes) run({ kind: "delete", text: text }, $("add-examples-form"));
  });
}

/* Sends one change, based on the version of the examples on screen. `form` shows its errors; a 409 shows
 * the current examples with the change ready to re-apply. */
function run(change, form, version) {
  var intent = nlu.intent;
  var language = nlu.language;
  var base = version || nlu.examples.version;
  var path = examplesPath(intent, language) + "/examples";
  clearErrors(form);
  var request;
  if (change.kind === "add") request = api("POST", path, { texts: change.texts, base_version: base });
  else if (change.kind === "edit") request = api("PUT", path, { old: change.old, new: change.new, base_version: base });
  else if (change.kind === "delete") request = api("DELETE", path, { text: change.text, base_version: base });
  else {
    request = api("GET", examplesPath(change.to_intent, language)).then(function (target) {
      return api("POST", path + "/move", {
        text: change.text, to_intent: change.to_intent, base_version: base, to_base_version: target.version
      });
    }).then(function (moved) { return moved.from; });
  }
  return request.then(function (examples) {
    if (nlu.intent !== intent || nlu.language !== language) return;
    nlu.examples = examples;
    nlu.editing = null;
    hideConflict($("intent-conflict"));
    if (change.kind === "add") { $("new-examples").value = ""; checkWarnings(); }
    renderExamples();
    notify(t("saved_" + change.kind, { intent: change.to_intent || intent }));
    loadList(true);
  }, function (err) {
    if (isConflict(err) && err.data.current.intent === intent && err.data.current.language === language) {
      nlu.examples = err.data.current;
      nlu.editing = null;
      renderExamples();
      showConflict($("intent-conflict"), {
        message: err.data.message,
        renderCurrent: function (box) { box.appendChild(currentList(err.data.current)); },
        onReapply: function () { run(change, $("add-examples-form"), nlu.examples.version); },
        onTheirs: function () { if (change.kind === "add") $("new-examples").value = ""; }
      });
      return;
    }
    showError(form, err);
  });
}

function currentList(examples) {
  var list = el("ul", "plain current-examples");
  (examples.examples || []).forEach(function (e) { list.appendChild(el("li", "", e.text)); });
  if (!(examples.examples || []).length) list.appendChild(el("li", "muted", t("no_examples")));
  return list;
}

var warningsRequest = 0;

function checkWarnings() {
  if (!nlu.intent || !editable()) return;
  var texts = lines($("new-examples").value).slice(0, 100);
  var mine = ++warningsRequest;
  api("POST", "/api/studio/warnings", { intent: nlu.intent, language: nlu.language, texts: texts }).then(function (data) {
    if (mine !== warningsRequest) return;
    nlu.warnings = data.warnings || [];
    renderWarnings();
  }, function (err) {
    if (mine !== warningsRequest) return;
    nlu.warnings = [];
    renderWarnings();
    showError($("add-examples-form"), err);
  });
}

const checkSoon = debounce(checkWarnings, 300);

function renderWarnings() {
  var list = $("example-warnings");
  clear(list);
  nlu.warnings.forEach(function (warning) {
    var li = testid(el("li", warning.blocking ? "warning blocking" : "warning"), "example-warning");
    li.setAttribute("data-kind", warning.kind);
    li.appendChild(el("span", "warning-kind", label("warn_", warning.kind)));
    li.appendChild(el("span", "", warning.message));
    list.appendChild(li);
  });
}

function openIntent(intent, language) {
  nlu.intent = intent;
  nlu.language = language;
  nlu.editing = null;
  hideConflict($("intent-conflict"));
  Array.prototype.forEach.call(document.querySelectorAll("input[name=intent-language]"), function (radio) {
    radio.checked = radio.value === language;
  });
  renderList();
  return api("GET", examplesPath(intent, language)).then(function (examples) {
    if (nlu.intent !== intent || nlu.language !== language) return;
    nlu.examples = examples;
    renderExamples();
    $("new-examples").value = "";
    clearErrors($("add-examples-form"));
    checkWarnings();
  }, function (err) {
    nlu.examples = null;
    renderExamples();
    failed(err);
  });
}

function search(event) {
  event.preventDefault();
  var form = $("example-search-form");
  clearErrors(form);
  var q = $("example-search").value.trim();
  var results = $("example-search-results");
  if (!q) { clear(results); $("example-search-summary").hidden = true; return; }
  api("GET", "/api/studio/examples" + query({ q: q, limit: 100 })).then(function (found) {
    clear(results);
    (found.examples || []).forEach(function (example) {
      var li = el("li");
      var b = button("", "list-button", "search-result");
      b.appendChild(el("span", "list-name", example.text));
      b.appendChild(el("span", "list-meta", example.intent + " · " + example.language));
      b.addEventListener("click", function () { go(hashOf(["intents", example.language, example.intent])); });
      li.appendChild(b);
      results.appendChild(li);
    });
    var summary = $("example-search-summary");
    summary.textContent = t(found.truncated ? "search_more" : "search_found", { n: found.total, shown: (found.examples || []).length });
    summary.hidden = false;
  }, function (err) { showError(form, err); });
}

// The view opened: `parts` is [] or [language, intent].
export function show(parts, entering) {
  var listed = entering || !nlu.intents ? loadList(entering) : Promise.resolve();
  if (parts.length >= 2) {
    var language = parts[0] === "zh" ? "zh" : "en";
    if (parts[1] !== nlu.intent || language !== nlu.language || entering || !nlu.examples) {
      return Promise.all([listed, openIntent(parts[1], language)]);
    }
    return listed;
  }
  nlu.intent = null;
  nlu.examples = null;
  renderExamples();
  return listed;
}

export function render() {
  renderList();
  renderExamples();
  renderWarnings();
}

export function wireIntents() {
  $("intent-filter").addEventListener("input", renderList);
  Array.prototype.forEach.call(document.querySelectorAll("input[name=intent-language]"), function (radio) {
    radio.addEventListener("change", function () {
      nlu.language = radio.value;
      if (nlu.intent) go(hashOf(["intents", radio.value, nlu.intent]));
    });
  });
  $("new-examples").addEventListener("input", checkSoon);
  $("add-examples-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var texts = lines($("new-examples").value);
    if (!texts.length) { clearErrors($("add-examples-form")); fieldError($("add-examples-form"), "texts", t("enter_examples")); return; }
    run({ kind: "add", texts: texts }, $("add-examples-form"));
  });
  $("example-search-form").addEventListener("submit", search);
}
