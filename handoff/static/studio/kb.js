/* The knowledge-base view: its three parts (articles, versions, missed questions) and the publish bar —
 * the live index version, what is not published yet, and Publish (POST /api/studio/kb/publish), whose
 * progress is polled from GET /api/studio/kb/publish while it runs, also after a reload. */

import { api } from "./api.js";
import { $, clear, el, testid } from "./dom.js";
import { dateTime } from "./format.js";
import { label, t } from "./language.js";
import * as articles from "./kb-articles.js";
import * as misses from "./kb-misses.js";
import * as versions from "./kb-versions.js";
import { failed, notify } from "./notice.js";

const PARTS = ["articles", "versions", "misses"];
const POLL_MS = 1000;

const kb = { part: "articles", publish: null, unpublished: null, current: null, timer: null };

function renderBar() {
  $("kb-current").textContent = kb.current ? t("live_version", { version: kb.current }) : t("no_live_version");
  var u = kb.unpublished;
  var n = u ? (u.added || []).length + (u.changed || []).length + (u.removed || []).length : 0;
  var box = $("kb-unpublished");
  box.textContent = u ? (n ? t("unpublished_n", { added: (u.added || []).length, changed: (u.changed || []).length, removed: (u.removed || []).length }) : t("all_published")) : "";
  box.classList.toggle("warn-text", n > 0);
  $("kb-publish").disabled = !!(kb.publish && kb.publish.state === "running");
}

function renderPublish() {
  var box = $("publish-state");
  var state = kb.publish;
  clear(box);
  if (!state || state.state === "idle") { box.hidden = true; return; }
  box.hidden = false;
  box.className = "publish-state state-" + state.state;
  var head = el("p", "publish-head");
  head.appendChild(testid(el("strong", "", label("publish_", state.state)), "publish-status"));
  head.appendChild(el("span", "", " · " + (state.message || "")));
  if (state.started_by) head.appendChild(el("span", "muted", " · " + t("started_by", { who: state.started_by, when: dateTime(state.started_at) })));
  box.appendChild(head);
  if (state.state === "running" && (state.progress || []).length) {
    box.appendChild(testid(el("pre", "progress-lines", state.progress.slice(-6).join("\n")), "publish-progress"));
  }
  if ((state.problems || []).length) box.appendChild(el("pre", "progress-lines error", state.problems.slice(-20).join("\n")));
}

function applyPublish(state) {
  var was = kb.publish && kb.publish.state;
  kb.publish = state;
  if (state && state.current_version !== undefined) kb.current = state.current_version;
  renderPublish();
  renderBar();
  clearTimeout(kb.timer);
  if (state && state.state === "running") kb.timer = setTimeout(pollPublish, POLL_MS);
  else if (was === "running" && state) {
    if (state.state === "succeeded") notify(state.message || t("publish_succeeded"));
    else notify(state.message || label("publish_", state.state), true);
    refreshAll();
  }
}

function pollPublish() {
  return api("GET", "/api/studio/kb/publish").then(applyPublish, function (err) {
    clearTimeout(kb.timer);
    kb.timer = setTimeout(pollPublish, POLL_MS * 3);
    if (err.status === 401) clearTimeout(kb.timer);
  });
}

function publish() {
  $("kb-publish").disabled = true;
  api("POST", "/api/studio/kb/publish").then(applyPublish, function (err) {
    renderBar();
    if (err.status === 409 && err.data && err.data.error === "publish_running" && err.data.current) { applyPublish(err.data.current); return; }
    if (err.status === 409 && err.data && err.data.error === "articles_invalid" && err.data.current) {
      applyPublish({ state: "failed", message: err.data.message, problems: (err.data.current.problems || []).map(function (p) {
        return p.path + (p.line ? ":" + p.line : "") + " " + p.message;
      }) });
      return;
    }
    failed(err);
  });
}

function refreshAll() {
  articles.loadArticles();
  if (kb.part === "versions") versions.loadVersions();
}

// `parts`: [] or ["articles", language, slug] (the article editor), ["new"], ["versions"], ["misses"].
export function show(parts, entering) {
  var part = PARTS.indexOf(parts[0]) >= 0 ? parts[0] : "articles";
  var rest = parts[0] === "new" ? ["new"] : parts.slice(1);
  var changed = part !== kb.part;
  kb.part = part;
  PARTS.forEach(function (name) {
    $("kb-" + name).hidden = name !== part;
    $("kb-tab-" + name).setAttribute("aria-current", name === part ? "page" : "false");
  });
  if (entering) pollPublish();
  if (part === "articles") return articles.show(rest, entering || changed);
  if (part === "versions") return versions.show(rest, entering || changed);
  return misses.show(rest, entering || changed);
}

export function render() {
  renderBar();
  renderPublish();
  articles.render();
  versions.render();
  misses.render();
}

export function wireKb() {
  articles.wireArticles();
  versions.wireVersions();
  misses.wireMisses();
  articles.onList(function (data) {
    kb.unpublished = data.unpublished || null;
    kb.current = data.current_version;
    renderBar();
  });
  versions.onRolledBack(refreshAll);
  $("kb-publish").addEventListener("click", publish);
}
