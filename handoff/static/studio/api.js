/* The studio's JSON API: the console's json-api.js bound to the studio's session. A failed call rejects
 * with an Error carrying `status` and the server's body as `data` ({error, message, field?, current?}); a
 * 401 while signed in ends the session (handler set by session.js). */

import { enc, jsonApi } from "/console/json-api.js";
import { session } from "./state.js";

export { enc };

const bound = jsonApi(session);

export const api = bound.api;
export const whenUnauthorised = bound.whenUnauthorised;

// "?a=1&b=2" from the entries of `params` that have a value.
export function query(params) {
  var parts = [];
  Object.keys(params).forEach(function (name) {
    var value = params[name];
    if (value !== undefined && value !== null && value !== "") parts.push(enc(name) + "=" + enc(value));
  });
  return parts.length ? "?" + parts.join("&") : "";
}

// Whether `err` is a 409 that carries the current version of what was edited.
export function isConflict(err) {
  return !!err && err.status === 409 && !!err.data && err.data.current !== undefined && err.data.current !== null;
}
