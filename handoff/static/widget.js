/* Storefront chat widget. Embed with:
 *   <script src="https://support.example.com/widget.js" data-hub="https://support.example.com" defer></script>
 * Optional: data-identity="<assertion from your backend>" for logged-in customers, data-lang="zh".
 * Every text is inserted with textContent: customer, bot and agent messages can never inject markup.
 * Photos (JPEG, PNG, WebP) are uploaded over HTTP with the session token in a header, never in a URL, and
 * shown from blob: URLs (a storefront's Content-Security-Policy needs img-src blob:). A photo over the
 * size limit, or of another type the browser can read, is scaled down to a JPEG first. */
(function () {
  "use strict";
  var script = document.currentScript;
  var hub = ((script && script.getAttribute("data-hub")) || window.location.origin).replace(/\/$/, "");
  var identity = script && script.getAttribute("data-identity");
  var lang = (script && script.getAttribute("data-lang")) ||
    ((navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en");
  var T = {
    en: { title: "Customer service", placeholder: "Type your message…", send: "Send", open: "Chat with us",
      typing: "typing…", queued: "You're number {p} in line", wait: " (about {m} min)",
      agent: "You're chatting with our team", offline: "Reconnecting…", error: "Not sent: ",
      leave: "Leave the queue", photo: "Send a photo", photo_alt: "Photo",
      photo_type: "Choose a JPEG, PNG or WebP photo.", photo_large: "This photo is too large.",
      photo_failed: "The photo could not be sent." },
    zh: { title: "在线客服", placeholder: "请输入您的问题…", send: "发送", open: "联系客服",
      typing: "正在输入…", queued: "您当前排在第 {p} 位", wait: "（约 {m} 分钟）",
      agent: "人工客服为您服务中", offline: "正在重新连接…", error: "发送失败：",
      leave: "退出排队", photo: "发送图片", photo_alt: "图片",
      photo_type: "请选择 JPEG、PNG 或 WebP 格式的图片。", photo_large: "图片太大。",
      photo_failed: "图片发送失败。" }
  }[lang];
  var PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var PHOTO_BYTES = 5 * 1024 * 1024;  // the service's default limit; a 413 names the real one
  var PHOTO_SIDE = 2048;  // a photo that must shrink is scaled to this many pixels on its long side
  var store = window.localStorage;
  var KEY = "sa-widget:" + hub;

  function load() {
    try { return JSON.parse(store.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() { store.setItem(KEY, JSON.stringify(state)); }
  var state = load();  // {token, cursor, outbox: [{client_id, text}]}
  state.outbox = state.outbox || [];
  var shown = {};  // message ids already on screen

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var link = el("link");
  link.rel = "stylesheet";
  link.href = hub + "/widget.css";
  document.head.appendChild(link);

  var root = el("div", "sa-widget");
  root.setAttribute("data-testid", "chat-widget");
  var launcher = el("button", "sa-launcher", T.open);
  launcher.type = "button";
  var panel = el("section", "sa-panel");
  panel.hidden = true;
  panel.setAttribute("aria-label", T.title);
  var header = el("header", "sa-header", T.title);
  var banner = el("div", "sa-banner");
  banner.hidden = true;
  var bannerText = el("span", "sa-banner-text");
  var leave = el("button", "sa-leave", T.leave);
  leave.type = "button";
  leave.hidden = true;
  leave.setAttribute("data-testid", "leave-queue");
  banner.appendChild(bannerText);
  banner.appendChild(leave);
  var log = el("ol", "sa-log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "sa-typing", T.typing);
  typing.hidden = true;
  var form = el("form", "sa-form");
  var input = el("textarea", "sa-input");
  input.rows = 2;
  input.maxLength = 4000;
  input.placeholder = T.placeholder;
  var send = el("button", "sa-send", T.send);
  send.type = "submit";
  var attach = el("button", "sa-attach");
  attach.type = "button";
  attach.title = T.photo;
  attach.setAttribute("aria-label", T.photo);
  attach.setAttribute("data-testid", "attach-photo");
  attach.appendChild(cameraIcon());
  var picker = el("input", "sa-picker");
  picker.type = "file";
  picker.accept = PHOTO_TYPES.join(",");
  picker.hidden = true;
  picker.tabIndex = -1;
  picker.setAttribute("aria-hidden", "true");
  picker.setAttribute("data-testid", "photo-input");
  form.appendChild(attach);
  form.appendChild(picker);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(banner);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  document.body.appendChild(root);

  launcher.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) { log.scrollTop = log.scrollHeight; input.focus(); connect(); }
  });

  function cameraIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var body = document.createElementNS(ns, "path");
    body.setAttribute("d", "M4 7h3l2-2h6l2 2h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z");
    var lens = document.createElementNS(ns, "circle");
    lens.setAttribute("cx", "12");
    lens.setAttribute("cy", "13");
    lens.setAttribute("r", "3.5");
    [body, lens].forEach(function (shape) {
      shape.setAttribute("fill", "none");
      shape.setAttribute("stroke", "currentColor");
      shape.setAttribute("stroke-width", "1.8");
      svg.appendChild(shape);
    });
    return svg;
  }

  function bubble(author, text, pendingId) {
    var item = el("li", "sa-msg sa-" + author);
    if (text) item.appendChild(el("span", "sa-text", text));
    if (pendingId) item.setAttribute("data-pending", pendingId);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  // A thumbnail that opens the photo full size; `source` is a blob: URL, or a promise of one.
  function thumbnail(item, source) {
    var link = el("a", "sa-photo-link");
    link.target = "_blank";
    link.rel = "noopener";
    var image = el("img", "sa-photo");
    image.alt = T.photo_alt;
    image.setAttribute("data-testid", "photo");
    link.appendChild(image);
    item.insertBefore(link, item.firstChild);
    Promise.resolve(source).then(function (url) {
      image.src = url;
      link.href = url;
      image.addEventListener("load", function () { log.scrollTop = log.scrollHeight; });
    }).catch(function () { image.alt = T.photo_failed; });
  }

  // A stored photo of this conversation, fetched with the session token (never put in a URL).
  function storedPhoto(attachmentId) {
    return fetch(hub + "/api/widget/attachments/" + encodeURIComponent(attachmentId), {
      headers: { Authorization: "Bearer " + state.token }
    }).then(function (r) {
      if (!r.ok) throw new Error("photo " + r.status);
      return r.blob();
    }).then(function (blob) { return URL.createObjectURL(blob); });
  }

  function render(frame) {
    if (shown[frame.id]) return;  // replayed after a reconnect
    shown[frame.id] = true;
    if (frame.author === "customer" && frame.client_id) {
      var pending = log.querySelector('[data-pending="' + frame.client_id + '"]');
      if (pending) { pending.removeAttribute("data-pending"); pending.classList.remove("sa-unsent"); return; }
    }
    var item = bubble(frame.author, frame.text);
    (frame.attachments || []).slice().reverse().forEach(function (photo) {
      if (photo && typeof photo.id === "string") thumbnail(item, storedPhoto(photo.id));
    });
    if (frame.buttons && frame.buttons.length) {
      var row = el("div", "sa-buttons");
      frame.buttons.forEach(function (b) {
        var button = el("button", "sa-quick", b.title);
        button.type = "button";
        button.addEventListener("click", function () { submit(b.payload, b.title); });
        row.appendChild(button);
      });
      item.appendChild(row);
    }
    typing.hidden = true;
  }

  function showStatus(frame) {
    if (frame.owner === "queued" && frame.position) {
      var text = T.queued.replace("{p}", frame.position);
      if (frame.estimated_wait_seconds) {
        text += T.wait.replace("{m}", Math.max(1, Math.round(frame.estimated_wait_seconds / 60)));
      }
      bannerText.textContent = text;
      leave.hidden = false;
      banner.hidden = false;
    } else if (frame.owner === "agent") {
      bannerText.textContent = T.agent;
      leave.hidden = true;
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  var ws = null, ready = false, backoff = 500, typingTimer = null, connecting = false;

  var sessionPending = null;  // one request at a time: two at once could open two conversations
  function session() {
    if (!sessionPending) {
      sessionPending = newSession().then(function (value) { sessionPending = null; return value; },
        function (err) { sessionPending = null; throw err; });
    }
    return sessionPending;
  }

  function newSession() {
    var body = {};
    if (identity) body.identity = identity;
    else if (state.token) body.token = state.token;
    return fetch(hub + "/api/widget/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 401 && body.token) { state.token = null; state.cursor = null; save(); return newSession(); }
      if (!r.ok) throw new Error("session " + r.status);
      return r.json();
    }).then(function (data) {
      if (data.conversation_id !== state.conversation_id) { state.cursor = null; }
      state.token = data.token;
      state.conversation_id = data.conversation_id;
      save();
    });
  }

  function connect() {
    if (ws || connecting) return;
    connecting = true;
    session().then(function () {
      var url = hub.replace(/^http/, "ws") + "/ws/widget";
      ws = new WebSocket(url);
      ws.onopen = function () {
        ws.send(JSON.stringify({ type: "hello", token: state.token, after: state.cursor || null }));
      };
      ws.onmessage = function (event) {
        var frame = JSON.parse(event.data);
        if (frame.type === "ready") {
          ready = true; backoff = 500; connecting = false;
          root.classList.remove("sa-offline");
          state.outbox.forEach(function (m) { ws.send(JSON.stringify({ type: "message", text: m.text, client_id: m.client_id })); });
        } else if (frame.type === "message") {
          render(frame);
          state.cursor = frame.id;
          save();
        } else if (frame.type === "ack") {
          state.outbox = state.outbox.filter(function (m) { return m.client_id !== frame.client_id; });
          save();
        } else if (frame.type === "status") {
          showStatus(frame);
        } else if (frame.type === "typing") {
          typing.hidden = false;
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { typing.hidden = true; }, 4000);
        } else if (frame.type === "error" && frame.client_id) {
          state.outbox = state.outbox.filter(function (m) { return m.client_id !== frame.client_id; });
          save();
          var failed = log.querySelector('[data-pending="' + frame.client_id + '"]');
          if (failed) failed.appendChild(el("small", "sa-failed", T.error + frame.message));
        }
      };
      ws.onclose = function () {
        ws = null; ready = false; connecting = false;
        root.classList.add("sa-offline");
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 10000);
      };
    }).catch(function () {
      connecting = false;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  leave.addEventListener("click", function () {
    if (ws && ready) ws.send(JSON.stringify({ type: "leave" }));
  });

  function submit(text, label) {
    text = (text || "").trim();
    if (!text) return;
    var id = newId();
    state.outbox.push({ client_id: id, text: text });
    save();
    var item = bubble("customer", label || text, id);
    item.classList.add("sa-unsent");
    if (ws && ready) ws.send(JSON.stringify({ type: "message", text: text, client_id: id }));
    else connect();
  }

  // -- photos ----------------------------------------------------------------------------------------

  function newId() {
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function problem(message) { var err = new Error(message); err.shown = true; return err; }

  // The photo as it can be sent: as it is when allowed, else scaled down to a JPEG under `limit` bytes.
  function fitted(file, limit) {
    if (PHOTO_TYPES.indexOf(file.type) >= 0 && file.size <= limit) return Promise.resolve(file);
    if (!/^image\//.test(file.type) || !window.createImageBitmap) return Promise.reject(problem(T.photo_type));
    return createImageBitmap(file).then(function (picture) {
      var scale = Math.min(1, PHOTO_SIDE / Math.max(picture.width, picture.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(picture.width * scale));
      canvas.height = Math.max(1, Math.round(picture.height * scale));
      canvas.getContext("2d").drawImage(picture, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob && blob.size <= limit) resolve(blob); else reject(problem(T.photo_large));
        }, "image/jpeg", 0.85);
      });
    }, function () { throw problem(T.photo_type); });
  }

  function upload(blob, clientId) {
    return fetch(hub + "/api/widget/attachments", {
      method: "POST",
      headers: { Authorization: "Bearer " + state.token, "Content-Type": blob.type, "X-Client-Id": clientId },
      body: blob
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return { status: r.status, ok: r.ok, body: body || {} };
      });
    });
  }

  function sendPhoto(file) {
    var clientId = newId();
    var item = bubble("customer", "", clientId);
    item.classList.add("sa-unsent");
    thumbnail(item, URL.createObjectURL(file));
    var ready = state.token ? Promise.resolve() : session();
    if (!ws) connect();  // the stored message comes back over the socket
    ready.then(function () { return fitted(file, PHOTO_BYTES); }).then(function (blob) {
      return upload(blob, clientId).then(function (answer) {
        if (answer.status === 401) {  // an old session: a new token, then once more
          return session().then(function () { return upload(blob, clientId); });
        }
        if (answer.status === 413 && answer.body.limit_bytes && answer.body.limit_bytes < blob.size) {
          return fitted(file, answer.body.limit_bytes).then(function (smaller) { return upload(smaller, clientId); });
        }
        return answer;
      });
    }).then(function (answer) {
      if (!answer.ok) throw problem(answer.body.message || T.photo_failed);
    }).catch(function (err) {
      item.appendChild(el("small", "sa-failed", T.error + (err && err.shown ? err.message : T.photo_failed)));
    });
  }

  attach.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    picker.value = "";
    if (file) sendPhoto(file);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit(input.value);
    input.value = "";
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    else if (ws && ready) ws.send(JSON.stringify({ type: "typing" }));
  });
  if (state.token) connect();  // a conversation in progress: resume it on every page
  window.StorefrontChat = { open: function () { if (panel.hidden) launcher.click(); } };
})();
