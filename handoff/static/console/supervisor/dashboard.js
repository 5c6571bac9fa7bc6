/* The supervisor view (#supervisor): the overview, recent routing decisions and the weights, loaded when the
 * view opens, after routing events (debounced) and every 5 s while the page is visible. */

import { api } from "../api.js";
import { failed } from "../notice.js";
import { session, state } from "../state.js";
import { loadDecisions } from "./decisions.js";
import { renderOverview } from "./overview.js";
import { loadWeights } from "./weights.js";

const REFRESH_MS = 5000;

let dashTimer = null;

export function loadDashboardSoon() {
  if (state.view !== "supervisor") return;
  clearTimeout(dashTimer);
  dashTimer = setTimeout(loadDashboard, 400);
}

export function loadDashboard() {
  if (!session.me || state.view !== "supervisor") return;
  api("GET", "/api/supervisor/overview").then(renderOverview).catch(failed);
  loadDecisions();
  loadWeights();
}

export function startDashboardRefresh() {
  setInterval(function () { if (session.me && state.view === "supervisor" && !document.hidden) loadDashboard(); }, REFRESH_MS);
}
