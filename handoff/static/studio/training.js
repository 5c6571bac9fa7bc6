/* Train, check, activate (docs/studio.md). One click starts a training run (POST /api/studio/training);
 * its stages, step, epochs and elapsed time arrive live as server-sent events
 * (GET /api/studio/training/events), and a reload finds the running one again (GET /api/studio/training).
 * A finished candidate's evaluation is shown beside the live model's, per language and per intent, with the
 * gates; Activate is offered only when every gate passes, Roll back one click away (with a confirmation),
 * and a running training can be cancelled. */

import { api, enc } from "./api.js";
import { $, button, cell, clear, el, meter, testid } from "./dom.js";
import { confirmAction } from "./forms.js";
import { dateTime, pct, points, seconds } from "./format.js";
import { label, t } from "./language.js";
import { failed, notify } from "./notice.js";
import { canWrite, session, state as page } from "./state.js";

const STAGES = ["snapshot", "train", "evaluate_candidate", "evaluate_live", "report"];
const FINAL = ["succeeded", "failed", "cancelled", "interrupted"];
const RECONNECT_MS = 5000;

const training = {
  run: null,        // the latest run's state
  received: 0,      // when it arrived (Date.now()), for the elapsed clock
  models: null,     // GET /api/studio/models
  source: null,     // the EventSource while the view is open
  retry: null,
  clock: null
};

function running() { return !!training.run && training.run.state === "running"; }

function elapsed() {
  var run = training.run;
  if (!run) return null;
  var base = typeof run.elapsed === "number" ? run.elapsed : 0;
  return running() ? base + (Date.now() - training.received) / 1000 : base;
}

function setRun(run) {
  var was = training.run;
  training.run = run;
  training.received = Date.now();
  renderRun();
  var ended = was && was.state === "running" && run && run.id === was.id && FINAL.indexOf(run.state) >= 0;
  if (ended) {
    notify(t("training_" + run.state, { id: run.id }), run.state !== "succeeded");
    loadModels();
  }
}

// How long a stage took (or has taken so far): the trainer reports when each stage began.
function stageSeconds(run, reached, stage) {
  if (typeof reached[stage] !== "number") return null;
  var later = Object.keys(reached).map(function (k) { return reached[k]; })
    .filter(function (at) { return at > reached[stage]; });
  var end = later.length ? Math.min.apply(null, later) : (run === training.run ? elapsed() : run.elapsed);
  return typeof end === "number" ? Math.max(0, end - reached[stage]) : null;
}

function stageList(run) {
  var list = testid(el("ol", "stages"), "training-stages");
  var reached = {};
  (run.stages || []).forEach(function (s) { reached[s.stage] = s.at; });
  var currentAt = STAGES.indexOf(run.stage);
  STAGES.forEach(function (stage, index) {
    if (stage === "evaluate_live" && !run.base_model && !(stage in reached)) return;
    var status = run.state === "succeeded" || index < currentAt ? "done"
      : index === currentAt ? (run.state === "running" ? "current" : "stopped") : "pending";
    if (stage in reached && status === "pending") status = "done";
    var li = testid(el("li", "stage stage-" + status), "training-stage");
    li.setAttribute("data-stage", stage);
    li.setAttribute("data-status", status);
    if (status === "current") li.setAttribute("aria-current", "step");
    li.appendChild(el("span", "stage-name", label("stage_", stage)));
    var took = stageSeconds(run, reached, stage);
    if (took !== null) li.appendChild(el("span", "muted small", seconds(took)));
    list.appendChild(li);
  });
  return list;
}

