/* The studio (docs/studio.md): plain ES modules loaded by the browser, no build step. This entry wires the
 * views to the page, then resumes the session or shows the sign-in form. Server text is inserted as text,
 * never markup (dom.js); the one exception, the knowledge-base preview, is sandboxed (kb-preview.js). */

import { api } from "./api.js";
import { wireConfirmDialog } from "./forms.js";
import { applyLanguage, toggleLanguage } from "./language.js";
import { renderBadge } from "./inbox.js";
import { renderIdentity, showLogin, signedIn, wireSession } from "./session.js";
import { session } from "./state.js";
import { renderAll, wireViews } from "./views.js";

function wireLanguageSwitch() {
  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.addEventListener("click", function () {
      toggleLanguage();
      if (session.me) { renderIdentity(); renderAll(); renderBadge(); }
    });
  });
}

function wireKeys() {
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      var notice = document.getElementById("notice");
      if (!notice.hidden) notice.hidden = true;
    }
  });
}

wireSession();
wireLanguageSwitch();
wireViews();
wireConfirmDialog();
wireKeys();

applyLanguage();
api("GET", "/api/session").then(signedIn, function () { showLogin(""); });
