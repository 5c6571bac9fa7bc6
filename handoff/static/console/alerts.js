/* A new offer beeps and, where the agent allowed it, shows a desktop notification. Browsers play sound only
 * after the page was touched, so the first pointer or key press unlocks it. Both are courtesies: failures are
 * silent. */

import { reasonLabel } from "./format.js";
import { t } from "./language.js";

let audio = null;

export function unlockAudio() {
  try {
    if (!audio) {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (Context) audio = new Context();
    }
    if (audio && audio.state === "suspended") audio.resume();
  } catch (e) { audio = null; }
}

function beep() {
  if (!audio || audio.state !== "running") return;
  try {
    var now = audio.currentTime;
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, now);
    osc.frequency.setValueAtTime(660, now + 0.15);
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start(now);
    osc.stop(now + 0.4);
  } catch (e) { /* sound is a courtesy */ }
}

export function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") {
    try { Notification.requestPermission(); } catch (e) { /* old browsers: callback form only */ }
  }
}

export function alertOffer(offer) {
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      var n = new Notification(t("new_offer"), { body: reasonLabel(offer.reason), tag: "offer:" + offer.conversation_id });
      n.onclick = function () { window.focus(); n.close(); };
    } catch (e) { /* notifications are a courtesy */ }
  }
}

export function wireAlerts() {
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
}
