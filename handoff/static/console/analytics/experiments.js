/* The experiments panel of the analytics view: the list (GET /api/experiments), a form that starts one
 * (POST /api/experiments: name, kind, variants with shares and settings, primary metric, minimum effect),
 * stop with a confirmation (POST /api/experiments/<id>/stop) and the results per variant with their
 * intervals, verdict, needed sample size and a warning when the split is off
 * (GET /api/experiments/<id>/results). A 400 shows at the field it names. */

import { api, enc } from "../api.js";
import { $, button, cell, clear, el, isObject, testid } from "../dom.js";
import { dateTime, errorText, fmt } from "../format.js";
import { hasText, t } from "../language.js";
import { failed, notify } from "../notice.js";
import { renderResults } from "./results.js";

// The settings each kind of experiment varies, as form fields: [name, input type, step].
const PARAMS = {
  routing_weights: [["skill", "number", "0.05"], ["load", "number", "0.05"], ["rating", "number", "0.05"]],
  kb_threshold: [["threshold", "number", "0.01"]],
  reply_variant: [["variant", "text"]]
};
const MAX_VARIANTS = 4;

let options = { kinds: Object.keys(PARAMS), metrics: [], default_effect: {} };
let effectEdited = false;
let stopping = null;  // the experiment the stop dialog asks about
let shownResults = null;

function label(prefix, name) { return hasText(prefix + name) ? t(prefix + name) : name; }

export function loadExperiments() {
  api("GET", "/api/experiments").then(function (data) {
    data = isObject(data) ? data : {};
    options = {
      kinds: Array.isArray(data.kinds) ? data.kinds : options.kinds,
      metrics: Array.isArray(data.metrics) ? data.metrics : [],
      default_effect: isObject(data.default_effect) ? data.default_effect : {}
    };
    fillChoices();
    renderList(Array.isArray(data.experiments) ? data.experiments : []);
    if (shownResults) showResults(shownResults);
  }).catch(function (err) {
    var box = $("experiment-list");
    clear(box);
    box.appendChild(el("p", "muted", err && err.status === 503 ? errorText(err) : t("error", { m: errorText(err) })));
  });
}

function renderList(list) {
  var box = $("experiment-list");
  clear(box);
  if (!list.length) { box.appendChild(testid(el("p", "muted", t("x_none")), "x-none")); return; }
  var table = testid(el("table", "data"), "x-list");
  var head = el("tr");
  ["x_name", "x_kind", "x_variants", "x_metric", "x_status", "x_started", ""].forEach(function (k) { head.appendChild(el("th", "", k ? t(k) : "")); });
  var thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  var body = el("tbody");
  list.forEach(function (x) {
    var row = testid(el("tr", x.status === "running" ? "running" : "stopped"), "x-row");
    row.setAttribute("data-experiment-id", String(x.id));
    cell(row, x.name);
    cell(row, label("xk_", x.kind));
    cell(row, (Array.isArray(x.variants) ? x.variants : []).map(function (v) {
      return v.name + " " + Math.round(Number(v.share) * 1000) / 10 + "%";
    }).join(" · "));
    cell(row, label("xm_", x.primary_metric) + " (±" + fmt(x.minimum_effect) + ")");
    testid(cell(row, x.status === "running" ? t("x_running") : t("x_stopped_status") + " · " + fmt(x.stopped_by)), "x-status");
    cell(row, dateTime(x.started_at) + " · " + fmt(x.created_by));
    var actions = el("td", "actions");
    var results = button(t("x_results"), "small", "x-results-open");
    results.addEventListener("click", function () { showResults(x.id); });
    actions.appendChild(results);
    if (x.status === "running") {
      var stop = button(t("x_stop"), "small danger", "x-stop");
      stop.addEventListener("click", function () { askStop(x); });
      actions.appendChild(stop);
    }
    row.appendChild(actions);
    body.appendChild(row);
  });
  table.appendChild(body);
  box.appendChild(table);
}

