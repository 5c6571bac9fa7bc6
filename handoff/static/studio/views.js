/* The studio's views and the router for their links: #inbox[/<item>], #intents[/<language>/<intent>],
 * #try, #training, #kb[/articles/<language>/<slug> | /new | /versions | /misses],
 * #quick-replies[/<id> | /new], #audit. Tabs switch views; ←/→ move between tabs. */

import * as audit from "./audit.js";
import { $ } from "./dom.js";
import * as inbox from "./inbox.js";
import * as intents from "./intents.js";
import * as kb from "./kb.js";
import { go, setRouter } from "./nav.js";
import * as quickReplies from "./quick-replies.js";
import { canRead, session, state } from "./state.js";
import * as training from "./training.js";
import * as tryIt from "./try.js";

const FEATURES = {
  inbox: inbox,
  intents: intents,
  try: tryIt,
  training: training,
  kb: kb,
  "quick-replies": quickReplies,
  audit: audit
};
const VIEWS = Object.keys(FEATURES);

function parts() {
  var raw = window.location.hash.replace(/^#\/?/, "");
  return raw ? raw.split("/").map(function (part) {
    try { return decodeURIComponent(part); } catch (err) { return ""; }  // a malformed link opens the view
  }) : [];
}

export function route() {
  if (!session.me) return;
  if (!canRead()) { showView("denied"); return; }
  var path = parts();
  var view = VIEWS.indexOf(path[0]) >= 0 ? path[0] : "inbox";
  var entering = view !== state.view;
  showView(view);
  var shown = FEATURES[view].show(path.slice(1), entering);
  if (shown && shown.catch) shown.catch(function () { /* each view reports its own errors */ });
}

function showView(view) {
  var leaving = state.view;
  if (leaving && leaving !== view && FEATURES[leaving] && FEATURES[leaving].hide) FEATURES[leaving].hide();
  state.view = view;
  VIEWS.concat(["denied"]).forEach(function (name) {
    $("view-" + name).hidden = name !== view;
    var tab = $("tab-" + name);
    if (tab) {
      tab.setAttribute("aria-selected", name === view ? "true" : "false");
      tab.tabIndex = name === view ? 0 : -1;
    }
  });
}

// Everything on screen in the language just chosen.
export function renderAll() {
  VIEWS.forEach(function (name) { FEATURES[name].render(); });
}

export function resetViews() {
  var leaving = state.view;
  if (leaving && FEATURES[leaving] && FEATURES[leaving].hide) FEATURES[leaving].hide();
  state.view = null;
}

export function wireViews() {
  setRouter(route);
  window.addEventListener("hashchange", route);
  inbox.wireInbox();
  intents.wireIntents();
  tryIt.wireTry();
  training.wireTraining();
  kb.wireKb();
  quickReplies.wireQuickReplies();
  audit.wireAudit();
  var tabs = Array.prototype.slice.call(document.querySelectorAll(".tabs [role=tab]"));
  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () {
      var view = tab.getAttribute("data-view");
      if (state.view !== view) go(view);
    });
    tab.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      var shown = tabs.filter(function (x) { return !x.hidden; });
      var i = shown.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
      var next = shown[(i + shown.length) % shown.length];
      next.focus();
      next.click();
    });
  });
}
