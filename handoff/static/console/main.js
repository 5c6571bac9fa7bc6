/* The agent console and supervisor dashboard (docs/console.md): plain ES modules loaded by the browser, no
 * build step. This entry wires the features to the page and to each other, then resumes the session or
 * shows the sign-in form. Every server text is inserted as text, never markup (dom.js). */

import { wireAlerts } from "./alerts.js";
import { api } from "./api.js";
import { wireChatActions } from "./chat-actions.js";
import { renderChats, renderPresence } from "./chat-list.js";
import { renderConversation } from "./conversation.js";
import { wireDialogs } from "./dialogs.js";
import { handleEvent, resync } from "./events.js";
import { wireFlags } from "./flag-message.js";
import { renderOffers, wireInbox } from "./inbox.js";
import { wireKeyboard } from "./keyboard.js";
import { applyLanguage, toggleLanguage } from "./language.js";
import { wireQuickReplies } from "./quick-replies.js";
import { wireReply } from "./reply.js";
import { renderIdentity, sessionLost, showLogin, signedIn, wireSession } from "./session.js";
import { configureSocket, renderConnection, setConnection } from "./socket.js";
import { session, state } from "./state.js";
import { loadDashboard, startDashboardRefresh } from "./supervisor/dashboard.js";
import { wireWeights } from "./supervisor/weights.js";
import { wireTicketDialog } from "./ticket-dialog.js";
import { renderTicket, renderTickets, wireTickets } from "./tickets.js";
import { wireViews } from "./views.js";

// Everything on screen again, after the language changed.
function renderAll() {
  renderIdentity();
  renderPresence();
  renderOffers();
  renderChats();
  if (state.selected) renderConversation();
  if (state.view === "tickets") { renderTickets(); renderTicket(); }
  if (state.view === "supervisor") loadDashboard();
  renderConnection();
}

function wireLanguageSwitch() {
  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.addEventListener("click", function () {
      toggleLanguage();
      if (session.me) renderAll();
    });
  });
}

configureSocket({ event: handleEvent, resync: resync, sessionLost: sessionLost });
wireAlerts();
wireSession();
wireLanguageSwitch();
wireViews();
wireInbox();
wireReply();
wireDialogs();
wireChatActions();
wireTicketDialog();
wireTickets();
startDashboardRefresh();
wireWeights();
wireKeyboard();
wireQuickReplies();
wireFlags();

applyLanguage();
setConnection(false);
api("GET", "/api/session").then(signedIn, function () { showLogin(""); });
