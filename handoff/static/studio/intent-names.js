/* The domain's intents (GET /api/studio/intents), loaded once and again after a change, for the intent
 * pickers of the inbox, the move action and the intents list. */

import { api } from "./api.js";
import { clear, option } from "./dom.js";
import { t } from "./language.js";

let loaded = null;  // the promise of {intents, languages, min_examples}

export function loadIntents(again) {
  if (!loaded || again) {
    loaded = api("GET", "/api/studio/intents").catch(function (err) { loaded = null; throw err; });
  }
  return loaded;
}

export function forget() { loaded = null; }

// Fills `select` with the intents that take examples; keeps `selected` (or a blank "choose" first).
export function fillIntentSelect(select, selected, blank) {
  return loadIntents().then(function (data) {
    var keep = selected !== undefined ? selected : select.value;
    clear(select);
    if (blank !== false) select.appendChild(option("", t("choose_intent")));
    (data.intents || []).forEach(function (intent) {
      if (intent.editable) select.appendChild(option(intent.name, intent.name, intent.name === keep));
    });
    return data;
  });
}
