/* Moving to a view by its deep link (#chats, #chat/<id>, #tickets, #ticket/<id>, #supervisor). The router
 * (views.js) registers itself here, so any feature can link to another without importing it. */

let router = function () {};

export function setRouter(route) { router = route; }

// Opens `hash`; the same link again routes again (a chat reopened after an error, a refreshed ticket).
export function go(hash) {
  if (window.location.hash !== "#" + hash) window.location.hash = hash;
  else router();
}
