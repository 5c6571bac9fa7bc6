/* Server values as the agent reads them: numbers, shares, durations, times, reasons, errors, and labelled
 * fields. The handoff packet and tickets can grow new fields, so every value renders defensively, as text. */

import { el, testid } from "./dom.js";
import { hasText, locale, t } from "./language.js";

export function fmt(value) {
  if (value === null || value === undefined || value === "") return t("none");
  if (typeof value === "number") return String(Math.round(value * 1000) / 1000);
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "✓" : "✗";
  try { return JSON.stringify(value); } catch (e) { return String(value); }
}

export function pct(share) {
  if (typeof share !== "number" || !isFinite(share)) return t("none");
  return Math.round(share <= 1 ? share * 100 : share) + "%";
}

export function seconds(value) {
  if (typeof value !== "number" || !isFinite(value)) return t("none");
  var s = Math.max(0, Math.round(value));
  return s < 60 ? t("s", { n: s }) : t("min", { m: Math.floor(s / 60), s: s % 60 });
}

export function clockTime(ts) {
  if (typeof ts !== "number") return "";
  var d = new Date(ts * 1000);
  return d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(ts) {
  if (typeof ts === "string" && !/^\d+(\.\d+)?$/.test(ts)) return ts;
  var n = Number(ts);
  if (!isFinite(n) || !n) return t("none");
  return new Date(n * 1000).toLocaleString(locale());
}

export function reasonLabel(reason) {
  if (!reason) return t("none");
  var key = "r_" + reason;
  return hasText(key) ? t(key) + " (" + reason + ")" : String(reason);
}

export function errorText(err) {
  return (err && err.message) || String(err);
}

// A <dt>label</dt><dd>value</dd> pair appended to `list`; returns the <dd>.
export function field(list, label, value, id) {
  list.appendChild(el("dt", "", label));
  var dd = el("dd", "", fmt(value));
  if (id) testid(dd, id);
  list.appendChild(dd);
  return dd;
}