// -- results -------------------------------------------------------------------------------------------

function showResults(id) {
  shownResults = id;
  api("GET", "/api/experiments/" + enc(id) + "/results").then(function (data) {
    var box = $("experiment-results");
    box.hidden = false;
    renderResults(box, data, function () { shownResults = null; box.hidden = true; clear(box); });
  }).catch(failed);
}

// -- stopping ------------------------------------------------------------------------------------------

function askStop(experiment) {
  stopping = experiment;
  $("experiment-stop-text").textContent = t("x_stop_text", { name: experiment.name });
  $("experiment-stop-error").hidden = true;
  $("experiment-stop-dialog").showModal();
}

function confirmStop(event) {
  event.preventDefault();
  if (!stopping) return;
  var id = stopping.id;
  api("POST", "/api/experiments/" + enc(id) + "/stop").then(function () {
    $("experiment-stop-dialog").close();
    stopping = null;
    notify(t("x_stopped"));
    loadExperiments();
  }).catch(function (err) {
    var box = $("experiment-stop-error");
    box.textContent = t("error", { m: errorText(err) });
    box.hidden = false;
  });
}

// -- the form ------------------------------------------------------------------------------------------

function fillChoices() {
  fillSelect($("x-kind"), options.kinds, "xk_");
  fillSelect($("x-metric"), options.metrics, "xm_");
  if (!effectEdited) suggestEffect();
  if (!$("x-variants").children.length) { addVariant("control", 50); addVariant("b", 50); }
}

function fillSelect(select, values, prefix) {
  var current = select.value;
  clear(select);
  values.forEach(function (value) {
    var option = el("option", "", label(prefix, value));
    option.value = value;
    select.appendChild(option);
  });
  if (values.indexOf(current) >= 0) select.value = current;
}

function suggestEffect() {
  var effect = options.default_effect[$("x-metric").value];
  if (typeof effect === "number") $("x-min-effect").value = String(effect);
}

function addVariant(name, share) {
  var box = $("x-variants");
  if (box.children.length >= MAX_VARIANTS) return;
  var row = testid(el("div", "variant row"), "x-variant");
  var nameInput = input("x-variant-name", "text", name || "");
  nameInput.maxLength = 32;
  row.appendChild(labelled(t("x_variant"), nameInput));
  var shareInput = input("x-variant-share", "number", share === undefined ? "" : String(share));
  shareInput.min = "0"; shareInput.max = "100"; shareInput.step = "any";
  row.appendChild(labelled(t("x_share"), shareInput));
  var params = el("span", "params row");
  row.appendChild(params);
  var remove = button(t("x_remove"), "link small", "x-variant-remove");
  remove.addEventListener("click", function () { if (box.children.length > 2) box.removeChild(row); });
  row.appendChild(remove);
  box.appendChild(row);
  renderParams(row);
}

function input(id, type, value) {
  var node = testid(el("input"), id);
  node.type = type;
  node.value = value;
  node.className = id;
  return node;
}

function labelled(text, control) {
  var wrap = el("label");
  wrap.appendChild(el("span", "", text));
  wrap.appendChild(control);
  return wrap;
}

// The settings of a variant for the chosen kind (kept when the kind changes back and forth).
function renderParams(row) {
  var box = row.querySelector(".params");
  var kept = {};
  Array.prototype.forEach.call(box.querySelectorAll("input"), function (i) { kept[i.name] = i.value; });
  clear(box);
  var fields = PARAMS[$("x-kind").value];
  if (!fields) {
    var raw = input("x-param-json", "text", kept.params_json || "{}");
    raw.name = "params_json";
    box.appendChild(labelled(t("x_params"), raw));
    return;
  }
  fields.forEach(function (f) {
    var node = input("x-param-" + f[0], f[1], kept[f[0]] || "");
    node.name = f[0];
    if (f[2]) node.step = f[2];
    box.appendChild(labelled(f[0], node));
  });
}