function renderRun() {
  var box = $("training-run");
  clear(box);
  var run = training.run;
  $("training-start").hidden = running();
  $("training-start").disabled = running();
  $("training-cancel").hidden = !running() || !canWrite();
  if (!run) { box.appendChild(el("p", "muted", t("no_training_yet"))); return; }
  var head = el("p", "run-head");
  head.appendChild(testid(el("strong", "run-state state-" + run.state, label("run_", run.state)), "training-state"));
  head.appendChild(el("span", "muted", " · " + run.id + " · " + t("started_by", { who: run.who, when: dateTime(run.started) })));
  head.appendChild(el("span", "muted", " · " + label("mode_", run.training_mode || run.mode) + " · "));
  var clock = testid(el("span", "elapsed"), "training-elapsed");
  clock.textContent = t("elapsed", { time: seconds(elapsed()) });
  head.appendChild(clock);
  box.appendChild(head);
  box.appendChild(stageList(run));
  if (running()) {
    var now = el("p", "small");
    now.appendChild(el("span", "", label("stage_", run.stage)));
    if (run.step) now.appendChild(el("span", "muted", " · " + run.step));
    box.appendChild(testid(now, "training-step"));
    if (run.progress && run.progress.epochs) {
      var bar = document.createElement("progress");
      bar.max = run.progress.epochs;
      bar.value = run.progress.epoch;
      bar.setAttribute("aria-label", t("epochs", { n: run.progress.epoch, of: run.progress.epochs }));
      box.appendChild(bar);
      box.appendChild(el("span", "muted small", " " + t("epochs", { n: run.progress.epoch, of: run.progress.epochs })));
    }
    if (run.cancel_requested_by) box.appendChild(el("p", "warn-text", t("cancel_requested", { who: run.cancel_requested_by })));
  }
  if (run.error) box.appendChild(testid(el("p", "error", run.error), "training-run-error"));
  if (run.result) {
    var r = run.result;
    box.appendChild(el("p", r.passed ? "ok" : "warn-text", r.passed ? t("candidate_passed", { name: r.candidate }) : t("candidate_failed", { name: r.candidate })));
    if (r.finetune_refused) box.appendChild(el("p", "muted small", t("finetune_refused", { why: r.finetune_refused })));
  }
  if ((run.log_tail || []).length) {
    var log = el("details", "log");
    log.appendChild(el("summary", "", t("training_log")));
    log.appendChild(el("pre", "progress-lines", run.log_tail.join("\n")));
    box.appendChild(log);
  }
}

function tickClock() {
  var node = document.querySelector("[data-testid=training-elapsed]");
  if (node && running()) node.textContent = t("elapsed", { time: seconds(elapsed()) });
}

// -- the event stream

function applyStage(data) {
  var run = training.run;
  if (!run || run.id !== data.id) return;
  if (data.stage !== run.stage) {
    run.stages = (run.stages || []).concat([{ stage: data.stage, at: data.elapsed }]);
    run.step = null;
    run.progress = null;
  }
  run.stage = data.stage;
  if (data.step !== undefined) run.step = data.step;
  if (data.epoch !== undefined && data.epochs !== undefined) run.progress = { epoch: data.epoch, epochs: data.epochs };
  if (typeof data.elapsed === "number") run.elapsed = data.elapsed;
  training.received = Date.now();
  renderRun();
}

function parse(event) {
  try { return JSON.parse(event.data); } catch (e) { return undefined; }
}

function connect() {
  disconnect();
  var source = new EventSource("/api/studio/training/events");
  training.source = source;
  source.addEventListener("state", function (event) {
    var data = parse(event);
    if (data === null) { if (!training.run) renderRun(); return; }
    if (data) setRun(data.log_tail || !training.run || training.run.id !== data.id ? data : Object.assign({}, data, { log_tail: training.run.log_tail }));
  });
  source.addEventListener("tick", function (event) {
    var data = parse(event);
    if (data) setRun(data);
  });
  source.addEventListener("stage", function (event) { var data = parse(event); if (data) applyStage(data); });
  source.addEventListener("cancel_requested", function (event) {
    var data = parse(event);
    if (data && training.run && training.run.id === data.id) { training.run.cancel_requested_by = data.by; renderRun(); }
  });
  source.addEventListener("error", function () {
    // The browser reconnects by itself unless the server refused the stream (signed out, no role).
    if (source.readyState === EventSource.CLOSED && training.source === source) {
      training.source = null;
      clearTimeout(training.retry);
      training.retry = setTimeout(function () { if (page.view === "training" && session.me) connect(); }, RECONNECT_MS);
    }
  });
}

function disconnect() {
  clearTimeout(training.retry);
  if (training.source) { training.source.close(); training.source = null; }
}

function load() {
  return api("GET", "/api/studio/training").then(function (data) {
    $("training-error").hidden = true;
    setRun(data.run);
  }, function (err) {
    $("training-error").textContent = t("error", { m: err.message });
    $("training-error").hidden = false;
  });
}

function start() {
  var mode = $("training-full").checked ? "full" : "auto";
  $("training-start").disabled = true;
  api("POST", "/api/studio/training", { mode: mode }).then(function (data) {
    $("training-error").hidden = true;
    setRun(data.run);
  }, function (err) {
    if (err.status === 409 && err.data && err.data.current) setRun(err.data.current);
    $("training-error").textContent = t("error", { m: err.message });
    $("training-error").hidden = false;
    renderRun();
  });
}

