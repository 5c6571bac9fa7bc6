/* The Markdown preview of an article (POST /api/studio/kb/preview). The server renders it with raw HTML
 * turned into text and only web, mail or relative links (handoff/blueprints/studio_kb.py). It is the one
 * server text the studio inserts as markup, and it goes into an <iframe sandbox=""> through srcdoc: the
 * frame runs no script, has an opaque origin (no cookie, no storage, no access to this page or the API),
 * cannot submit forms, open windows or navigate this page, and inherits the page's Content-Security-Policy
 * (no inline script, nothing from other hosts). So even markup that slipped past the server's renderer
 * could only be seen, never run. */

import { api } from "./api.js";

const FRAME_HEAD = '<!doctype html><html><head><meta charset="utf-8">' +
  '<meta name="referrer" content="no-referrer"><base target="_blank">' +
  '<link rel="stylesheet" href="/studio/studio.css"></head><body class="md-preview">';
const FRAME_TAIL = "</body></html>";

let pending = 0;

// Renders `body` into `frame`; resolves once the preview is set (or left as it was after an error).
export function preview(frame, body) {
  var mine = ++pending;
  return api("POST", "/api/studio/kb/preview", { body: body }).then(function (data) {
    if (mine !== pending) return;
    frame.srcdoc = FRAME_HEAD + String((data && data.html) || "") + FRAME_TAIL;
  });
}

export function clearPreview(frame) {
  pending++;
  frame.srcdoc = FRAME_HEAD + FRAME_TAIL;
}