function variantsOf() {
  return Array.prototype.map.call($("x-variants").children, function (row, index) {
    var params = {};
    var fields = PARAMS[$("x-kind").value];
    Array.prototype.forEach.call(row.querySelectorAll(".params input"), function (i) {
      if (!fields) {
        try { params = JSON.parse(i.value || "{}"); } catch (e) { throw fieldError("variants[" + index + "].params", t("x_invalid_params")); }
        return;
      }
      var type = fields.filter(function (f) { return f[0] === i.name; })[0];
      params[i.name] = type && type[1] === "number" && i.value !== "" ? Number(i.value) : i.value;
    });
    var share = row.querySelector(".x-variant-share").value;
    var variant = { name: row.querySelector(".x-variant-name").value.trim(), params: params };
    if (share !== "") variant.share = Number(share) / 100;
    return variant;
  });
}

function fieldError(field, message) {
  var err = new Error(message);
  err.data = { field: field };
  return err;
}

// The control a 400's `field` names (name, variants[1].share, variants[0].params.skill, ...).
function controlFor(field) {
  var simple = { name: "x-name", kind: "x-kind", primary_metric: "x-metric", minimum_effect: "x-min-effect" };
  if (simple[field]) return $(simple[field]);
  var m = /^variants\[(\d+)\](?:\.(\w+))?(?:\.(\w+))?/.exec(field || "");
  if (!m) return field === "variants" ? $("x-variants") : null;
  var row = $("x-variants").children[Number(m[1])];
  if (!row) return $("x-variants");
  if (m[2] === "name") return row.querySelector(".x-variant-name");
  if (m[2] === "share") return row.querySelector(".x-variant-share");
  if (m[2] === "params") return row.querySelector(m[3] ? ".params input[name='" + m[3] + "']" : ".params input") || row;
  return row;
}

function clearInvalid() {
  Array.prototype.forEach.call(document.querySelectorAll("#experiment-form [aria-invalid]"), function (node) {
    node.removeAttribute("aria-invalid");
  });
  $("experiment-error").hidden = true;
}

function showFormError(err) {
  var field = err && err.data && err.data.field;
  var box = $("experiment-error");
  box.textContent = err && err.status === 409 ? errorText(err) : (field ? field + ": " : "") + errorText(err).replace(field + ": ", "");
  box.hidden = false;
  var control = controlFor(field);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    if (control.focus) control.focus();
  }
}

function submit(event) {
  event.preventDefault();
  clearInvalid();
  var body;
  try {
    body = {
      name: $("x-name").value.trim(),
      kind: $("x-kind").value,
      variants: variantsOf(),
      primary_metric: $("x-metric").value,
      minimum_effect: Number($("x-min-effect").value)
    };
  } catch (err) { showFormError(err); return; }
  var start = event.submitter || $("experiment-form").querySelector("[type=submit]");
  start.disabled = true;
  api("POST", "/api/experiments", body).then(function (made) {
    notify(t("x_created"));
    $("x-name").value = "";
    $("experiment-new").open = false;
    shownResults = made && made.id ? made.id : shownResults;
    loadExperiments();
  }).catch(showFormError).then(function () { start.disabled = false; });
}

export function wireExperiments() {
  $("experiment-form").addEventListener("submit", submit);
  $("x-add-variant").addEventListener("click", function () {
    addVariant(String.fromCharCode(97 + $("x-variants").children.length), "");
  });
  $("x-kind").addEventListener("change", function () {
    Array.prototype.forEach.call($("x-variants").children, renderParams);
  });
  $("x-metric").addEventListener("change", function () { if (!effectEdited) suggestEffect(); });
  $("x-min-effect").addEventListener("input", function () { effectEdited = true; });
  $("experiment-stop-form").addEventListener("submit", confirmStop);
  $("experiment-stop-dialog").addEventListener("close", function () { stopping = null; });
}