function cancel() {
  confirmAction(t("confirm_cancel_training"), t("cancel_training")).then(function (yes) {
    if (!yes) return;
    $("training-cancel").disabled = true;
    api("DELETE", "/api/studio/training").then(function (data) {
      if (data && data.run && data.run.id) setRun(data.run);
    }, failed).then(function () { $("training-cancel").disabled = false; });
  });
}

// -- models

function modelFields() {
  var list = $("models-live");
  clear(list);
  var m = training.models;
  if (!m) return;
  function add(name, value, id) {
    list.appendChild(el("dt", "", name));
    var dd = el("dd", "", value);
    if (id) testid(dd, id);
    list.appendChild(dd);
  }
  add(t("live_model"), m.active ? m.active.name + " · " + dateTime(m.active.modified) : t("none"), "live-model");
  add(t("previous_model"), m.previous ? m.previous.name : t("none"), "previous-model");
  if ((m.rasa_processes || []).length) {
    add(t("rasa_processes"), m.rasa_processes.map(function (p) {
      return "#" + p.process + " " + label("up_", p.state) + (p.model ? " · " + p.model : "");
    }).join("  ·  "), "rasa-processes");
  }
  $("model-rollback").disabled = !m.previous;
}

function gateList(gates) {
  var list = testid(el("ul", "gates"), "gates");
  ((gates && gates.checks) || []).forEach(function (check) {
    var li = testid(el("li", check.passed ? "gate pass" : "gate fail"), "gate");
    li.setAttribute("data-passed", check.passed ? "true" : "false");
    li.appendChild(el("span", "gate-mark", check.passed ? "✓" : "✗"));
    var text = label("gate_", check.gate) + " (" + check.language + ")";
    if (check.skipped) text += " · " + t("gate_skipped");
    else if (check.gate === "overall_accuracy") text += " · " + points(check.change_points) + " " + t("points") + " (" + t("limit", { n: check.limit_points }) + ")";
    else if (check.failing && check.failing.length) text += " · " + check.failing.map(function (f) { return f.intent + " " + points(f.change_points); }).join(", ");
    else if (check.worst) text += " · " + t("worst", { intent: check.worst.intent, change: points(check.worst.change_points) });
    li.appendChild(el("span", "", text));
    list.appendChild(li);
  });
  return list;
}

function changeCell(row, value) {
  var td = cell(row, points(value), "num");
  if (typeof value === "number") td.classList.add(value < 0 ? "down" : value > 0 ? "up" : "same");
  return td;
}

function comparison(report) {
  var box = testid(el("div", "comparison"), "comparison");
  var langs = Object.keys((report && report.comparison) || {});
  langs.forEach(function (lang) {
    var c = report.comparison[lang];
    var column = testid(el("section", "comparison-language"), "comparison-" + lang);
    box.appendChild(column);
    column.appendChild(el("h4", "", label("lang_", lang) + " · " + t("held_out_n", { n: c.n })));
    var overall = testid(el("table", "overall"), "comparison-overall");
    var head = el("tr");
    ["", "live_model", "candidate", "change"].forEach(function (k) { head.appendChild(el("th", "", k ? t(k) : "")); });
    overall.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    ["accuracy", "macro_f1"].forEach(function (metric) {
      var row = el("tr");
      cell(row, t(metric));
      cell(row, c.live ? pct(c.live[metric]) : t("none"), "num");
      cell(row, pct(c.candidate[metric]), "num");
      changeCell(row, c.change_points ? c.change_points[metric] : null);
      body.appendChild(row);
    });
    overall.appendChild(body);
    column.appendChild(overall);

    var intents = Object.keys(c.intents || {}).map(function (name) { return Object.assign({ name: name }, c.intents[name]); });
    intents.sort(function (a, b) {
      var da = a.change_points ? a.change_points.accuracy : 0;
      var db = b.change_points ? b.change_points.accuracy : 0;
      return da - db || (a.name < b.name ? -1 : 1);
    });
    var table = testid(el("table", "per-intent"), "comparison-intents");
    var ih = el("tr");
    ["intent", "n", "live_model", "candidate", "", "change"].forEach(function (k) { ih.appendChild(el("th", "", k ? t(k) : "")); });
    table.appendChild(el("thead")).appendChild(ih);
    var ib = el("tbody");
    intents.forEach(function (intent) {
      var row = testid(el("tr"), "intent-row");
      row.setAttribute("data-intent", intent.name);
      cell(row, intent.name);
      cell(row, String(intent.n), "num");
      cell(row, intent.live ? pct(intent.live.accuracy) : t("none"), "num");
      cell(row, pct(intent.candidate.accuracy), "num");
      cell(row, "").appendChild(meter(intent.candidate.accuracy, pct(intent.candidate.accuracy)));
      changeCell(row, intent.change_points ? intent.change_points.accuracy : null);
      ib.appendChild(row);
    });
    table.appendChild(ib);
    column.appendChild(table);
  });
  if (!langs.length) box.appendChild(el("p", "muted", t("no_report")));
  return box;
}

