/* Signing in and out (POST, GET and DELETE /api/session). Signing in shows the console in the account's
 * language (unless one was chosen), the tabs of the role's views, and opens the event socket; an ended
 * session (a 401, or the socket refused) returns to the sign-in form with a message. */

import { unlockAudio } from "./alerts.js";
import { api, whenUnauthorised } from "./api.js";
import { $ } from "./dom.js";
import { errorText } from "./format.js";
import { loadInbox } from "./inbox.js";
import { adoptAccountLanguage, applyLanguage, t } from "./language.js";
import { closeSocket, connectSocket } from "./socket.js";
import { session } from "./state.js";
import { allowedViews, route } from "./views.js";

export function showLogin(message) {
  $("app").hidden = true;
  $("login-view").hidden = false;
  var error = $("login-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("login-user").focus();
}

export function sessionLost() {
  if (!session.me) return;
  session.me = null;
  session.csrf = null;
  closeSocket();
  showLogin(t("session_ended"));
}

// The top bar's "name · role".
export function renderIdentity() {
  var me = session.me;
  $("me").textContent = (me.name || me.user_id) + " · " + me.role;
}

// `body`: the session as POST or GET /api/session returns it.
export function signedIn(body) {
  session.me = body;
  session.csrf = body.csrf_token;
  adoptAccountLanguage(body.language);
  applyLanguage();
  $("login-view").hidden = true;
  $("app").hidden = false;
  renderIdentity();
  $("presence-wrap").hidden = !body.agent_id;
  var views = allowedViews();
  ["chats", "tickets", "supervisor"].forEach(function (view) { $("tab-" + view).hidden = views.indexOf(view) < 0; });
  connectSocket();
  if (body.agent_id) loadInbox();
  route();
}

function signIn(event) {
  event.preventDefault();
  unlockAudio();
  var user = $("login-user").value.trim();
  var password = $("login-password").value;
  if (!user || !password) { showLogin(t("fill_login")); return; }
  var submit = event.target.querySelector("[type=submit]");
  submit.disabled = true;
  api("POST", "/api/session", { user_id: user, password: password }).then(function (body) {
    $("login-password").value = "";
    signedIn(body);
  }).catch(function (err) {
    showLogin(err.status === 429 ? t("too_many_logins") : err.status === 401 ? t("wrong_login") : t("error", { m: errorText(err) }));
  }).then(function () { submit.disabled = false; });
}

function signOut() {
  api("DELETE", "/api/session").catch(function () { /* signed out either way */ }).then(function () {
    session.me = null;
    session.csrf = null;
    closeSocket();
    window.location.replace(window.location.pathname);
  });
}

export function wireSession() {
  whenUnauthorised(sessionLost);
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
}
