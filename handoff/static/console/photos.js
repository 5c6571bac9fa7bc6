/* Customers' photos load from /api/attachments/<id> with the session cookie (the same access rules as the
 * conversation), as images only: only ids of the attachment store's shape ever become part of a URL. */

import { enc } from "./api.js";
import { el, isObject, testid } from "./dom.js";
import { t } from "./language.js";

export const PHOTO_ID = /^[A-Za-z0-9_-]{16,64}$/;

// The valid, distinct ids that `pick` finds in `list`, in order.
export function photoIds(list, pick) {
  var ids = [];
  (Array.isArray(list) ? list : []).forEach(function (x) {
    var id = pick(x);
    if (typeof id === "string" && PHOTO_ID.test(id) && ids.indexOf(id) < 0) ids.push(id);
  });
  return ids;
}

export function messagePhotos(m) { return photoIds(m.attachments, function (a) { return isObject(a) ? a.id : null; }); }

// A thumbnail that opens the photo full size in a new tab.
export function photoLink(id, cls) {
  var url = "/api/attachments/" + enc(id);
  var link = testid(el("a", "photo" + (cls ? " " + cls : "")), "photo-link");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener";
  link.title = t("photo_open");
  link.setAttribute("data-attachment-id", id);
  var image = testid(el("img"), "photo");
  image.src = url;
  image.alt = t("photo_alt");
  image.loading = "lazy";
  link.appendChild(image);
  return link;
}

// A message in one line for the chat list: its text, else "Photo ×n".
export function messageSummary(m) {
  var photos = messagePhotos(m).length;
  return m.text || (photos ? t("photo") + (photos > 1 ? " ×" + photos : "") : "");
}
