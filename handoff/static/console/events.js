/* What each live event (docs/console.md) makes the console look at again, and the resync after a
 * (re)connect: the inbox, then the transcripts of my chats and the open one by cursor, then the view. */

import { alertOffer } from "./alerts.js";
import { renderPresence } from "./chat-list.js";
import { refreshCardSoon } from "./conversation.js";
import { $ } from "./dom.js";
import { loadInbox, loadInboxSoon, renderOffers } from "./inbox.js";
import { t } from "./language.js";
import { notify } from "./notice.js";
import { holds, session, state } from "./state.js";
import { loadDashboardSoon } from "./supervisor/dashboard.js";
import { loadTicketsSoon } from "./tickets.js";
import { fetchMessages } from "./transcript.js";

const TYPING_SHOWN_MS = 4000;

let typingTimer = null;

export function resync() {
  var me = session.me;
  if (!me) return;
  var inbox = me.agent_id ? loadInbox() : Promise.resolve();
  inbox.then(function () {
    Object.keys(state.convs).forEach(function (cid) {
      var c = state.convs[cid];
      if (c.loaded && !c.error && (holds(cid) || cid === state.selected)) fetchMessages(cid).catch(function () {});
    });
  });
  if (state.view === "supervisor") loadDashboardSoon();
  if (state.view === "tickets") loadTicketsSoon();
}

// Whether the event is about me as an agent.
function mine(event) { return session.me && session.me.agent_id && event.agent_id === session.me.agent_id; }

function showCustomerTyping() {
  $("customer-typing").hidden = false;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(function () { $("customer-typing").hidden = true; }, TYPING_SHOWN_MS);
}

export function handleEvent(event) {
  var cid = event.conversation_id;
  switch (event.type) {
    case "offer":
      if (mine(event)) {
        if (!state.offers[cid]) {
          state.offers[cid] = Object.assign({ first: Date.now() + session.skew }, event);
          alertOffer(event);
          renderOffers();
        }
        loadInboxSoon();
      }
      loadDashboardSoon();
      break;
    case "offer_closed":
      if (mine(event)) { delete state.offers[cid]; renderOffers(); loadInboxSoon(); }
      loadDashboardSoon();
      break;
    case "assigned":
      if (mine(event)) loadInboxSoon();
      loadDashboardSoon();
      break;
    case "released":
      if (holds(cid)) {
        loadInboxSoon();
        if (cid === state.selected) notify(t("not_held"));
      }
      loadDashboardSoon();
      break;
    case "message":
      if (cid && (holds(cid) || cid === state.selected)) fetchMessages(cid).catch(function () {});
      if (cid && cid === state.selected) refreshCardSoon(cid);
      break;
    case "typing":
      if (cid === state.selected && event.author !== "agent") showCustomerTyping();
      break;
    case "presence":
      if (mine(event)) { state.agent = Object.assign({}, state.agent || {}, { presence: event.presence }); renderPresence(); }
      loadDashboardSoon();
      break;
    case "queue_changed":
      loadDashboardSoon();
      break;
    case "ticket":
      if (state.view === "tickets") loadTicketsSoon();
      loadDashboardSoon();
      break;
    default:
      break;  // hello, watching, pong, error: nothing to redraw
  }
}
