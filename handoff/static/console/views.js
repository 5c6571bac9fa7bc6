/* The views a role has (chats, tickets, supervisor, analytics), the tabs that switch them (←/→ move between
 * tabs), and the router for deep links: #chats, #chat/<id>, #tickets, #ticket/<id>, #supervisor, #analytics. */

import { loadAnalytics, wireAnalytics } from "./analytics/dashboard.js";
import { select } from "./conversation.js";
import { $ } from "./dom.js";
import { go, setRouter } from "./nav.js";
import { session, state } from "./state.js";
import { loadDashboard } from "./supervisor/dashboard.js";
import { loadTickets, openTicket } from "./tickets.js";

const VIEWS = ["chats", "tickets", "supervisor", "analytics", "empty"];

// The signed-in user's views, the default first.
export function allowedViews() {
  var me = session.me;
  if (!me) return [];
  if (me.role === "supervisor" || me.role === "admin") return ["supervisor", "chats", "tickets", "analytics"];
  if (me.role === "agent") return ["chats", "tickets"];
  return [];
}

export function route() {
  if (!session.me) return;
  var hash = "";
  try {
    hash = decodeURIComponent(window.location.hash.replace(/^#\/?/, ""));
  } catch (err) {
    hash = "";  // a malformed link opens the default view
  }
  var views = allowedViews();
  $("tab-analytics").hidden = views.indexOf("analytics") < 0;
  var m = /^chat\/(.+)$/.exec(hash);
  if (m && views.indexOf("chats") >= 0) { showView("chats"); select(m[1]); return; }
  m = /^ticket\/(.+)$/.exec(hash);
  if (m && views.indexOf("tickets") >= 0) { showView("tickets"); openTicket(m[1]); return; }
  if (views.indexOf(hash) >= 0) { showView(hash); return; }
  showView(views[0] || "empty");
}

function showView(view) {
  state.view = view;
  VIEWS.forEach(function (name) {
    $("view-" + name).hidden = name !== view;
    var tab = $("tab-" + name);
    if (tab) {
      tab.setAttribute("aria-selected", name === view ? "true" : "false");
      tab.tabIndex = name === view ? 0 : -1;
    }
  });
  if (view === "tickets") loadTickets();
  if (view === "supervisor") loadDashboard();
  if (view === "analytics") loadAnalytics();
}

export function wireViews() {
  wireAnalytics();
  setRouter(route);
  window.addEventListener("hashchange", route);
  Array.prototype.forEach.call(document.querySelectorAll(".tabs [role=tab]"), function (tab) {
    tab.addEventListener("click", function () { go(tab.getAttribute("data-view")); });
    tab.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      var tabs = Array.prototype.filter.call(document.querySelectorAll(".tabs [role=tab]"), function (x) { return !x.hidden; });
      var i = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
      var next = tabs[(i + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  });
}
