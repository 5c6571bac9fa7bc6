/* The interface language: the one the agent chose (remembered in this browser), else their account's,
 * else the browser's. Texts come from texts.js; the page's own labels carry data-i18n keys. */

import { TEXTS } from "./texts.js";

const STORAGE_KEY = "agent-console-language";

let lang = "en";
let chosen = false;  // picked with the switch (now or before): the account's language no longer applies
try { lang = window.localStorage.getItem(STORAGE_KEY) || ""; } catch (e) { lang = ""; }
chosen = !!TEXTS[lang];
if (!chosen) lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";

export function currentLanguage() { return lang; }

// The locale dates and times are written in.
export function locale() { return lang === "zh" ? "zh-CN" : "en-GB"; }

export function t(key, vars) {
  var text = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.en[key] || key;
  if (vars) {
    Object.keys(vars).forEach(function (name) { text = text.split("{" + name + "}").join(String(vars[name])); });
  }
  return text;
}

// Whether `key` names a text (server values such as reasons and statuses have labels only for known ones).
export function hasText(key) { return Object.prototype.hasOwnProperty.call(TEXTS.en, key); }

export function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("console");
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
    node.textContent = t(node.getAttribute("data-i18n"));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (node) {
    node.placeholder = t(node.getAttribute("data-i18n-placeholder"));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-aria-label]"), function (node) {
    node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
  });
  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.textContent = t("switch_language");
    node.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  });
}

// The language switch: the other language, remembered and applied to the page's own labels.
export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  chosen = true;
  try { window.localStorage.setItem(STORAGE_KEY, lang); } catch (e) { /* private mode: not remembered */ }
  applyLanguage();
}

// The signed-in account's language, unless one was chosen with the switch.
export function adoptAccountLanguage(language) {
  if (!chosen && TEXTS[language]) lang = language;
}
