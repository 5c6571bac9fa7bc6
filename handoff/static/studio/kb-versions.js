/* Knowledge-base index versions (GET /api/studio/kb/versions): who published each and what changed, a text
 * diff between any two versions or a version and the working files (GET /api/studio/kb/diff), and rollback
 * to any version (POST /api/studio/kb/rollback), which asks before it overwrites unpublished edits. */

import { api, query } from "./api.js";
import { $, button, cell, clear, el, option, testid } from "./dom.js";
import { clearErrors, confirmAction, showError } from "./forms.js";
import { dateTime } from "./format.js";
import { label, t } from "./language.js";
import { failed, notify } from "./notice.js";
import { canWrite } from "./state.js";

const WORKING = "working";

const versions = {
  data: null,
  diff: null,
  changed: function () {}  // set by kb.js: a rollback changes the articles and the live version
};

export function onRolledBack(listener) { versions.changed = listener; }

function builtAt(value) {
  if (typeof value === "number") return dateTime(value);
  if (typeof value === "string" && value) {
    var parsed = Date.parse(value);
    return isNaN(parsed) ? value : dateTime(parsed / 1000);
  }
  return t("none");
}

function changeSummary(changes) {
  if (!changes) return t("none");
  var parts = [];
  ["added", "changed", "removed"].forEach(function (kind) {
    var ids = changes[kind] || [];
    if (ids.length) parts.push(t("changes_" + kind, { n: ids.length, ids: ids.join(", ") }));
  });
  if ((changes.settings || []).length) parts.push(t("changes_settings", { n: changes.settings.length }));
  return parts.join(" · ") || t("no_changes");
}

export function loadVersions() {
  return api("GET", "/api/studio/kb/versions").then(function (data) {
    versions.data = data;
    $("versions-error").hidden = true;
    renderTable();
    fillDiffSelects();
    return data;
  }, function (err) {
    $("versions-error").textContent = t("error", { m: err.message });
    $("versions-error").hidden = false;
  });
}

function renderTable() {
  var body = $("versions-body");
  clear(body);
  if (!versions.data) return;
  versions.data.versions.forEach(function (row, index) {
    var tr = testid(el("tr", row.current ? "current" : ""), "version-row");
    tr.setAttribute("data-version", row.version);
    var name = cell(tr, row.version);
    if (row.current) name.appendChild(el("span", "status status-published", t("live")));
    cell(tr, builtAt(row.built_at));
    cell(tr, row.published_by ? row.published_by + " · " + dateTime(row.published_at) : t("none"));
    cell(tr, row.articles === null || row.articles === undefined ? t("none") : String(row.articles), "num");
    var changes = cell(tr, row.problem ? row.problem : changeSummary(row.changes));
    if (row.problem) changes.className = "error";
    var actions = cell(tr, "");
    var previous = versions.data.versions[index + 1];
    if (previous) {
      var diff = button(t("diff_previous"), "small link", "version-diff");
      diff.addEventListener("click", function () { showDiff(previous.version, row.version); });
      actions.appendChild(diff);
    }
    if (!row.current && canWrite()) {
      var back = button(t("rollback_to"), "small", "version-rollback");
      back.setAttribute("data-write", "");
      back.addEventListener("click", function () { rollback(row.version); });
      actions.appendChild(back);
    }
    body.appendChild(tr);
  });
}

function fillDiffSelects() {
  var rows = versions.data ? versions.data.versions : [];
  [["diff-from", rows[1] ? rows[1].version : rows[0] && rows[0].version], ["diff-to", rows[0] ? rows[0].version : WORKING]].forEach(function (pair) {
    var select = $(pair[0]);
    var keep = select.value || pair[1];
    clear(select);
    rows.forEach(function (row) {
      select.appendChild(option(row.version, row.version + (row.current ? " (" + t("live") + ")" : ""), row.version === keep));
    });
    select.appendChild(option(WORKING, t("working_files"), keep === WORKING));
  });
}

// One line of a unified diff, classed by its first character.
function diffLine(line) {
  var kind = line.indexOf("@@") === 0 ? "hunk" : line.indexOf("+++") === 0 || line.indexOf("---") === 0 ? "file"
    : line[0] === "+" ? "add" : line[0] === "-" ? "del" : "ctx";
  return el("span", "diff-line diff-" + kind, line + "\n");
}

function renderDiff() {
  var out = $("diff-output");
  clear(out);
  var diff = versions.diff;
  out.hidden = !diff;
  if (!diff) return;
  out.appendChild(el("h3", "", t("diff_title", { from: diff.from === WORKING ? t("working_files") : diff.from, to: diff.to === WORKING ? t("working_files") : diff.to })));
  var s = diff.summary || {};
  out.appendChild(testid(el("p", "muted", t("diff_summary", { added: s.added || 0, changed: s.changed || 0, removed: s.removed || 0 })), "diff-summary"));
  if (diff.message) out.appendChild(el("p", "warn-text", diff.message));
  (diff.articles || []).forEach(function (article) {
    var box = testid(el("section", "diff-article"), "diff-article");
    box.setAttribute("data-article", article.id);
    box.appendChild(el("h4", "", article.id + " · " + label("change_", article.change)));
    if (article.diff) {
      var pre = testid(el("pre", "diff"), "diff-text");
      article.diff.replace(/\n$/, "").split("\n").forEach(function (line) { pre.appendChild(diffLine(line)); });
      box.appendChild(pre);
    }
    out.appendChild(box);
  });
  if (!(diff.articles || []).length) out.appendChild(el("p", "muted", t("no_differences")));
  if ((diff.settings || []).length) {
    out.appendChild(el("h4", "", t("settings_changed")));
    var list = el("ul", "plain");
    diff.settings.forEach(function (line) { list.appendChild(el("li", "", line)); });
    out.appendChild(list);
  }
}

function showDiff(from, to) {
  var form = $("diff-form");
  clearErrors(form);
  if (from) $("diff-from").value = from;
  if (to) $("diff-to").value = to;
  return api("GET", "/api/studio/kb/diff" + query({ from: $("diff-from").value, to: $("diff-to").value })).then(function (diff) {
    versions.diff = diff;
    renderDiff();
  }, function (err) { showError(form, err); });
}

function rollback(version, discard) {
  var question = discard ? t("confirm_discard_unpublished", { ids: discard.join(", "), version: version }) : t("confirm_rollback", { version: version });
  return confirmAction(question, t("rollback_to")).then(function (yes) {
    if (!yes) return null;
    var body = { version: version };
    if (discard) body.discard_unpublished = true;
    return api("POST", "/api/studio/kb/rollback", body).then(function (result) {
      notify(t("rolled_back", { version: result.version }));
      versions.changed();
      return loadVersions();
    }, function (err) {
      var pending = err.status === 409 && err.data && err.data.error === "unpublished_changes" && err.data.current && err.data.current.unpublished;
      if (pending && !discard) {
        var ids = [].concat(pending.added || [], pending.changed || [], pending.removed || []);
        return rollback(version, ids);
      }
      failed(err);
      return null;
    });
  });
}

export function show(parts, entering) {
  return entering || !versions.data ? loadVersions() : Promise.resolve();
}

export function render() {
  renderTable();
  fillDiffSelects();
  renderDiff();
}

export function wireVersions() {
  $("diff-form").addEventListener("submit", function (event) { event.preventDefault(); showDiff(); });
}
