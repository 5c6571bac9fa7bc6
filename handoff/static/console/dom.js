/* Element helpers. Text goes in with textContent only, never as markup: whatever the server sends
 * (customer, bot, agent, ticket, template text) shows as the characters typed, and nothing here parses HTML.
 * The page runs under a Content-Security-Policy without inline script or style, so there are no style
 * attributes or inline handlers either; layout changes go through classes and the hidden attribute. */

export function $(id) { return document.getElementById(id); }

export function el(tag, cls, text) {
  var node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

export function testid(node, id) { node.setAttribute("data-testid", id); return node; }

export function button(text, cls, id) {
  var b = el("button", cls, text);
  b.type = "button";
  if (id) testid(b, id);
  return b;
}

// A table cell with `text`, appended to `row`.
export function cell(row, text, cls) { var td = el("td", cls, text); row.appendChild(td); return td; }

export function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
