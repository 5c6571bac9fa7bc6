/* The JSON API (docs/console.md): same-origin fetches with the session cookie, the CSRF token on every
 * change, the server's clock skew from its Date header, and errors as Error objects with the status and
 * body. A 401 while signed in means the session ended; the handler for that is set by session.js. */

import { session } from "./state.js";

let unauthorised = function () {};

export function whenUnauthorised(handler) { unauthorised = handler; }

// One path segment or query value.
export function enc(value) { return encodeURIComponent(String(value)); }

export function api(method, path, body) {
  var headers = { Accept: "application/json" };
  var options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  return fetch(path, options).then(function (response) {
    var date = Date.parse(response.headers.get("Date") || "");
    if (!isNaN(date)) {
      var diff = date - Date.now();
      session.skew = Math.abs(diff) > 2000 ? diff : 0;  // the header has one-second resolution
    }
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
