/* The console's JSON API (docs/console.md): json-api.js bound to the console's session, which also keeps
 * the server's clock skew from each response's Date header (offer countdowns). A 401 while signed in means
 * the session ended; the handler for that is set by session.js. */

import { jsonApi } from "./json-api.js";
import { session } from "./state.js";

export { enc } from "./json-api.js";

const bound = jsonApi(session, function (response) {
  var date = Date.parse(response.headers.get("Date") || "");
  if (!isNaN(date)) {
    var diff = date - Date.now();
    session.skew = Math.abs(diff) > 2000 ? diff : 0;  // the header has one-second resolution
  }
});

export const api = bound.api;
export const whenUnauthorised = bound.whenUnauthorised;
