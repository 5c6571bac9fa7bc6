/* The interface language shared by the console and the studio: the one chosen with the switch (remembered
 * in this browser under the page's own key), else the signed-in account's, else the browser's. Each page
 * passes its own texts; the page's labels carry data-i18n keys. */

// The language functions of a page: `texts` by language ({en: {...}, zh: {...}}), the localStorage key
// the choice is remembered under, and the text key of the page's title.
export function interfaceLanguage(texts, storageKey, titleKey) {
  var lang = "en";
  var chosen = false;  // picked with the switch (now or before): the account's language no longer applies
  try { lang = window.localStorage.getItem(storageKey) || ""; } catch (e) { lang = ""; }
  chosen = !!texts[lang];
  if (!chosen) lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";

  function t(key, vars) {
    var text = (texts[lang] && texts[lang][key]) || texts.en[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (name) { text = text.split("{" + name + "}").join(String(vars[name])); });
    }
    return text;
  }

  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t(titleKey);
    each("[data-i18n]", function (node) { node.textContent = t(node.getAttribute("data-i18n")); });
    each("[data-i18n-placeholder]", function (node) { node.placeholder = t(node.getAttribute("data-i18n-placeholder")); });
    each("[data-i18n-aria-label]", function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
    });
    each("[data-i18n-title]", function (node) { node.title = t(node.getAttribute("data-i18n-title")); });
    each(".lang-toggle", function (node) {
      node.textContent = t("switch_language");
      node.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
    });
  }

  return {
    currentLanguage: function () { return lang; },
    // The locale dates, times and numbers are written in.
    locale: function () { return lang === "zh" ? "zh-CN" : "en-GB"; },
    t: t,
    // Whether `key` names a text (server values such as reasons and statuses have labels only for known ones).
    hasText: function (key) { return Object.prototype.hasOwnProperty.call(texts.en, key); },
    applyLanguage: applyLanguage,
    // The language switch: the other language, remembered and applied to the page's own labels.
    toggleLanguage: function () {
      lang = lang === "zh" ? "en" : "zh";
      chosen = true;
      try { window.localStorage.setItem(storageKey, lang); } catch (e) { /* private mode: not remembered */ }
      applyLanguage();
    },
    // The signed-in account's language, unless one was chosen with the switch.
    adoptAccountLanguage: function (language) {
      if (!chosen && texts[language]) lang = language;
    }
  };
}
