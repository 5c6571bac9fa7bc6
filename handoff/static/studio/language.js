/* The studio's interface language: the console's interface-language.js with the studio's texts and its
 * own remembered choice, plus labels for server values. */

import { interfaceLanguage } from "/console/interface-language.js";
import { TEXTS } from "./texts.js";

const language = interfaceLanguage(TEXTS, "studio-language", "studio");

export const { adoptAccountLanguage, applyLanguage, locale, t, toggleLanguage } = language;

// A label for a server value: the text of `prefix + value` when there is one, else the value itself.
export function label(prefix, value) {
  if (value === null || value === undefined || value === "") return t("none");
  return language.hasText(prefix + value) ? t(prefix + value) : String(value);
}
