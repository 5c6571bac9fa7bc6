/* The agent's side of the chats view: their status and load ("2 of 3"), and the chats they hold with the
 * last message and unread customer messages (also counted on the tab and in the window title). */

import { $, button, clear, el, testid } from "./dom.js";
import { reasonLabel } from "./format.js";
import { t } from "./language.js";
import { go } from "./nav.js";
import { messageSummary } from "./photos.js";
import { conv, state } from "./state.js";

export function renderPresence() {
  var select = $("presence");
  if (state.agent && state.agent.presence) select.value = state.agent.presence;
  select.className = "presence-" + select.value;
  var load = $("load");
  if (state.agent && typeof state.agent.capacity === "number") {
    load.textContent = t("load_of", { active: state.chats.length, capacity: state.agent.capacity });
  } else {
    load.textContent = "";
  }
}

function chatLabel(chat) {
  return chat.customer_id ? String(chat.customer_id) : t("customer") + " " + String(chat.conversation_id).slice(0, 8);
}

export function renderChats() {
  var list = $("chat-list");
  clear(list);
  var unreadTotal = 0;
  state.chats.forEach(function (chat) {
    var cid = chat.conversation_id;
    var c = conv(cid);
    unreadTotal += c.unread;
    var item = el("li");
    var b = button("", "chat-item" + (cid === state.selected ? " selected" : ""), "chat-item");
    b.setAttribute("data-conversation-id", cid);
    if (cid === state.selected) b.setAttribute("aria-current", "true");
    b.appendChild(el("span", "chat-name", chatLabel(chat)));
    b.appendChild(el("span", "chat-meta muted", [reasonLabel(chat.reason), chat.skill, chat.language, chat.channel]
      .filter(function (x) { return x && x !== t("none"); }).join(" · ")));
    var last = c.messages.length ? c.messages[c.messages.length - 1] : null;
    if (last) b.appendChild(el("span", "chat-last", messageSummary(last)));
    if (c.unread) {
      var badge = testid(el("span", "badge", c.unread), "unread");
      badge.setAttribute("aria-label", t("unread_count", { n: c.unread }));
      b.appendChild(badge);
    }
    b.addEventListener("click", function () { go("chat/" + cid); });
    item.appendChild(b);
    list.appendChild(item);
  });
  $("chats-empty").hidden = state.chats.length > 0;
  var badge = $("tab-chats-badge");
  badge.textContent = unreadTotal ? String(unreadTotal) : "";
  badge.hidden = !unreadTotal;
  document.title = (unreadTotal ? "(" + unreadTotal + ") " : "") + t("console");
  renderPresence();
}
