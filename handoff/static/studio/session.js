/* Signing in and out with the console's sessions (POST, GET and DELETE /api/session). Editors and admins
 * get every view with its write actions; supervisors the same views read-only (the page's `read-only`
 * class hides every [data-write] element, and the server refuses their writes anyway); other roles a
 * notice that the studio is not for them. */

import { api, whenUnauthorised } from "./api.js";
import { $ } from "./dom.js";
import { adoptAccountLanguage, applyLanguage, label, t } from "./language.js";
import { loadInbox } from "./inbox.js";
import { canRead, canWrite, session, state } from "./state.js";
import { resetViews, route } from "./views.js";

export function showLogin(message) {
  $("app").hidden = true;
  $("login-view").hidden = false;
  var error = $("login-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("login-user").focus();
}

function sessionLost() {
  if (!session.me) return;
  session.me = null;
  session.csrf = null;
  resetViews();
  showLogin(t("session_ended"));
}

export function renderIdentity() {
  var me = session.me;
  if (me) $("me").textContent = (me.name || me.user_id) + " · " + label("role_", me.role);
}

export function signedIn(body) {
  session.me = body;
  session.csrf = body.csrf_token;
  adoptAccountLanguage(body.language);
  applyLanguage();
  $("login-view").hidden = true;
  $("app").hidden = false;
  renderIdentity();
  document.body.classList.toggle("read-only", !canWrite());
  $("read-only").hidden = !canRead() || canWrite();
  Array.prototype.forEach.call(document.querySelectorAll(".tabs [role=tab]"), function (tab) { tab.hidden = !canRead(); });
  route();
  if (canRead() && state.view !== "inbox") loadInbox();  // the inbox badge, whatever view opens first
}

function signIn(event) {
  event.preventDefault();
  var user = $("login-user").value.trim();
  var password = $("login-password").value;
  if (!user || !password) { showLogin(t("fill_login")); return; }
  var submit = event.target.querySelector("[type=submit]");
  submit.disabled = true;
  api("POST", "/api/session", { user_id: user, password: password }).then(function (body) {
    $("login-password").value = "";
    signedIn(body);
  }).catch(function (err) {
    showLogin(err.status === 429 ? t("too_many_logins") : err.status === 401 ? t("wrong_login") : t("error", { m: err.message }));
  }).then(function () { submit.disabled = false; });
}

function signOut() {
  api("DELETE", "/api/session").catch(function () { /* signed out either way */ }).then(function () {
    session.me = null;
    session.csrf = null;
    resetViews();
    window.location.replace(window.location.pathname);
  });
}

export function wireSession() {
  whenUnauthorised(sessionLost);
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
}
