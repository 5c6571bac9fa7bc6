/* The studio's JSON API: same-origin fetches with the session cookie and the CSRF token on every change.
 * A failed call rejects with an Error carrying `status` and the server's body as `data`
 * ({error, message, field?, current?}); a 401 while signed in ends the session (handler set by session.js). */

import { session } from "./state.js";

let unauthorised = function () {};

export function whenUnauthorised(handler) { unauthorised = handler; }

// One path segment or query value.
export function enc(value) { return encodeURIComponent(String(value)); }

// "?a=1&b=2" from the entries of `params` that have a value.
export function query(params) {
  var parts = [];
  Object.keys(params).forEach(function (name) {
    var value = params[name];
    if (value !== undefined && value !== null && value !== "") parts.push(enc(name) + "=" + enc(value));
  });
  return parts.length ? "?" + parts.join("&") : "";
}

export function api(method, path, body) {
  var headers = { Accept: "application/json" };
  var options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  return fetch(path, options).then(function (response) {
    return response.text().then(function (text) {
      var data = null;
      if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
      if (!response.ok) {
        var err = new Error((data && (data.message || data.error)) || "HTTP " + response.status);
        err.status = response.status;
        err.data = data;
        if (response.status === 401 && session.me && path.indexOf("/api/session") !== 0) unauthorised();
        throw err;
      }
      return data;
    });
  });
}

// Whether `err` is a 409 that carries the current version of what was edited.
export function isConflict(err) {
  return !!err && err.status === 409 && !!err.data && err.data.current !== undefined && err.data.current !== null;
}
