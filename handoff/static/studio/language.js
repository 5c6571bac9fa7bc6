/* The interface language: the one chosen with the switch (remembered in this browser), else the account's,
 * else the browser's. Texts come from texts.js; the page's own labels carry data-i18n keys. */

import { TEXTS } from "./texts.js";

const STORAGE_KEY = "studio-language";

let lang = "en";
let chosen = false;  // picked with the switch (now or before): the account's language no longer applies
try { lang = window.localStorage.getItem(STORAGE_KEY) || ""; } catch (e) { lang = ""; }
chosen = !!TEXTS[lang];
if (!chosen) lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";

// The locale dates and numbers are written in.
export function locale() { return lang === "zh" ? "zh-CN" : "en-GB"; }

export function t(key, vars) {
  var text = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.en[key] || key;
  if (vars) {
    Object.keys(vars).forEach(function (name) { text = text.split("{" + name + "}").join(String(vars[name])); });
  }
  return text;
}

// Whether `key` names a text (server values such as reasons and actions have labels only for known ones).
function hasText(key) { return Object.prototype.hasOwnProperty.call(TEXTS.en, key); }

// A label for a server value: the text of `prefix + value` when there is one, else the value itself.
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return t("none");
  return hasText(prefix + value) ? t(prefix + value) : String(value);
}

export function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("studio");
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
    node.textContent = t(node.getAttribute("data-i18n"));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (node) {
    node.placeholder = t(node.getAttribute("data-i18n-placeholder"));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-aria-label]"), function (node) {
    node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-title]"), function (node) {
    node.title = t(node.getAttribute("data-i18n-title"));
  });
  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.textContent = t("switch_language");
    node.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  });
}

export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  chosen = true;
  try { window.localStorage.setItem(STORAGE_KEY, lang); } catch (e) { /* private mode: not remembered */ }
  applyLanguage();
}

export function adoptAccountLanguage(language) {
  if (!chosen && TEXTS[language]) lang = language;
}
