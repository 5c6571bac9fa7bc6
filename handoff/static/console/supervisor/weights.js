/* The routing weights editor (GET and PUT /api/routing/weights) with its audit trail. A refresh never
 * overwrites weights the supervisor is still editing. */

import { api } from "../api.js";
import { $, cell, clear, el, isObject, testid } from "../dom.js";
import { dateTime, errorText, fmt } from "../format.js";
import { t } from "../language.js";
import { failed, notify } from "../notice.js";

const INPUTS = ["weight-skill", "weight-load", "weight-rating"];

let weightsDirty = false;

function weightsText(x) { return isObject(x) ? [fmt(x.skill), fmt(x.load), fmt(x.rating)].join(" / ") : fmt(x); }

export function loadWeights() {
  api("GET", "/api/routing/weights").then(function (data) {
    data = data || {};
    var w = isObject(data.weights) ? data.weights : {};
    if (!weightsDirty) {
      $("weight-skill").value = fmt(w.skill);
      $("weight-load").value = fmt(w.load);
      $("weight-rating").value = fmt(w.rating);
    }
    var body = $("weights-audit");
    clear(body);
    (Array.isArray(data.audit) ? data.audit : []).forEach(function (entry) {
      var row = testid(el("tr"), "audit-row");
      cell(row, dateTime(entry.at));
      cell(row, fmt(entry.by));
      cell(row, weightsText(entry.old));
      cell(row, weightsText(entry.new));
      body.appendChild(row);
    });
  }).catch(failed);
}

function saveWeights(event) {
  event.preventDefault();
  var body = {
    skill: Number($("weight-skill").value),
    load: Number($("weight-load").value),
    rating: Number($("weight-rating").value)
  };
  $("weights-error").hidden = true;
  api("PUT", "/api/routing/weights", body).then(function () {
    weightsDirty = false;
    notify(t("weights_saved"));
    loadWeights();
  }).catch(function (err) {
    var box = $("weights-error");
    box.textContent = errorText(err);
    box.hidden = false;
  });
}

export function wireWeights() {
  INPUTS.forEach(function (id) {
    $(id).addEventListener("input", function () { weightsDirty = true; });
  });
  $("weights-form").addEventListener("submit", saveWeights);
}
