/* The console's interface language (interface-language.js with the console's texts): the one the agent
 * chose (remembered in this browser), else their account's, else the browser's. */

import { interfaceLanguage } from "./interface-language.js";
import { TEXTS } from "./texts.js";

export const {
  adoptAccountLanguage, applyLanguage, currentLanguage, hasText, locale, t, toggleLanguage
} = interfaceLanguage(TEXTS, "agent-console-language", "console");
