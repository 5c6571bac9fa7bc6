/* Storefront chat widget. Embed with:
 *   <script src="https://support.example.com/widget.js" data-hub="https://support.example.com" defer></script>
 * Optional: data-identity="<assertion from your backend>" for logged-in customers, data-lang="zh".
 * Every text is inserted with textContent: customer, bot and agent messages can never inject markup. */
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
      leave: "Leave the queue" },
    zh: { title: "在线客服", placeholder: "请输入您的问题…", send: "发送", open: "联系客服",
      typing: "正在输入…", queued: "您当前排在第 {p} 位", wait: "（约 {m} 分钟）",
      agent: "人工客服为您服务中", offline: "正在重新连接…", error: "发送失败：",
      leave: "退出排队" }
  }[lang];
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
    if (!panel.hidden) { input.focus(); connect(); }
  });

  function bubble(author, text, pendingId) {
    var item = el("li", "sa-msg sa-" + author);
    item.appendChild(el("span", "sa-text", text));
    if (pendingId) item.setAttribute("data-pending", pendingId);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function render(frame) {
    if (shown[frame.id]) return;  // replayed after a reconnect
    shown[frame.id] = true;
    if (frame.author === "customer" && frame.client_id) {
      var pending = log.querySelector('[data-pending="' + frame.client_id + '"]');
      if (pending) { pending.removeAttribute("data-pending"); pending.classList.remove("sa-unsent"); return; }
    }
    var item = bubble(frame.author, frame.text);
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

  function session() {
    var body = {};
    if (identity) body.identity = identity;
    else if (state.token) body.token = state.token;
    return fetch(hub + "/api/widget/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      if (r.status === 401 && body.token) { state.token = null; state.cursor = null; save(); return session(); }
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
    var id = "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    state.outbox.push({ client_id: id, text: text });
    save();
    var item = bubble("customer", label || text, id);
    item.classList.add("sa-unsent");
    if (ws && ready) ws.send(JSON.stringify({ type: "message", text: text, client_id: id }));
    else connect();
  }

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
