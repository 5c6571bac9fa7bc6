/* Moving to a view by its link (#inbox/<id>, #intents/<language>/<intent>, #kb/versions, ...). The router
 * (views.js) registers itself here, so a feature can link to another without importing it. */

let router = function () {};

export function setRouter(route) { router = route; }

export function go(hash) {
  if (window.location.hash !== "#" + hash) window.location.hash = hash;
  else router();
}

// A link's hash from its parts, each encoded.
export function hashOf(parts) {
  return parts.map(function (part) { return encodeURIComponent(String(part)); }).join("/");
}