function candidateCard(candidate, open) {
  var card = testid(el("details", "candidate" + (candidate.activatable ? " activatable" : "")), "candidate");
  card.open = open;
  card.setAttribute("data-name", candidate.name);
  var summary = el("summary");
  summary.appendChild(el("strong", "", candidate.name));
  summary.appendChild(el("span", "muted", " · " + dateTime(candidate.modified)));
  var verdict = candidate.active ? t("is_live") : candidate.activatable ? t("gates_pass") : label("refusal_", candidate.reason);
  summary.appendChild(testid(el("span", "verdict " + (candidate.activatable ? "ok" : "warn-text"), " · " + verdict), "candidate-verdict"));
  card.appendChild(summary);
  var report = candidate.report;
  if (report && report.live_model) card.appendChild(el("p", "muted small", t("compared_with", { model: candidate.compared_with || report.live_model })));
  if (candidate.message) card.appendChild(el("p", "warn-text small", candidate.message));
  card.appendChild(gateList(candidate.gates || (report && report.gates)));
  card.appendChild(comparison(report));
  if (canWrite() && !candidate.active) {
    var row = el("div", "row");
    row.setAttribute("data-write", "");
    var activate = button(t("activate"), "primary", "candidate-activate");
    activate.disabled = !candidate.activatable;
    if (!candidate.activatable) activate.title = candidate.message || label("refusal_", candidate.reason);
    activate.addEventListener("click", function () { activateModel(candidate.name); });
    row.appendChild(activate);
    card.appendChild(row);
  }
  return card;
}

function renderModels() {
  modelFields();
  var box = $("models-candidates");
  clear(box);
  var m = training.models;
  if (!m) return;
  box.appendChild(el("h3", "", t("candidates")));
  (m.candidates || []).forEach(function (candidate, index) { box.appendChild(candidateCard(candidate, index === 0)); });
  if (!(m.candidates || []).length) box.appendChild(el("p", "muted", t("no_candidates")));
}

function loadModels() {
  return api("GET", "/api/studio/models").then(function (data) {
    training.models = data;
    $("models-error").hidden = true;
    renderModels();
  }, function (err) {
    $("models-error").textContent = t("error", { m: err.message });
    $("models-error").hidden = false;
  });
}

function expectedActive() {
  return training.models && training.models.active ? training.models.active.name : null;
}

function activateModel(name) {
  confirmAction(t("confirm_activate", { name: name }), t("activate")).then(function (yes) {
    if (!yes) return;
    api("POST", "/api/studio/models/" + enc(name) + "/activate", { expected_active: expectedActive() }).then(function (result) {
      notify(t("activated", { name: result.active }));
      return loadModels();
    }, function (err) { failed(err); return loadModels(); });
  });
}

function rollbackModel() {
  var previous = training.models && training.models.previous;
  if (!previous) return;
  confirmAction(t("confirm_rollback_model", { name: previous.name }), t("rollback_model")).then(function (yes) {
    if (!yes) return;
    api("POST", "/api/studio/models/rollback", { expected_active: expectedActive() }).then(function (result) {
      notify(t("rolled_back_model", { name: result.active }));
      return loadModels();
    }, function (err) { failed(err); return loadModels(); });
  });
}

export function show(parts, entering) {
  if (!entering && training.source) return Promise.resolve();
  connect();
  clearInterval(training.clock);
  training.clock = setInterval(tickClock, 1000);
  return Promise.all([load(), loadModels()]);
}

// The view closed: no stream or clock while nobody looks.
export function hide() {
  disconnect();
  clearInterval(training.clock);
}

export function render() {
  renderRun();
  renderModels();
}

export function wireTraining() {
  $("training-start").addEventListener("click", start);
  $("training-cancel").addEventListener("click", cancel);
  $("model-rollback").addEventListener("click", rollbackModel);
}
