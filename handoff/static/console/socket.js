/* The live event socket, /ws/console (docs/console.md), and the connection indicator. Events only say
 * "look again": on every (re)connect and every 30 s the console resyncs through the HTTP API, so a lost event
 * delays an update but never loses a message. A closed socket reconnects with a growing backoff, after
 * checking that the session still lives. What to do with events is set by main.js (events.js). */

import { api } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./language.js";
import { conv, session, state } from "./state.js";

const PING_MS = 25000;
const RESYNC_MS = 30000;
const MAX_BACKOFF_MS = 15000;

let handlers = { event: function () {}, resync: function () {}, sessionLost: function () {} };
let socket = null, socketOpen = false, backoff = 500, reconnectTimer = null, pingTimer = null, safetyTimer = null;

// handlers: {event(data), resync(), sessionLost()}
export function configureSocket(next) { handlers = next; }

export function setConnection(open) {
  socketOpen = open;
  var box = $("connection");
  box.textContent = open ? t("connected") : t("reconnecting");
  box.className = "connection " + (open ? "is-open" : "is-closed");
}

// The indicator again, in the current language.
export function renderConnection() { setConnection(socketOpen); }

export function connectSocket() {
  if (!session.me || socket) return;
  clearTimeout(reconnectTimer);
  var ws = new WebSocket(window.location.origin.replace(/^http/, "ws") + "/ws/console");
  socket = ws;
  ws.onopen = function () {
    backoff = 500;
    setConnection(true);
    sendWatch();
    handlers.resync();  // whatever happened while we were away: inbox and transcripts by cursor
  };
  ws.onmessage = function (event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data && typeof data === "object") handlers.event(data);
  };
  ws.onclose = function () {
    if (socket === ws) socket = null;
    setConnection(false);
    if (!session.me) return;
    reconnectTimer = setTimeout(function () {
      // a closed socket may mean an ended session: find out before trying again
      api("GET", "/api/session").then(function () { connectSocket(); }, function (err) {
        if (err.status === 401) handlers.sessionLost(); else connectSocket();
      });
    }, backoff + Math.random() * 250);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };
  clearInterval(pingTimer);
  pingTimer = setInterval(function () {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
  }, PING_MS);
  clearInterval(safetyTimer);
  safetyTimer = setInterval(function () { if (session.me && !document.hidden) handlers.resync(); }, RESYNC_MS);
}

export function closeSocket() {
  clearTimeout(reconnectTimer);
  clearInterval(pingTimer);
  clearInterval(safetyTimer);
  if (socket) {
    var ws = socket;
    socket = null;
    ws.onclose = null;
    ws.close();
  }
  setConnection(false);
}

// Tells the server which conversations to report on: my chats and the open one.
export function sendWatch() {
  if (!socket || socket.readyState !== 1) return;
  var ids = state.chats.map(function (chat) { return chat.conversation_id; });
  if (state.selected && ids.indexOf(state.selected) < 0 && !conv(state.selected).error) ids.push(state.selected);
  socket.send(JSON.stringify({ type: "watch", conversation_ids: ids }));
}
