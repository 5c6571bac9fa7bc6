/* Server values as editors read them: shares, times, durations and JSON details, always as text. */

import { locale, t } from "./language.js";

export function pct(share) {
  if (typeof share !== "number" || !isFinite(share)) return t("none");
  return (Math.round(share * 1000) / 10) + "%";
}

// Points of change (+2.5 / −10), signed.
export function points(value) {
  if (typeof value !== "number" || !isFinite(value)) return t("none");
  var rounded = Math.round(value * 100) / 100;
  return (rounded > 0 ? "+" : rounded < 0 ? "−" : "±") + Math.abs(rounded);
}

export function dateTime(ts) {
  var n = Number(ts);
  if (!isFinite(n) || !n) return t("none");
  return new Date(n * 1000).toLocaleString(locale(), {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
  });
}

export function seconds(value) {
  if (typeof value !== "number" || !isFinite(value)) return t("none");
  var s = Math.max(0, Math.round(value));
  return s < 60 ? t("s", { n: s }) : t("min_s", { m: Math.floor(s / 60), s: s % 60 });
}

export function json(value) {
  try { return JSON.stringify(value, null, 1); } catch (e) { return String(value); }
}
