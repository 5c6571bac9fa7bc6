/* Agent console and supervisor dashboard. Plain JavaScript, no build step; the API is docs/console.md.
 * Every text that comes from the server (customer, bot, agent, ticket, template) is inserted with
 * textContent, never as markup, so a message containing HTML or script shows as the characters typed.
 * The page runs under a Content-Security-Policy without inline script or style: no style attributes,
 * no inline handlers; layout changes go through classes and the hidden attribute.
 * Customers' photos load from /api/attachments/<id> with the session cookie (the same access rules as the
 * conversation), as images only: an id is checked before it becomes part of a URL. */
(function () {
  "use strict";

  // -- interface strings -----------------------------------------------------------------------------

  var T = {
    en: {
      console: "Agent console", skip: "Skip to content", user_id: "User id", password: "Password",
      sign_in: "Sign in", sign_out: "Sign out", wrong_login: "Wrong user id or password.",
      too_many_logins: "Too many attempts. Wait a few minutes and try again.",
      session_ended: "Your session has ended. Please sign in again.", fill_login: "Enter your user id and password.",
      tab_chats: "Chats", tab_tickets: "Tickets", tab_supervisor: "Supervisor", presence: "Status",
      online: "Online", away: "Away", offline: "Offline", connected: "Live", reconnecting: "Reconnecting…",
      offers: "Incoming", no_offers: "No incoming chats.", my_chats: "My chats", no_chats: "No open chats.",
      pick_chat: "Pick a chat on the left, or accept an incoming one.", accept: "Accept", decline: "Decline",
      seconds_left: "{s} s left", expired: "Expired", new_offer: "New chat waiting",
      offer_from: "{skill} · {language} · {reason}", load_of: "{active} of {capacity}",
      resolve: "Resolve", transfer: "Transfer", return_to_bot: "Return to bot", create_ticket: "Create ticket",
      customer_typing: "Customer is typing…", reply_placeholder: "Type a reply, or / for quick replies",
      reply_hint: "Enter sends · Shift+Enter new line · / quick replies · Esc closes",
      quick_replies: "Quick replies", no_match: "No match.", send: "Send",
      fill_before_sending: "Fill in before sending:", fill_first: "Replace the highlighted {variables} first.",
      context: "Context", kb_suggestions: "Knowledge base", kb_none: "No suggestions.", insert: "Insert",
      kb_for: "For: “{q}”", author_customer: "Customer", author_bot: "Assistant", author_agent: "Agent",
      author_system: "System", internal_note: "Internal note", you: "you",
      reason: "Reason", intent: "Intent", language: "Language", channel: "Channel", skill: "Skill",
      customer: "Customer", tier: "Tier", transfer_note: "Transfer note", intent_history: "Intents and confidence",
      not_verified: "not verified", verified_storefront: "verified (store sign-in)",
      verified_rest_token: "verified (store backend)", verified_telegram_contact: "verified (Telegram phone number)",
      verified_order_check: "verified (order details checked)", verified_other: "verified ({how})",
      entities: "Entities", slots: "Known details", order: "Order", kb_tried: "Knowledge base hits the assistant tried",
      other: "Other", none: "—", status: "Status", placed_on: "Placed", delivered_on: "Delivered",
      total: "Total", items: "Items", owner: "Owner",
      forbidden_conversation: "You cannot open this conversation: it is not offered to or held by you (403).",
      unknown_conversation: "There is no such conversation (404).", not_held: "This chat is no longer yours.",
      resolved_notice: "Resolved: the assistant takes over and asks for a rating.",
      transferred_notice: "Transferred.", returned_notice: "Handed back to the assistant.",
      ticket_created: "Ticket {id} created.", transfer_to: "Transfer to", a_skill_queue: "A skill queue",
      an_agent: "An agent", agent_id: "Agent id", note_for_next: "Note for the next agent", cancel: "Cancel",
      flow: "Flow", no_flow: "No flow: just hand back", subject: "Subject", description: "Description",
      category: "Category", any: "Any", ticket_open: "Open", ticket_pending: "Pending", ticket_solved: "Solved",
      ticket_closed: "Closed", assigned_to_me: "Assigned to me", refresh: "Refresh", no_tickets: "No tickets.",
      assign_to_me: "Assign to me", notes: "History and notes", auto: "automatic", add_note: "Add a note", open_conversation: "Open conversation",
      assignee: "Assigned to", created: "Created", updated: "Updated", source: "Source", conversation: "Conversation",
      tickets_unavailable: "Tickets are not available on this server yet.",
      service_level: "Service level (last hour)", within_20: "Answered within 20 s", within_60: "Answered within 60 s",
      handoffs: "Handoffs", sl_answered: "Answered", sl_abandoned: "Abandoned (missed)",
      sl_average_wait: "Average wait", priority: "Priority", open_tickets: "Open tickets", queues: "Queues", queue: "Queue", length: "Waiting",
      oldest_wait: "Oldest wait", estimated_wait: "Estimated wait", no_queues: "Nobody is waiting.",
      agents: "Agents", agent: "Agent", load: "Load", rating: "Rating", decisions: "Recent routing decisions",
      no_decisions: "No decisions yet.", weights: "Routing weights", w_skill: "Skill", w_load: "Load",
      w_rating: "Rating", save: "Save", when: "When", who: "Who", old_value: "Old", new_value: "New",
      weights_saved: "Weights saved.", decision: "Decision {id}", candidates: "Candidates", removed_by: "Removed by filters",
      total_score: "Total", chosen: "chosen", how: "How", outcome: "Outcome", pool: "Pool", score_weights: "Weights",
      filter_not_online: "Not online", filter_no_skill: "Without the skill", filter_no_language: "Without the language",
      filter_full: "At capacity", filter_declined: "Declined earlier", nobody: "nobody",
      nothing_here: "There is nothing in the console for your role yet.", error: "Something went wrong: {m}",
      s: "{n} s", min: "{m} min {s} s", reviews: "{avg} ({n} reviews)", no_reviews: "no reviews",
      r_customer_request: "Customer asked for a person", r_complaint: "Complaint",
      r_low_confidence: "The assistant did not understand", r_kb_miss: "No answer in the knowledge base",
      r_damaged_goods: "Damaged goods", r_wrong_item: "Wrong item", r_outside_window: "Outside the return window",
      r_policy_exception: "Policy exception", r_payment_issue: "Payment problem", r_backend_error: "System error",
      r_bot_unavailable: "Assistant unavailable", r_repeated_failure: "Two unclear answers to one question",
      r_refund_overdue: "Refund overdue", r_injury: "Injury from a product",
      photo: "Photo", photo_alt: "Photo from the customer", photo_open: "Open the photo full size",
      photos: "Photos", updates: "Added since the handoff", u_text: "Said", u_order_id: "Order number",
      u_photo: "Photo", order_hint: "{order} (named by the customer)"
    },
    zh: {
      console: "客服工作台", skip: "跳到内容", user_id: "用户名", password: "密码", sign_in: "登录", sign_out: "退出",
      wrong_login: "用户名或密码错误。", too_many_logins: "尝试次数过多，请几分钟后再试。",
      session_ended: "登录已过期，请重新登录。", fill_login: "请输入用户名和密码。",
      tab_chats: "会话", tab_tickets: "工单", tab_supervisor: "主管看板", presence: "状态",
      online: "在线", away: "离开", offline: "离线", connected: "实时", reconnecting: "正在重新连接…",
      offers: "待接入", no_offers: "暂无待接入的会话。", my_chats: "我的会话", no_chats: "暂无进行中的会话。",
      pick_chat: "请在左侧选择会话，或接入新的会话。", accept: "接入", decline: "拒绝",
      seconds_left: "剩余 {s} 秒", expired: "已过期", new_offer: "有新的会话等待接入",
      offer_from: "{skill} · {language} · {reason}", load_of: "{active} / {capacity}",
      resolve: "已解决", transfer: "转接", return_to_bot: "转回机器人", create_ticket: "创建工单",
      customer_typing: "客户正在输入…", reply_placeholder: "输入回复，输入 / 使用快捷回复",
      reply_hint: "Enter 发送 · Shift+Enter 换行 · / 快捷回复 · Esc 关闭",
      quick_replies: "快捷回复", no_match: "没有匹配项。", send: "发送",
      fill_before_sending: "发送前请填写：", fill_first: "请先替换高亮的 {变量}。",
      context: "会话背景", kb_suggestions: "知识库", kb_none: "暂无建议。", insert: "插入",
      kb_for: "针对：“{q}”", author_customer: "客户", author_bot: "机器人", author_agent: "客服",
      author_system: "系统", internal_note: "内部备注", you: "我",
      reason: "转人工原因", intent: "意图", language: "语言", channel: "渠道", skill: "技能组",
      customer: "客户", tier: "会员等级", transfer_note: "转接备注", intent_history: "意图及置信度",
      not_verified: "未验证", verified_storefront: "已验证（商城登录）", verified_rest_token: "已验证（商城后台）",
      verified_telegram_contact: "已验证（Telegram 手机号）", verified_order_check: "已验证（订单信息核对）",
      verified_other: "已验证（{how}）",
      entities: "实体", slots: "已知信息", order: "订单", kb_tried: "机器人尝试过的知识库条目",
      other: "其他", none: "—", status: "状态", placed_on: "下单", delivered_on: "签收",
      total: "金额", items: "商品", owner: "归属",
      forbidden_conversation: "无法打开此会话：它没有分配给您（403）。",
      unknown_conversation: "会话不存在（404）。", not_held: "此会话已不在您名下。",
      resolved_notice: "已解决：机器人接手并邀请客户评价。", transferred_notice: "已转接。",
      returned_notice: "已转回机器人。", ticket_created: "工单 {id} 已创建。", transfer_to: "转接给",
      a_skill_queue: "技能组队列", an_agent: "指定客服", agent_id: "客服编号", note_for_next: "给下一位客服的备注",
      cancel: "取消", flow: "流程", no_flow: "不指定流程，直接转回", subject: "标题", description: "描述",
      category: "分类", any: "全部", ticket_open: "待处理", ticket_pending: "等待中", ticket_solved: "已解决",
      ticket_closed: "已关闭", assigned_to_me: "分配给我的", refresh: "刷新", no_tickets: "暂无工单。",
      assign_to_me: "分配给我", notes: "处理记录", auto: "自动", add_note: "添加备注", open_conversation: "打开会话",
      assignee: "处理人", created: "创建时间", updated: "更新时间", source: "来源", conversation: "会话",
      tickets_unavailable: "此服务器暂不支持工单。",
      service_level: "服务水平（最近一小时）", within_20: "20 秒内接入", within_60: "60 秒内接入",
      handoffs: "转人工次数", sl_answered: "已接入", sl_abandoned: "放弃（未接入）",
      sl_average_wait: "平均等待", priority: "优先级", open_tickets: "未结工单", queues: "排队", queue: "队列", length: "排队人数",
      oldest_wait: "最长等待", estimated_wait: "预计等待", no_queues: "当前无人排队。",
      agents: "客服", agent: "客服", load: "负载", rating: "评分", decisions: "最近的分配决策",
      no_decisions: "暂无分配决策。", weights: "分配权重", w_skill: "技能", w_load: "负载", w_rating: "评分",
      save: "保存", when: "时间", who: "操作人", old_value: "原值", new_value: "新值", weights_saved: "权重已保存。",
      decision: "决策 {id}", candidates: "候选客服", removed_by: "被筛选掉的客服", total_score: "总分",
      chosen: "已选中", how: "方式", outcome: "结果", pool: "候选池", score_weights: "权重",
      filter_not_online: "不在线", filter_no_skill: "不具备该技能", filter_no_language: "不会该语言",
      filter_full: "已满负荷", filter_declined: "此前已拒绝", nobody: "无",
      nothing_here: "工作台暂未为您的角色提供功能。", error: "出错了：{m}",
      s: "{n} 秒", min: "{m} 分 {s} 秒", reviews: "{avg}（{n} 条评价）", no_reviews: "暂无评价",
      r_customer_request: "客户要求人工", r_complaint: "投诉", r_low_confidence: "机器人未能理解",
      r_kb_miss: "知识库无答案", r_damaged_goods: "商品破损", r_wrong_item: "发错商品",
      r_outside_window: "超出退货期限", r_policy_exception: "政策例外", r_payment_issue: "支付问题",
      r_backend_error: "系统错误", r_bot_unavailable: "机器人不可用", r_repeated_failure: "同一问题两次未能理解",
      r_refund_overdue: "退款逾期", r_injury: "商品致人受伤",
      photo: "图片", photo_alt: "客户发送的图片", photo_open: "查看原图",
      photos: "图片", updates: "转人工后客户补充", u_text: "客户说", u_order_id: "订单号",
      u_photo: "图片", order_hint: "{order}（客户提供）"
    }
  };
  var LANG_KEY = "agent-console-language";
  var lang = "en";
  try { lang = window.localStorage.getItem(LANG_KEY) || ""; } catch (e) { lang = ""; }
  var langChosen = !!T[lang];
  if (!langChosen) lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";

  function t(key, vars) {
    var text = (T[lang] && T[lang][key]) || T.en[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (name) { text = text.split("{" + name + "}").join(String(vars[name])); });
    }
    return text;
  }

  // -- small helpers ---------------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function testid(node, id) { node.setAttribute("data-testid", id); return node; }
  function enc(value) { return encodeURIComponent(String(value)); }
  function button(text, cls, id) {
    var b = el("button", cls, text);
    b.type = "button";
    if (id) testid(b, id);
    return b;
  }
  function show(node, visible) { node.hidden = !visible; }
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function fmt(value) {
    if (value === null || value === undefined || value === "") return t("none");
    if (typeof value === "number") return String(Math.round(value * 1000) / 1000);
    if (typeof value === "string") return value;
    if (typeof value === "boolean") return value ? "✓" : "✗";
    try { return JSON.stringify(value); } catch (e) { return String(value); }
  }
  function pct(share) {
    if (typeof share !== "number" || !isFinite(share)) return t("none");
    return Math.round(share <= 1 ? share * 100 : share) + "%";
  }
  function seconds(value) {
    if (typeof value !== "number" || !isFinite(value)) return t("none");
    var s = Math.max(0, Math.round(value));
    return s < 60 ? t("s", { n: s }) : t("min", { m: Math.floor(s / 60), s: s % 60 });
  }
  function clockTime(ts) {
    if (typeof ts !== "number") return "";
    var d = new Date(ts * 1000);
    return d.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  }
  function dateTime(ts) {
    if (typeof ts === "string" && !/^\d+(\.\d+)?$/.test(ts)) return ts;
    var n = Number(ts);
    if (!isFinite(n) || !n) return t("none");
    return new Date(n * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB");
  }
  function reasonLabel(reason) {
    if (!reason) return t("none");
    var key = "r_" + reason;
    return T.en[key] ? t(key) + " (" + reason + ")" : String(reason);
  }
  function errorText(err) {
    return (err && err.message) || String(err);
  }

  // -- photos: only ids of the attachment store's shape ever become part of a URL ------------------------

  var PHOTO_ID = /^[A-Za-z0-9_-]{16,64}$/;
  function photoIds(list, pick) {
    var ids = [];
    (Array.isArray(list) ? list : []).forEach(function (x) {
      var id = pick(x);
      if (typeof id === "string" && PHOTO_ID.test(id) && ids.indexOf(id) < 0) ids.push(id);
    });
    return ids;
  }
  function messagePhotos(m) { return photoIds(m.attachments, function (a) { return isObject(a) ? a.id : null; }); }
  function photoLink(id, cls) {
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
  function messageSummary(m) {
    var photos = messagePhotos(m).length;
    return m.text || (photos ? t("photo") + (photos > 1 ? " ×" + photos : "") : "");
  }

  // -- API -------------------------------------------------------------------------------------------

  var me = null;   // {user_id, name, role, agent_id, language}
  var csrf = null; // kept in memory only; GET /api/session returns it again after a reload
  var skew = 0;    // server clock minus ours, in ms (offer countdowns)

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
    return fetch(path, options).then(function (response) {
      var date = Date.parse(response.headers.get("Date") || "");
      if (!isNaN(date)) {
        var diff = date - Date.now();
        skew = Math.abs(diff) > 2000 ? diff : 0;  // the header has one-second resolution
      }
      return response.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        if (!response.ok) {
          var err = new Error((data && (data.message || data.error)) || "HTTP " + response.status);
          err.status = response.status;
          err.data = data;
          if (response.status === 401 && me && path.indexOf("/api/session") !== 0) sessionLost();
          throw err;
        }
        return data;
      });
    });
  }

  var noticeTimer = null;
  function notify(text, isError) {
    var box = $("notice");
    box.textContent = text;
    box.classList.toggle("is-error", !!isError);
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { box.hidden = true; }, isError ? 8000 : 4000);
  }
  function failed(err) { notify(t("error", { m: errorText(err) }), true); }

  // -- language --------------------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("console");
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-placeholder]"), function (node) {
      node.placeholder = t(node.getAttribute("data-i18n-placeholder"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-aria-label]"), function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria-label")));
    });
    Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
      node.textContent = lang === "zh" ? "English" : "中文";
      node.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
    });
  }

  function setLanguage(next) {
    lang = T[next] ? next : "en";
    langChosen = true;
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* private mode: not remembered */ }
    applyLanguage();
    if (me) renderAll();
  }

  // -- state -----------------------------------------------------------------------------------------

  var S = {
    view: null,
    agent: null,     // my routing agent (presence, active, capacity)
    offers: {},      // conversation id -> offer
    chats: [],       // held conversations from the inbox
    convs: {},       // conversation id -> {cursor, ids, messages, unread, loaded, info}
    selected: null,
    drafts: {},
    flows: null,
    tickets: [],
    ticket: null,
    decision: null
  };

  function conv(cid) {
    if (!S.convs[cid]) S.convs[cid] = { cursor: null, ids: {}, messages: [], unread: 0, loaded: false, info: null };
    return S.convs[cid];
  }

  // -- sound and notifications -----------------------------------------------------------------------

  var audio = null;
  function unlockAudio() {
    try {
      if (!audio) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (Context) audio = new Context();
      }
      if (audio && audio.state === "suspended") audio.resume();
    } catch (e) { audio = null; }
  }
  function beep() {
    if (!audio || audio.state !== "running") return;
    try {
      var now = audio.currentTime;
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.setValueAtTime(880, now);
      osc.frequency.setValueAtTime(660, now + 0.15);
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(now);
      osc.stop(now + 0.4);
    } catch (e) { /* sound is a courtesy */ }
  }
  function askNotificationPermission() {
    if ("Notification" in window && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (e) { /* old browsers: callback form only */ }
    }
  }
  function alertOffer(offer) {
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        var n = new Notification(t("new_offer"), { body: reasonLabel(offer.reason), tag: "offer:" + offer.conversation_id });
        n.onclick = function () { window.focus(); n.close(); };
      } catch (e) { /* notifications are a courtesy */ }
    }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  // -- signing in and out ----------------------------------------------------------------------------

  function showLogin(message) {
    $("app").hidden = true;
    $("login-view").hidden = false;
    var error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("login-user").focus();
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    unlockAudio();
    var user = $("login-user").value.trim();
    var password = $("login-password").value;
    if (!user || !password) { showLogin(t("fill_login")); return; }
    var submit = event.target.querySelector("[type=submit]");
    submit.disabled = true;
    api("POST", "/api/session", { user_id: user, password: password }).then(function (body) {
      $("login-password").value = "";
      signedIn(body);
    }).catch(function (err) {
      showLogin(err.status === 429 ? t("too_many_logins") : err.status === 401 ? t("wrong_login") : t("error", { m: errorText(err) }));
    }).then(function () { submit.disabled = false; });
  });

  Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (node) {
    node.addEventListener("click", function () { setLanguage(lang === "zh" ? "en" : "zh"); });
  });

  $("logout").addEventListener("click", function () {
    api("DELETE", "/api/session").catch(function () { /* signed out either way */ }).then(function () {
      me = null;
      csrf = null;
      closeSocket();
      window.location.replace(window.location.pathname);
    });
  });

  function sessionLost() {
    if (!me) return;
    me = null;
    csrf = null;
    closeSocket();
    showLogin(t("session_ended"));
  }

  function signedIn(body) {
    me = body;
    csrf = body.csrf_token;
    if (!langChosen && T[body.language]) lang = body.language;
    applyLanguage();
    $("login-view").hidden = true;
    $("app").hidden = false;
    $("me").textContent = (body.name || body.user_id) + " · " + body.role;
    $("presence-wrap").hidden = !body.agent_id;
    var views = allowedViews();
    ["chats", "tickets", "supervisor"].forEach(function (view) { $("tab-" + view).hidden = views.indexOf(view) < 0; });
    connectSocket();
    if (me.agent_id) loadInbox();
    route();
  }

  function allowedViews() {
    if (!me) return [];
    if (me.role === "supervisor" || me.role === "admin") return ["supervisor", "chats", "tickets"];
    if (me.role === "agent") return ["chats", "tickets"];
    return [];
  }

  // -- views and deep links: #chats, #chat/<id>, #tickets, #ticket/<id>, #supervisor ----------------

  function route() {
    if (!me) return;
    var hash = "";
    try {
      hash = decodeURIComponent(window.location.hash.replace(/^#\/?/, ""));
    } catch (err) {
      hash = "";  // a malformed link opens the default view
    }
    var views = allowedViews();
    var m = /^chat\/(.+)$/.exec(hash);
    if (m && views.indexOf("chats") >= 0) { showView("chats"); select(m[1]); return; }
    m = /^ticket\/(.+)$/.exec(hash);
    if (m && views.indexOf("tickets") >= 0) { showView("tickets"); openTicket(m[1]); return; }
    if (views.indexOf(hash) >= 0) { showView(hash); return; }
    showView(views[0] || "empty");
  }
  window.addEventListener("hashchange", route);

  function go(hash) {
    if (window.location.hash !== "#" + hash) window.location.hash = hash;
    else route();
  }

  function showView(view) {
    S.view = view;
    ["chats", "tickets", "supervisor", "empty"].forEach(function (name) {
      $("view-" + name).hidden = name !== view;
      var tab = $("tab-" + name);
      if (tab) {
        tab.setAttribute("aria-selected", name === view ? "true" : "false");
        tab.tabIndex = name === view ? 0 : -1;
      }
    });
    if (view === "tickets") loadTickets();
    if (view === "supervisor") loadDashboard();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".tabs [role=tab]"), function (tab) {
    tab.addEventListener("click", function () { go(tab.getAttribute("data-view")); });
    tab.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      var tabs = Array.prototype.filter.call(document.querySelectorAll(".tabs [role=tab]"), function (x) { return !x.hidden; });
      var i = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
      var next = tabs[(i + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  });

  function renderAll() {
    $("me").textContent = (me.name || me.user_id) + " · " + me.role;
    renderPresence();
    renderOffers();
    renderChats();
    if (S.selected) renderConversation();
    if (S.view === "tickets") { renderTickets(); renderTicket(); }
    if (S.view === "supervisor") loadDashboard();
    setConnection(socketOpen);
  }

  // -- inbox: presence, offers, chats ----------------------------------------------------------------

  var inboxTimer = null;
  function loadInboxSoon() {
    clearTimeout(inboxTimer);
    inboxTimer = setTimeout(loadInbox, 150);
  }

  function loadInbox() {
    if (!me || !me.agent_id) return Promise.resolve();
    return api("GET", "/api/console/inbox").then(function (inbox) {
      inbox = inbox || {};
      if (isObject(inbox.agent)) S.agent = inbox.agent;
      var offers = {};
      (inbox.offers || []).forEach(function (offer) {
        var known = S.offers[offer.conversation_id];
        offers[offer.conversation_id] = Object.assign({}, known || {}, offer, { first: known ? known.first : Date.now() + skew });
        if (!known) alertOffer(offer);
      });
      S.offers = offers;
      S.chats = inbox.chats || [];
      S.chats.forEach(function (chat) { fetchMessages(chat.conversation_id).catch(function () {}); });
      renderPresence();
      renderOffers();
      renderChats();
      updateActions();
      sendWatch();
    }).catch(function (err) { if (err.status !== 401) failed(err); });
  }

  function renderPresence() {
    var select = $("presence");
    if (S.agent && S.agent.presence) select.value = S.agent.presence;
    select.className = "presence-" + select.value;
    var load = $("load");
    if (S.agent && typeof S.agent.capacity === "number") {
      load.textContent = t("load_of", { active: S.chats.length, capacity: S.agent.capacity });
    } else {
      load.textContent = "";
    }
  }

  $("presence").addEventListener("change", function (event) {
    var value = event.target.value;
    if (value === "online") askNotificationPermission();
    api("PUT", "/api/agents/" + enc(me.agent_id) + "/presence", { presence: value }).then(function () {
      S.agent = Object.assign({}, S.agent || {}, { presence: value });
      renderPresence();
      loadInbox();
    }).catch(function (err) { failed(err); renderPresence(); });
  });

  function offerRemaining(offer) {
    return Math.ceil((Number(offer.expires_at) * 1000 - (Date.now() + skew)) / 1000);
  }

  function renderOffers() {
    var list = $("offers");
    clear(list);
    var ids = Object.keys(S.offers);
    ids.forEach(function (cid) {
      var offer = S.offers[cid];
      var item = testid(el("li", "offer"), "offer");
      item.setAttribute("data-conversation-id", cid);
      item.appendChild(el("strong", "offer-title", reasonLabel(offer.reason)));
      item.appendChild(el("span", "muted", [offer.skill || "", offer.language || ""].filter(Boolean).join(" · ")));
      var bar = el("progress", "offer-bar");
      var total = Math.max(1, Math.round((Number(offer.expires_at) * 1000 - offer.first) / 1000));
      bar.max = total;
      bar.setAttribute("aria-hidden", "true");
      var countdown = testid(el("span", "countdown"), "offer-countdown");
      countdown.setAttribute("role", "timer");
      var row = el("div", "row");
      var accept = button(t("accept"), "primary", "offer-accept");
      var decline = button(t("decline"), "", "offer-decline");
      accept.addEventListener("click", function () { acceptOffer(cid, accept); });
      decline.addEventListener("click", function () { declineOffer(cid, decline); });
      row.appendChild(accept);
      row.appendChild(decline);
      item.appendChild(bar);
      item.appendChild(countdown);
      item.appendChild(row);
      list.appendChild(item);
    });
    $("offers-empty").hidden = ids.length > 0;
    tick();
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("#offers .offer"), function (item) {
      var offer = S.offers[item.getAttribute("data-conversation-id")];
      if (!offer) return;
      var left = offerRemaining(offer);
      var countdown = item.querySelector(".countdown");
      var bar = item.querySelector("progress");
      countdown.textContent = left > 0 ? t("seconds_left", { s: left }) : t("expired");
      bar.value = Math.max(0, Math.min(bar.max, left));
      item.classList.toggle("urgent", left <= 5);
      if (left <= 0 && !offer.expiredSeen) {
        offer.expiredSeen = true;
        item.classList.add("expired");
        Array.prototype.forEach.call(item.querySelectorAll("button"), function (b) { b.disabled = true; });
        setTimeout(loadInbox, 1000);
      }
    });
  }
  setInterval(tick, 250);

  function acceptOffer(cid, control) {
    control.disabled = true;
    api("POST", "/api/offers/" + enc(cid) + "/accept").then(function () {
      delete S.offers[cid];
      renderOffers();
      return loadInbox().then(function () { go("chat/" + cid); });
    }).catch(function (err) {
      control.disabled = false;
      failed(err);
      loadInbox();
    });
  }

  function declineOffer(cid, control) {
    control.disabled = true;
    api("POST", "/api/offers/" + enc(cid) + "/decline").then(function () {
      delete S.offers[cid];
      renderOffers();
      loadInbox();
    }).catch(function (err) { control.disabled = false; failed(err); loadInbox(); });
  }

  function chatLabel(chat) {
    return chat.customer_id ? String(chat.customer_id) : t("customer") + " " + String(chat.conversation_id).slice(0, 8);
  }

  function renderChats() {
    var list = $("chat-list");
    clear(list);
    var unreadTotal = 0;
    S.chats.forEach(function (chat) {
      var cid = chat.conversation_id;
      var c = conv(cid);
      unreadTotal += c.unread;
      var item = el("li");
      var b = button("", "chat-item" + (cid === S.selected ? " selected" : ""), "chat-item");
      b.setAttribute("data-conversation-id", cid);
      if (cid === S.selected) b.setAttribute("aria-current", "true");
      b.appendChild(el("span", "chat-name", chatLabel(chat)));
      b.appendChild(el("span", "chat-meta muted", [reasonLabel(chat.reason), chat.skill, chat.language, chat.channel]
        .filter(function (x) { return x && x !== t("none"); }).join(" · ")));
      var last = c.messages.length ? c.messages[c.messages.length - 1] : null;
      if (last) b.appendChild(el("span", "chat-last", messageSummary(last)));
      if (c.unread) {
        var badge = testid(el("span", "badge", c.unread), "unread");
        badge.setAttribute("aria-label", c.unread + " unread");
        b.appendChild(badge);
      }
      b.addEventListener("click", function () { go("chat/" + cid); });
      item.appendChild(b);
      list.appendChild(item);
    });
    $("chats-empty").hidden = S.chats.length > 0;
    var badge = $("tab-chats-badge");
    badge.textContent = unreadTotal ? String(unreadTotal) : "";
    badge.hidden = !unreadTotal;
    document.title = (unreadTotal ? "(" + unreadTotal + ") " : "") + t("console");
    renderPresence();
  }

  function holds(cid) {
    return S.chats.some(function (chat) { return chat.conversation_id === cid; });
  }

  // -- transcripts (by cursor: a reconnect or a duplicate event never shows a message twice) -------

  function fetchMessages(cid) {
    var c = conv(cid);
    if (c.inflight) { c.again = true; return c.inflight; }
    var path = "/api/conversations/" + enc(cid) + "/messages" + (c.cursor ? "?after=" + enc(c.cursor) : "");
    c.inflight = api("GET", path).then(function (list) {
      var fresh = [];
      (Array.isArray(list) ? list : []).forEach(function (m) {
        if (!m || !m.id || c.ids[m.id]) return;
        c.ids[m.id] = true;
        c.messages.push(m);
        c.cursor = m.id;
        fresh.push(m);
      });
      if (Array.isArray(list) && list.length >= 500) c.again = true;  // one page of a long transcript
      var wasLoaded = c.loaded;
      c.loaded = true;
      if (fresh.length) newMessages(cid, fresh, wasLoaded);
    }).then(function () {
      c.inflight = null;
      if (c.again) { c.again = false; return fetchMessages(cid); }
    }, function (err) {
      c.inflight = null;
      c.again = false;
      throw err;
    });
    return c.inflight;
  }

  function newMessages(cid, fresh, wasLoaded) {
    var fromCustomer = fresh.filter(function (m) { return m.author === "customer"; }).length;
    if (cid === S.selected) {
      var log = $("transcript");
      fresh.forEach(function (m) { log.appendChild(messageItem(m)); });
      log.scrollTop = log.scrollHeight;
      if (fromCustomer) { $("customer-typing").hidden = true; loadSuggestionsSoon(cid); }
    } else if (wasLoaded && fromCustomer) {
      conv(cid).unread += fromCustomer;
    }
    renderChats();
  }

  function authorLabel(m) {
    var key = "author_" + m.author;
    var label = T.en[key] ? t(key) : String(m.author);
    if (m.author === "agent" && m.agent_id) label += " " + (m.agent_id === (me && me.agent_id) ? "(" + t("you") + ")" : m.agent_id);
    return label;
  }

  function messageItem(m) {
    var author = /^(customer|bot|agent|system)$/.test(m.author) ? m.author : "other";
    var item = testid(el("li", "msg msg-" + author + (m.internal ? " internal" : "")), "message");
    item.setAttribute("data-author", author);
    item.setAttribute("data-message-id", String(m.id));
    if (m.internal) item.setAttribute("data-internal", "true");
    var meta = el("div", "meta");
    meta.appendChild(el("span", "author", authorLabel(m)));
    if (m.internal) meta.appendChild(testid(el("span", "tag", t("internal_note")), "internal-note"));
    meta.appendChild(el("time", "time", clockTime(m.ts)));
    item.appendChild(meta);
    var photos = messagePhotos(m);
    if (photos.length) {
      var gallery = testid(el("div", "photos"), "message-photos");
      photos.forEach(function (id) { gallery.appendChild(photoLink(id)); });
      item.appendChild(gallery);
    }
    if (m.text || !photos.length) item.appendChild(testid(el("div", "text", m.text), "message-text"));
    if (Array.isArray(m.buttons) && m.buttons.length) {
      var row = el("div", "chips");
      m.buttons.forEach(function (b) { row.appendChild(el("span", "chip", isObject(b) ? b.title || b.payload : b)); });
      item.appendChild(row);
    }
    return item;
  }

  // -- the open conversation -------------------------------------------------------------------------

  function select(cid) {
    if (S.selected && S.selected !== cid) S.drafts[S.selected] = $("reply-input").value;
    var changed = S.selected !== cid;
    S.selected = cid;
    var c = conv(cid);
    c.unread = 0;
    c.error = null;
    if (changed) {
      $("reply-input").value = S.drafts[cid] || "";
      closeQuickReplies();
      $("customer-typing").hidden = true;
      $("reply-error").hidden = true;
      renderKb(null);
    }
    renderConversation();
    renderChats();
    sendWatch();
    return api("GET", "/api/conversations/" + enc(cid)).then(function (info) {
      if (S.selected !== cid) return;
      c.info = info;
      renderConversation();
      loadSuggestions(cid);
      return fetchMessages(cid);
    }).catch(function (err) {
      if (S.selected !== cid) return;
      c.error = err.status === 403 ? t("forbidden_conversation")
        : err.status === 404 ? t("unknown_conversation") : t("error", { m: errorText(err) });
      renderConversation();
    });
  }

  function renderConversation() {
    var cid = S.selected;
    var c = cid ? conv(cid) : null;
    var error = $("conversation-error");
    error.textContent = c && c.error ? c.error : "";
    error.hidden = !(c && c.error);
    var open = !!(c && !c.error && (c.info || holds(cid)));
    $("conversation-placeholder").hidden = !!c;
    $("conversation-body").hidden = !open;
    $("context").hidden = !open;
    if (!open) return;
    var chat = S.chats.filter(function (x) { return x.conversation_id === cid; })[0] || {};
    var info = c.info || {};
    var packet = isObject(info.packet) ? info.packet : {};
    $("conversation-title").textContent = [chat.customer_id || packet.customer_id || t("customer"),
      info.language || chat.language, info.channel || chat.channel].filter(Boolean).join(" · ");
    var log = $("transcript");
    clear(log);
    c.messages.forEach(function (m) { log.appendChild(messageItem(m)); });
    log.scrollTop = log.scrollHeight;
    renderContext(info);
    updateActions();
  }

  // Replying and the chat actions need the chat to be held (by me, or by an agent when I supervise).
  function updateActions() {
    var cid = S.selected;
    if (!cid) return;
    var info = conv(cid).info || {};
    var staff = me && (me.role === "supervisor" || me.role === "admin");
    var active = holds(cid) || (staff && info.owner === "agent");
    ["action-resolve", "action-transfer", "action-return"].forEach(function (id) { $(id).disabled = !active; });
    input.disabled = !active;
    updateReplyState();
  }

  // The handoff packet can grow new fields; everything renders defensively, as text.
  function field(list, label, value, id) {
    list.appendChild(el("dt", "", label));
    var dd = el("dd", "", fmt(value));
    if (id) testid(dd, id);
    list.appendChild(dd);
    return dd;
  }

  // Who the customer is and how that was proven (packet.identity); packets without it are unverified,
  // and a customer id named anywhere else in the packet is only a claim.
  var VERIFIED_BY = { storefront: "verified_storefront", rest_token: "verified_rest_token",
    telegram_contact: "verified_telegram_contact", order_check: "verified_order_check" };
  function idText(value) {
    if (typeof value === "number" && isFinite(value)) return String(value);
    return typeof value === "string" && value ? value : null;
  }
  function identityOf(packet) {
    var identity = isObject(packet.identity) ? packet.identity : {};
    var verifiedBy = typeof identity.verified_by === "string" && identity.verified_by ? identity.verified_by : null;
    return { customerId: idText(identity.customer_id) || idText(packet.customer_id), verifiedBy: verifiedBy };
  }
  function identityText(identity) {
    var how = identity.verifiedBy;
    var status = !how ? t("not_verified")
      : Object.prototype.hasOwnProperty.call(VERIFIED_BY, how) ? t(VERIFIED_BY[how]) : t("verified_other", { how: how });
    return identity.customerId ? identity.customerId + " · " + status : status;
  }

  function renderContext(info) {
    var body = $("context-body");
    clear(body);
    var packet = isObject(info.packet) ? info.packet : {};
    var fields = el("dl", "fields");
    field(fields, t("reason"), reasonLabel(packet.reason), "context-reason");
    field(fields, t("intent"), packet.intent, "context-intent");
    field(fields, t("skill"), info.skill);
    field(fields, t("language"), info.language || packet.language);
    field(fields, t("channel"), info.channel || packet.channel);
    var identity = identityOf(packet);
    var who = field(fields, t("customer"), identityText(identity), "context-identity");
    who.className = identity.verifiedBy ? "identity is-verified" : "identity is-unverified";
    who.setAttribute("data-verified", identity.verifiedBy || "");
    if (packet.customer_tier) field(fields, t("tier"), packet.customer_tier);
    if (info.transfer_note) field(fields, t("transfer_note"), info.transfer_note, "context-transfer-note");
    var hasOrder = isObject(packet.order) && Object.keys(packet.order).length > 0;
    if (!hasOrder && packet.order_hint) {
      field(fields, t("order"), t("order_hint", { order: fmt(packet.order_hint) }), "context-order-hint");
    }
    body.appendChild(fields);

    renderPhotosAndUpdates(body, packet);

    var history = Array.isArray(packet.intent_history) ? packet.intent_history : [];
    if (history.length) {
      body.appendChild(el("h3", "", t("intent_history")));
      var list = testid(el("ol", "intent-history"), "context-intents");
      history.forEach(function (h) {
        var item = el("li");
        if (!isObject(h)) { item.textContent = fmt(h); list.appendChild(item); return; }
        item.appendChild(el("span", "intent-name", fmt(h.intent)));
        var conf = typeof h.confidence === "number" ? h.confidence : null;
        var meter = el("meter");
        meter.min = 0; meter.max = 1; meter.low = 0.5; meter.high = 0.8; meter.optimum = 1;
        meter.value = conf || 0;
        item.appendChild(meter);
        item.appendChild(el("span", "muted", conf === null ? t("none") : pct(conf)));
        if (h.text) item.appendChild(el("q", "said", h.text));
        list.appendChild(item);
      });
      body.appendChild(list);
    }

    var entities = Array.isArray(packet.entities) ? packet.entities : [];
    if (entities.length) {
      body.appendChild(el("h3", "", t("entities")));
      var ents = testid(el("ul", "plain"), "context-entities");
      entities.forEach(function (e) {
        ents.appendChild(el("li", "", isObject(e) ? fmt(e.entity) + ": " + fmt(e.value) : fmt(e)));
      });
      body.appendChild(ents);
    }

    var slots = isObject(packet.slots) ? packet.slots : {};
    var hidden = { session_started_metadata: 1, language: 1, handoff_reason: 1, kb_hits: 1, requested_slot: 1 };
    var slotNames = Object.keys(slots).filter(function (k) {
      return !hidden[k] && slots[k] !== null && slots[k] !== undefined && slots[k] !== "";
    });
    if (slotNames.length) {
      body.appendChild(el("h3", "", t("slots")));
      var sl = testid(el("dl", "fields"), "context-slots");
      slotNames.forEach(function (k) { field(sl, k, slots[k]); });
      body.appendChild(sl);
    }

    var order = isObject(packet.order) ? packet.order : {};
    if (Object.keys(order).length) {
      body.appendChild(el("h3", "", t("order")));
      var od = testid(el("dl", "fields"), "context-order");
      var known = { id: 1, status: 1, placed_on: 1, delivered_on: 1, total: 1, currency: 1, items: 1 };
      field(od, "#", order.id || order.order_id);
      field(od, t("status"), order.status);
      field(od, t("placed_on"), order.placed_on);
      if (order.delivered_on) field(od, t("delivered_on"), order.delivered_on);
      field(od, t("total"), order.total === undefined ? null : fmt(order.total) + (order.currency ? " " + order.currency : ""));
      if (Array.isArray(order.items)) {
        field(od, t("items"), order.items.map(function (i) {
          return isObject(i) ? [i.name_zh && lang === "zh" ? i.name_zh : i.name || i.sku, i.condition].filter(Boolean).join(", ") : fmt(i);
        }).join("; "));
      }
      Object.keys(order).forEach(function (k) { if (!known[k] && k !== "order_id") field(od, k, order[k]); });
      body.appendChild(od);
    }

    var hits = Array.isArray(packet.kb_hits) ? packet.kb_hits : [];
    if (hits.length) {
      body.appendChild(el("h3", "", t("kb_tried")));
      var kb = testid(el("ul", "plain"), "context-kb");
      hits.forEach(function (h) {
        if (!isObject(h)) { kb.appendChild(el("li", "", fmt(h))); return; }
        var label = h.title || h.question || h.article_id || h.id || fmt(h);
        var score = typeof h.score === "number" ? " (" + pct(h.score) + ")" : "";
        kb.appendChild(el("li", "", fmt(label) + score));
      });
      body.appendChild(kb);
    }

    var shown = { reason: 1, intent: 1, language: 1, channel: 1, customer_id: 1, identity: 1, customer_tier: 1, intent_history: 1,
      entities: 1, slots: 1, order: 1, kb_hits: 1, transcript: 1, conversation_id: 1, photos: 1, updates: 1, order_hint: 1 };
    var rest = Object.keys(packet).filter(function (k) { return !shown[k]; });
    if (rest.length) {
      body.appendChild(el("h3", "", t("other")));
      var other = el("dl", "fields");
      rest.forEach(function (k) { field(other, k, packet[k]); });
      body.appendChild(other);
    }
  }

  // The photos the customer sent (before the handoff: packet.photos; since: photo updates), and what they
  // added since the handoff (packet.updates: order numbers, photos, what they said while waiting).
  var UPDATE_KINDS = { text: "u_text", order_id: "u_order_id", photo: "u_photo" };
  function renderPhotosAndUpdates(body, packet) {
    var updates = (Array.isArray(packet.updates) ? packet.updates : []).filter(function (u) {
      return isObject(u) && Object.prototype.hasOwnProperty.call(UPDATE_KINDS, u.kind);
    });
    var photos = photoIds(packet.photos, function (p) { return isObject(p) ? p.id : null; });
    photoIds(updates, function (u) { return u.kind === "photo" ? u.value : null; }).forEach(function (id) {
      if (photos.indexOf(id) < 0) photos.push(id);
    });
    if (photos.length) {
      body.appendChild(el("h3", "", t("photos")));
      var grid = testid(el("div", "photo-grid"), "context-photos");
      photos.forEach(function (id) { grid.appendChild(photoLink(id, "small")); });
      body.appendChild(grid);
    }
    if (!updates.length) return;
    body.appendChild(el("h3", "", t("updates")));
    var list = testid(el("ol", "updates"), "context-updates");
    updates.forEach(function (u) {
      var item = el("li", "update update-" + u.kind);
      item.setAttribute("data-kind", u.kind);
      item.appendChild(el("time", "time muted", clockTime(u.ts)));
      item.appendChild(el("span", "update-kind", t(UPDATE_KINDS[u.kind])));
      if (u.kind === "photo") {
        if (typeof u.value === "string" && PHOTO_ID.test(u.value)) item.appendChild(photoLink(u.value, "tiny"));
      } else {
        item.appendChild(el(u.kind === "text" ? "q" : "span", "update-value", fmt(u.value)));
      }
      list.appendChild(item);
    });
    body.appendChild(list);
  }

  // The card again after a change (an event for the open conversation: a message, or the packet updated
  // by what the customer sent): only the card is redrawn, the transcript stays as it is.
  var cardTimer = null;
  function refreshCardSoon(cid) {
    clearTimeout(cardTimer);
    cardTimer = setTimeout(function () {
      if (S.selected !== cid) return;
      api("GET", "/api/conversations/" + enc(cid)).then(function (info) {
        if (S.selected !== cid || !isObject(info)) return;
        conv(cid).info = info;
        renderContext(info);
        updateActions();
      }).catch(function () { /* the next event or the periodic resync tries again */ });
    }, 250);
  }

  // -- knowledge-base suggestions --------------------------------------------------------------------

  var kbTimer = null;
  function loadSuggestionsSoon(cid) {
    clearTimeout(kbTimer);
    kbTimer = setTimeout(function () { loadSuggestions(cid); }, 300);
  }
  var kbSeq = 0;  // only the latest request may draw: an earlier, slower answer is for an older message
  function loadSuggestions(cid) {
    var seq = ++kbSeq;
    api("GET", "/api/conversations/" + enc(cid) + "/suggestions").then(function (data) {
      if (seq === kbSeq && S.selected === cid) renderKb(data);
    }).catch(function () { if (seq === kbSeq && S.selected === cid) renderKb(null); });
  }
  function renderKb(data) {
    var list = $("kb-list");
    clear(list);
    var hits = data && Array.isArray(data.hits) ? data.hits : [];
    $("kb-query").textContent = data && data.query ? t("kb_for", { q: data.query }) : "";
    hits.forEach(function (hit) {
      var item = testid(el("li", "kb-hit"), "kb-hit");
      var head = el("div", "row");
      head.appendChild(el("strong", "", hit.title || hit.article_id));
      if (typeof hit.score === "number") head.appendChild(el("span", "muted", pct(hit.score)));
      item.appendChild(head);
      item.appendChild(el("p", "kb-answer", hit.answer));
      var insert = button(t("insert"), "small", "kb-insert");
      insert.addEventListener("click", function () { insertText(String(hit.answer || "")); });
      item.appendChild(insert);
      list.appendChild(item);
    });
    $("kb-empty").hidden = hits.length > 0;
  }

  // -- the reply box: quick replies, variables, typing, sending --------------------------------------

  var input = $("reply-input");
  var VARIABLE = /\{([a-z][a-z0-9_]*)\}/g;
  var qr = { items: [], active: -1, seq: 0, timer: null, open: false };
  var lastTyping = 0;

  function unresolved(text) {
    var names = [];
    text.replace(VARIABLE, function (_, name) { if (names.indexOf(name) < 0) names.push(name); return _; });
    return names;
  }

  function renderBackdrop() {
    var backdrop = $("reply-backdrop");
    clear(backdrop);
    var text = input.value;
    var last = 0;
    text.replace(VARIABLE, function (match, name, offset) {
      if (offset > last) backdrop.appendChild(document.createTextNode(text.slice(last, offset)));
      backdrop.appendChild(el("mark", "", match));
      last = offset + match.length;
      return match;
    });
    backdrop.appendChild(document.createTextNode(text.slice(last) + "\n"));
    backdrop.scrollTop = input.scrollTop;
  }

  function updateReplyState() {
    var names = unresolved(input.value);
    var list = $("unresolved-list");
    clear(list);
    names.forEach(function (name) {
      var chip = button("{" + name + "}", "var-chip", "unresolved-variable");
      chip.setAttribute("data-variable", name);
      chip.addEventListener("click", function () { selectVariable(name); });
      list.appendChild(chip);
    });
    $("unresolved").hidden = names.length === 0;
    input.classList.toggle("has-unresolved", names.length > 0);
    input.setAttribute("aria-invalid", names.length ? "true" : "false");
    $("send").disabled = input.disabled || names.length > 0 || !input.value.trim();
    if (!names.length) $("reply-error").hidden = true;
    renderBackdrop();
  }

  function selectVariable(name) {
    var at = input.value.indexOf("{" + name + "}");
    if (at < 0) return;
    input.focus();
    input.setSelectionRange(at, at + name.length + 2);
  }

  function insertText(text) {
    if (input.disabled) return;
    var start = input.selectionStart || 0, end = input.selectionEnd || 0;
    var value = input.value;
    if (document.activeElement !== input) { start = end = value.length; }
    var before = value.slice(0, start), after = value.slice(end);
    var gap = before && !/\s$/.test(before) ? " " : "";
    input.value = before + gap + text + after;
    var caret = (before + gap + text).length;
    input.focus();
    input.setSelectionRange(caret, caret);
    onInput();
  }

  function onInput() {
    if (S.selected) S.drafts[S.selected] = input.value;
    updateReplyState();
    var value = input.value;
    if (value.charAt(0) === "/" && value.indexOf("\n") < 0) searchQuickReplies(value.slice(1));
    else closeQuickReplies();
    var now = Date.now();
    if (S.selected && value && now - lastTyping > 2500 && holds(S.selected)) {
      lastTyping = now;
      api("POST", "/api/conversations/" + enc(S.selected) + "/typing").catch(function () { /* best effort */ });
    }
  }
  input.addEventListener("input", onInput);
  input.addEventListener("scroll", function () { $("reply-backdrop").scrollTop = input.scrollTop; });

  function conversationLanguage() {
    var c = S.selected ? conv(S.selected) : null;
    var chat = S.chats.filter(function (x) { return x.conversation_id === S.selected; })[0];
    return (c && c.info && (c.info.language || (c.info.packet && c.info.packet.language))) || (chat && chat.language) || lang;
  }

  function searchQuickReplies(query) {
    clearTimeout(qr.timer);
    qr.timer = setTimeout(function () {
      var seq = ++qr.seq;
      var path = "/api/quick-replies?q=" + enc(query) + "&lang=" + enc(conversationLanguage()) + "&limit=20";
      api("GET", path).then(function (data) {
        if (seq !== qr.seq || input.value.charAt(0) !== "/") return;
        qr.items = Array.isArray(data) ? data : (data && (data.templates || data.items || data.results)) || [];
        qr.active = qr.items.length ? 0 : -1;
        renderQuickReplies();
      }).catch(function (err) { if (seq === qr.seq) failed(err); });
    }, 120);
  }

  function renderQuickReplies() {
    var list = $("quick-reply-list");
    clear(list);
    qr.items.forEach(function (item, i) {
      var option = testid(el("li", "qr-option" + (i === qr.active ? " active" : "")), "quick-reply-option");
      option.id = "qr-option-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === qr.active ? "true" : "false");
      option.setAttribute("data-id", String(item.id));
      var head = el("div", "row");
      head.appendChild(el("strong", "", item.title || item.id));
      var shortcut = item.shortcut || (Array.isArray(item.tags) && item.tags.length ? item.tags[0] : "");
      if (shortcut) head.appendChild(el("span", "muted shortcut", "/" + shortcut));
      option.appendChild(head);
      option.appendChild(el("div", "qr-text", item.text));
      option.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the caret
      option.addEventListener("click", function () { pickQuickReply(item); });
      list.appendChild(option);
    });
    $("quick-reply-empty").hidden = qr.items.length > 0;
    $("quick-replies").hidden = false;
    qr.open = true;
    input.setAttribute("aria-expanded", "true");
    if (qr.active >= 0) {
      input.setAttribute("aria-activedescendant", "qr-option-" + qr.active);
      var active = $("qr-option-" + qr.active);
      if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function closeQuickReplies() {
    clearTimeout(qr.timer);
    qr.seq++;
    qr.open = false;
    $("quick-replies").hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function fillTemplate(text, values) {
    return text.replace(VARIABLE, function (match, name) {
      var value = values[name];
      if (value === null || value === undefined) return match;
      value = String(value);
      return value.trim() ? value : match;
    });
  }

  function pickQuickReply(item) {
    closeQuickReplies();
    var cid = S.selected;
    var text = String(item.text || "");
    api("GET", "/api/conversations/" + enc(cid) + "/variables").catch(function () { return null; }).then(function (data) {
      if (S.selected !== cid) return;
      var values = Object.assign({}, data && isObject(data.variables) ? data.variables : {});
      if (!values.agent_name && me && me.name) values.agent_name = me.name;
      input.value = fillTemplate(text, values);
      S.drafts[cid] = input.value;
      input.focus();
      var names = unresolved(input.value);
      updateReplyState();
      if (names.length) selectVariable(names[0]);  // type to replace the first blank
      else input.setSelectionRange(input.value.length, input.value.length);
    });
  }

  input.addEventListener("keydown", function (event) {
    if (qr.open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!qr.items.length) return;
        var step = event.key === "ArrowDown" ? 1 : -1;
        qr.active = (qr.active + step + qr.items.length) % qr.items.length;
        renderQuickReplies();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        if (qr.active >= 0 && qr.items[qr.active]) {
          event.preventDefault();
          pickQuickReply(qr.items[qr.active]);
        }
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        closeQuickReplies();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var cid = S.selected;
    var text = input.value;
    if (!cid || !text.trim() || input.disabled) return;
    if (unresolved(text).length) {
      var error = $("reply-error");
      error.textContent = t("fill_first");
      error.hidden = false;
      $("unresolved").classList.remove("shake");
      void $("unresolved").offsetWidth;  // restart the animation
      $("unresolved").classList.add("shake");
      return;
    }
    $("send").disabled = true;
    api("POST", "/api/conversations/" + enc(cid) + "/messages", { text: text }).then(function () {
      if (S.selected === cid && input.value === text) input.value = "";
      S.drafts[cid] = "";
      updateReplyState();
      return fetchMessages(cid);
    }).catch(function (err) {
      var box = $("reply-error");
      box.textContent = t("error", { m: errorText(err) });
      box.hidden = false;
      updateReplyState();
    });
  });

  // -- actions: resolve, transfer, return to bot, ticket ---------------------------------------------

  function afterRelease(cid, message) {
    S.chats = S.chats.filter(function (chat) { return chat.conversation_id !== cid; });
    if (S.selected === cid) {
      S.selected = null;
      S.drafts[cid] = "";
      input.value = "";
      window.history.replaceState(null, "", "#chats");
    }
    renderChats();
    renderConversation();
    notify(message);
    loadInbox();
  }

  $("action-resolve").addEventListener("click", function () {
    var cid = S.selected;
    if (!cid) return;
    this.disabled = true;
    api("POST", "/api/assignments/" + enc(cid) + "/resolve").then(function () {
      afterRelease(cid, t("resolved_notice"));
    }).catch(function (err) { failed(err); renderConversation(); });
  });

  function openDialog(id) {
    var dialog = $(id);
    Array.prototype.forEach.call(dialog.querySelectorAll(".error"), function (e) { e.hidden = true; });
    dialog.showModal();
    return dialog;
  }
  Array.prototype.forEach.call(document.querySelectorAll("dialog .cancel"), function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  function dialogError(id, err) {
    var box = $(id);
    box.textContent = t("error", { m: errorText(err) });
    box.hidden = false;
  }

  var SKILLS = ["general", "orders", "returns", "payments", "shipping", "complaints"];
  $("action-transfer").addEventListener("click", function () {
    var select = $("transfer-skill");
    clear(select);
    var skills = SKILLS.slice();
    var current = S.selected && conv(S.selected).info && conv(S.selected).info.skill;
    if (current && skills.indexOf(current) < 0) skills.push(current);
    skills.forEach(function (skill) {
      var option = el("option", "", skill);
      option.value = skill;
      select.appendChild(option);
    });
    $("transfer-note").value = "";
    $("transfer-agent").value = "";
    openDialog("transfer-dialog");
    select.focus();
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[name=transfer-kind]"), function (radio) {
    radio.addEventListener("change", function () {
      var toAgent = document.querySelector("input[name=transfer-kind]:checked").value === "agent";
      $("transfer-agent-wrap").hidden = !toAgent;
      $("transfer-skill-wrap").hidden = toAgent;
    });
  });
  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var cid = S.selected;
    var body = { note: $("transfer-note").value };
    if (document.querySelector("input[name=transfer-kind]:checked").value === "agent") body.agent_id = $("transfer-agent").value.trim();
    else body.skill = $("transfer-skill").value;
    api("POST", "/api/assignments/" + enc(cid) + "/transfer", body).then(function () {
      $("transfer-dialog").close();
      afterRelease(cid, t("transferred_notice"));
    }).catch(function (err) { dialogError("transfer-error", err); });
  });

  $("action-return").addEventListener("click", function () {
    var select = $("return-flow");
    var fill = function (flows) {
      clear(select);
      var none = el("option", "", t("no_flow"));
      none.value = "";
      select.appendChild(none);
      flows.forEach(function (flow) {
        var id = isObject(flow) ? flow.id || flow.name || flow.flow : flow;
        var option = el("option", "", isObject(flow) ? flow.title || flow.label || id : id);
        option.value = String(id);
        select.appendChild(option);
      });
    };
    var loaded = S.flows ? Promise.resolve(S.flows) : api("GET", "/api/console/flows").then(function (data) {
      S.flows = Array.isArray(data) ? data : (data && data.flows) || [];
      return S.flows;
    }).catch(function () { return []; });
    loaded.then(function (flows) { fill(flows); openDialog("return-dialog"); select.focus(); });
  });
  $("return-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var cid = S.selected;
    var flow = $("return-flow").value;
    api("POST", "/api/assignments/" + enc(cid) + "/return-to-bot", flow ? { flow: flow } : {}).then(function () {
      $("return-dialog").close();
      afterRelease(cid, t("returned_notice"));
    }).catch(function (err) { dialogError("return-error", err); });
  });

  $("action-ticket").addEventListener("click", function () {
    var cid = S.selected;
    var c = conv(cid);
    var info = c.info || {};
    var packet = isObject(info.packet) ? info.packet : {};
    var order = isObject(packet.order) ? packet.order : {};
    var subject = reasonLabel(packet.reason);
    if (order.id) subject += " · " + order.id;
    var lines = c.messages.filter(function (m) { return m.author === "customer"; }).slice(-5)
      .map(function (m) { return "> " + m.text; });
    var details = [];
    if (packet.intent) details.push(t("intent") + ": " + packet.intent);
    if (order.id) details.push(t("order") + ": " + order.id + (order.status ? " (" + order.status + ")" : ""));
    $("ticket-subject").value = subject;
    $("ticket-description").value = details.concat(lines).join("\n").slice(0, 4000);  // the field's maxlength, under the server's limit
    $("ticket-category").value = "";  // empty: the server classifies from the conversation
    $("ticket-skill").value = info.skill || "";
    openDialog("ticket-dialog");
    $("ticket-subject").focus();
  });
  $("ticket-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var submit = $("ticket-form").querySelector("button[type=submit]");
    if (submit && submit.disabled) return;  // one ticket per click, however often it is pressed
    if (submit) submit.disabled = true;
    var cid = S.selected;
    var info = conv(cid).info || {};
    var packet = isObject(info.packet) ? info.packet : {};
    var body = {
      conversation_id: cid,
      subject: $("ticket-subject").value.trim(),
      description: $("ticket-description").value,
      category: $("ticket-category").value.trim() || undefined,
      skill: $("ticket-skill").value.trim() || undefined,
      intent: packet.intent || undefined,
      language: info.language || packet.language || undefined,
      customer_id: packet.customer_id || undefined
    };
    api("POST", "/api/tickets", body).then(function (ticket) {
      $("ticket-dialog").close();
      notify(t("ticket_created", { id: ticket && (ticket.id || ticket.ticket_id) || "" }));
    }).catch(function (err) {
      dialogError("ticket-create-error", err.status === 404 ? new Error(t("tickets_unavailable")) : err);
    }).then(function () {
      if (submit) submit.disabled = false;
    });
  });

  // -- tickets ---------------------------------------------------------------------------------------

  function ticketId(ticket) { return String(ticket.id || ticket.ticket_id || ""); }
  function ticketAssignee(ticket) { return ticket.assignee || ticket.assigned_to || ticket.agent_id || null; }
  function isMine(ticket) {
    var who = ticketAssignee(ticket);
    return !!who && (who === me.user_id || who === me.agent_id);
  }

  var ticketsTimer = null;
  function loadTicketsSoon() {
    clearTimeout(ticketsTimer);
    ticketsTimer = setTimeout(loadTickets, 300);
  }
  function loadTickets() {
    var params = [];
    var status = $("ticket-filter-status").value;
    var mine = $("ticket-filter-mine").checked;
    if (status) params.push("status=" + enc(status));
    if (mine && me.agent_id) params.push("assignee=" + enc(me.agent_id));
    api("GET", "/api/tickets" + (params.length ? "?" + params.join("&") : "")).then(function (data) {
      var list = Array.isArray(data) ? data : (data && (data.tickets || data.items)) || [];
      S.tickets = list.filter(function (tk) {
        return (!status || tk.status === status) && (!mine || isMine(tk));
      });
      $("tickets-error").hidden = true;
      renderTickets();
      if (S.ticket) openTicket(ticketId(S.ticket), true);
    }).catch(function (err) {
      S.tickets = [];
      renderTickets();
      var box = $("tickets-error");
      box.textContent = err.status === 404 ? t("tickets_unavailable") : t("error", { m: errorText(err) });
      box.hidden = false;
    });
  }
  $("ticket-filter-status").addEventListener("change", loadTickets);
  $("ticket-filter-mine").addEventListener("change", loadTickets);
  $("ticket-refresh").addEventListener("click", loadTickets);

  function ticketStatusLabel(status) {
    return T.en["ticket_" + status] ? t("ticket_" + status) : fmt(status);
  }

  function renderTickets() {
    var list = $("ticket-list");
    clear(list);
    S.tickets.forEach(function (ticket) {
      var id = ticketId(ticket);
      var item = el("li");
      var b = button("", "ticket-item" + (S.ticket && ticketId(S.ticket) === id ? " selected" : ""), "ticket-item");
      b.setAttribute("data-ticket-id", id);
      var head = el("span", "row");
      head.appendChild(el("strong", "", "#" + id));
      head.appendChild(el("span", "status status-" + String(ticket.status).replace(/[^a-z_]/g, ""), ticketStatusLabel(ticket.status)));
      b.appendChild(head);
      b.appendChild(el("span", "ticket-subject", ticket.subject || ticket.title || ticket.summary || ticket.category));
      b.appendChild(el("span", "muted", [ticket.priority, ticket.skill, ticket.category, ticketAssignee(ticket)].filter(Boolean).join(" · ")));
      b.addEventListener("click", function () { go("ticket/" + id); });
      item.appendChild(b);
      list.appendChild(item);
    });
    $("tickets-empty").hidden = S.tickets.length > 0;
  }

  function openTicket(id, quiet) {
    api("GET", "/api/tickets/" + enc(id)).then(function (ticket) {
      S.ticket = (ticket && ticket.ticket) || ticket;
      renderTicket();
      renderTickets();
    }).catch(function (err) {
      if (!quiet) { S.ticket = null; renderTicket(); failed(err); }
    });
  }

  function renderTicket() {
    var ticket = S.ticket;
    $("ticket-detail").hidden = !ticket;
    if (!ticket) return;
    $("ticket-title").textContent = "#" + ticketId(ticket) + " " + (ticket.subject || ticket.title || ticket.summary || "");
    var fields = $("ticket-fields");
    clear(fields);
    field(fields, t("status"), ticketStatusLabel(ticket.status), "ticket-field-status");
    field(fields, t("assignee"), ticketAssignee(ticket), "ticket-field-assignee");
    field(fields, t("priority"), ticket.priority, "ticket-field-priority");
    field(fields, t("category"), ticket.category);
    field(fields, t("intent"), ticket.intent);
    field(fields, t("skill"), ticket.skill);
    field(fields, t("source"), ticket.source || ticket.reason);
    field(fields, t("conversation"), ticket.conversation_id);
    field(fields, t("created"), dateTime(ticket.created_at));
    if (ticket.updated_at) field(fields, t("updated"), dateTime(ticket.updated_at));
    if (ticket.description) field(fields, t("description"), ticket.description);
    $("ticket-status").value = ticket.status || "open";
    $("ticket-assign").disabled = isMine(ticket) || !me.agent_id;
    $("ticket-open-chat").hidden = !ticket.conversation_id;
    var notes = $("ticket-notes");
    clear(notes);
    // history: [{at, actor, action, changes: {field: [old, new]}, note}]
    var history = Array.isArray(ticket.history) ? ticket.history : Array.isArray(ticket.notes) ? ticket.notes : [];
    history.forEach(function (entry) {
      var item = testid(el("li", "note"), "ticket-history-item");
      if (!isObject(entry)) {
        item.appendChild(el("div", "text", fmt(entry)));
        notes.appendChild(item);
        return;
      }
      item.appendChild(el("div", "meta", [entry.actor || entry.by || entry.author, dateTime(entry.at || entry.ts),
        entry.action].filter(Boolean).join(" · ")));
      if (isObject(entry.changes)) {
        Object.keys(entry.changes).forEach(function (name) {
          var change = entry.changes[name];
          var text = Array.isArray(change) ? fmt(change[0]) + " → " + fmt(change[1]) : fmt(change);
          item.appendChild(el("div", "change", name + ": " + text));
        });
      }
      var note = entry.note || entry.text;
      if (note) item.appendChild(testid(el("div", "text", note), "ticket-note-text"));
      notes.appendChild(item);
    });
  }

  function patchTicket(body) {
    var id = ticketId(S.ticket);
    $("ticket-error").hidden = true;
    return api("PATCH", "/api/tickets/" + enc(id), body).then(function (ticket) {
      if (ticket && (ticket.id || ticket.ticket)) S.ticket = ticket.ticket || ticket;
      openTicket(id, true);
      loadTickets();
    }).catch(function (err) {
      var box = $("ticket-error");
      box.textContent = t("error", { m: errorText(err) });
      box.hidden = false;
      throw err;
    });
  }
  $("ticket-assign").addEventListener("click", function () { patchTicket({ assignee: me.agent_id || me.user_id }).catch(function () {}); });
  $("ticket-status").addEventListener("change", function (event) { patchTicket({ status: event.target.value }).catch(function () {}); });
  $("ticket-note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("ticket-note").value.trim();
    if (!text) return;
    patchTicket({ note: text }).then(function () { $("ticket-note").value = ""; }).catch(function () {});
  });
  $("ticket-open-chat").addEventListener("click", function () {
    if (S.ticket && S.ticket.conversation_id) go("chat/" + S.ticket.conversation_id);
  });

  // -- supervisor dashboard --------------------------------------------------------------------------

  var dashTimer = null;
  function loadDashboardSoon() {
    if (S.view !== "supervisor") return;
    clearTimeout(dashTimer);
    dashTimer = setTimeout(loadDashboard, 400);
  }
  function loadDashboard() {
    if (!me || S.view !== "supervisor") return;
    api("GET", "/api/supervisor/overview").then(renderOverview).catch(failed);
    loadDecisions();
    loadWeights();
  }
  setInterval(function () { if (me && S.view === "supervisor" && !document.hidden) loadDashboard(); }, 5000);

  function cell(row, text, cls) { var td = el("td", cls, text); row.appendChild(td); return td; }

  function renderOverview(data) {
    data = data || {};
    var queues = Array.isArray(data.queues) ? data.queues : [];
    var body = $("queues-body");
    clear(body);
    queues.forEach(function (q) {
      var row = testid(el("tr"), "queue-row");
      cell(row, q.queue || [q.skill || "*", q.language].join(":"));
      cell(row, fmt(q.length), "num");
      cell(row, seconds(q.oldest_wait_seconds), "num");
      cell(row, q.estimated_wait_seconds === null ? t("none") : seconds(q.estimated_wait_seconds), "num");
      body.appendChild(row);
    });
    $("queues-empty").hidden = queues.length > 0;

    var agents = Array.isArray(data.agents) ? data.agents : [];
    var ab = $("agents-body");
    clear(ab);
    agents.forEach(function (a) {
      var row = testid(el("tr"), "agent-row");
      row.setAttribute("data-agent-id", String(a.id || a.agent_id));
      cell(row, (a.name ? a.name + " " : "") + "(" + (a.id || a.agent_id) + ")");
      var presence = String(a.presence || "offline");
      cell(row, T.en[presence] ? t(presence) : presence, "presence-" + presence.replace(/[^a-z]/g, ""));
      var active = typeof a.active === "number" ? a.active : a.load;
      cell(row, fmt(active) + (typeof a.capacity === "number" ? " / " + a.capacity : ""), "num");
      var rating = typeof a.rating_average === "number"
        ? t("reviews", { avg: a.rating_average.toFixed(1), n: a.rating_count || 0 }) : t("no_reviews");
      cell(row, rating);
      ab.appendChild(row);
    });

    var sl = $("service-level");
    clear(sl);
    var level = isObject(data.service_level) ? data.service_level : {};
    var share20 = pickShare(level, "20"), share60 = pickShare(level, "60");
    [["within_20", share20, "sl-20"], ["within_60", share60, "sl-60"]].forEach(function (x) {
      var box = testid(el("div", "stat"), x[2]);
      box.appendChild(el("span", "stat-value", pct(x[1])));
      box.appendChild(el("span", "stat-label", t(x[0])));
      sl.appendChild(box);
    });
    var details = el("dl", "fields small");
    var labels = { handoffs: "handoffs", answered: "sl_answered", abandoned: "sl_abandoned" };
    Object.keys(labels).forEach(function (k) { if (k in level) field(details, t(labels[k]), level[k]); });
    if ("average_wait_seconds" in level) field(details, t("sl_average_wait"), seconds(level.average_wait_seconds));
    var tickets = data.tickets;
    if (isObject(tickets) || Array.isArray(tickets)) {
      var parts = Array.isArray(tickets) ? tickets.map(function (x) { return isObject(x) ? fmt(x.skill) + " " + fmt(x.count || x.open) : fmt(x); })
        : Object.keys(tickets).map(function (k) { return k + " " + fmt(tickets[k]); });
      field(details, t("open_tickets"), parts.join(" · ") || "0");
    }
    sl.appendChild(details);
  }

  // share_within_20s (0-1, null before the first handoff); other shapes are read as well as they can be
  function pickShare(level, limit) {
    var keys = Object.keys(level).filter(function (k) { return k.indexOf(limit) >= 0; });
    var shares = keys.filter(function (k) { return /share|rate|pct|percent/.test(k); });
    var candidates = shares.length ? shares : keys.filter(function (k) { return !/answered|count/.test(k); });
    for (var i = 0; i < candidates.length; i++) {
      var value = level[candidates[i]];
      if (typeof value === "number") return value;
      if (isObject(value) && typeof value.share === "number") return value.share;
    }
    return null;
  }

  function loadDecisions() {
    api("GET", "/api/decisions?limit=20").then(function (list) {
      list = Array.isArray(list) ? list : (list && list.decisions) || [];
      var ul = $("decision-list");
      clear(ul);
      list.forEach(function (d) {
        var item = el("li");
        var b = button("", "decision-item" + (S.decision === String(d.id) ? " selected" : ""), "decision-item");
        b.setAttribute("data-decision-id", String(d.id));
        b.setAttribute("data-conversation-id", String(d.conversation_id));
        b.appendChild(el("strong", "", "#" + d.id));
        b.appendChild(el("span", "", " " + (d.queue || "") + " → " + (d.chosen || t("nobody"))));
        b.appendChild(el("span", "muted", " " + [d.how, d.outcome, clockTime(d.at)].filter(Boolean).join(" · ")));
        b.addEventListener("click", function () { showDecision(String(d.id)); });
        item.appendChild(b);
        ul.appendChild(item);
      });
      $("decisions-empty").hidden = list.length > 0;
    }).catch(failed);
  }

  var FILTERS = ["no_skill", "not_online", "no_language", "full", "declined"];
  function showDecision(id) {
    S.decision = id;
    Array.prototype.forEach.call(document.querySelectorAll(".decision-item"), function (b) {
      b.classList.toggle("selected", b.getAttribute("data-decision-id") === id);
    });
    api("GET", "/api/decisions/" + enc(id)).then(function (d) {
      var box = $("decision-detail");
      clear(box);
      box.hidden = false;
      var head = el("div", "row");
      head.appendChild(el("h3", "", t("decision", { id: d.id })));
      var close = button("×", "link close", "decision-close");
      close.setAttribute("aria-label", t("cancel"));
      close.addEventListener("click", function () { box.hidden = true; S.decision = null; });
      head.appendChild(close);
      box.appendChild(head);
      var facts = el("dl", "fields small");
      field(facts, t("conversation"), d.conversation_id);
      field(facts, t("queue"), d.queue);
      field(facts, t("how"), d.how);
      field(facts, t("outcome"), d.outcome);
      field(facts, t("pool"), d.pool_size);
      var w = isObject(d.weights) ? d.weights : {};
      field(facts, t("score_weights"), [t("w_skill") + " " + fmt(w.skill), t("w_load") + " " + fmt(w.load), t("w_rating") + " " + fmt(w.rating)].join(" · "));
      box.appendChild(facts);

      box.appendChild(el("h4", "", t("candidates")));
      var table = testid(el("table", "breakdown"), "decision-breakdown");
      var thead = el("tr");
      [t("agent"), t("w_skill"), t("w_load"), t("w_rating"), t("total_score")].forEach(function (h) { thead.appendChild(el("th", "", h)); });
      var th = el("thead");
      th.appendChild(thead);
      table.appendChild(th);
      var tb = el("tbody");
      (Array.isArray(d.candidates) ? d.candidates : []).forEach(function (c) {
        var parts = isObject(c.parts) ? c.parts : {};
        var chosen = c.agent_id === d.chosen;
        var row = testid(el("tr", chosen ? "chosen" : ""), "candidate-row");
        row.setAttribute("data-agent-id", String(c.agent_id));
        cell(row, c.agent_id + (chosen ? " ✓ " + t("chosen") : ""));
        var partCell = function (value, raw) {
          var td = cell(row, fmt(value), "num");
          if (raw !== null && raw !== undefined) td.appendChild(el("small", "muted", " (" + fmt(raw) + ")"));
          return td;
        };
        testid(partCell(parts.skill, c.proficiency), "part-skill");
        testid(partCell(parts.load, c.load), "part-load");
        testid(partCell(parts.rating, c.rating), "part-rating");
        var total = typeof c.total === "number" ? c.total : (parts.skill || 0) + (parts.load || 0) + (parts.rating || 0);
        testid(cell(row, fmt(total), "num total"), "part-total");
        tb.appendChild(row);
      });
      table.appendChild(tb);
      box.appendChild(table);

      box.appendChild(el("h4", "", t("removed_by")));
      var removed = testid(el("ul", "plain"), "decision-filters");
      var r = isObject(d.removed) ? d.removed : {};
      Object.keys(r).sort(function (a, b) { return FILTERS.indexOf(a) - FILTERS.indexOf(b); }).forEach(function (name) {
        var entry = isObject(r[name]) ? r[name] : { count: r[name] };
        var label = T.en["filter_" + name] ? t("filter_" + name) : name;
        var sample = Array.isArray(entry.sample) && entry.sample.length ? ": " + entry.sample.join(", ") : "";
        var item = testid(el("li", "", label + " — " + fmt(entry.count) + sample), "decision-filter");
        item.setAttribute("data-filter", name);
        removed.appendChild(item);
      });
      box.appendChild(removed);
      var open = button(t("open_conversation"), "", "decision-open");
      open.addEventListener("click", function () { go("chat/" + d.conversation_id); });
      box.appendChild(open);
    }).catch(failed);
  }

  var weightsDirty = false;
  ["weight-skill", "weight-load", "weight-rating"].forEach(function (id) {
    $(id).addEventListener("input", function () { weightsDirty = true; });
  });
  function loadWeights() {
    api("GET", "/api/routing/weights").then(function (data) {
      data = data || {};
      var w = isObject(data.weights) ? data.weights : {};
      if (!weightsDirty) {
        $("weight-skill").value = fmt(w.skill);
        $("weight-load").value = fmt(w.load);
        $("weight-rating").value = fmt(w.rating);
      }
      var body = $("weights-audit");
      clear(body);
      (Array.isArray(data.audit) ? data.audit : []).forEach(function (entry) {
        var row = testid(el("tr"), "audit-row");
        var show = function (x) { return isObject(x) ? [fmt(x.skill), fmt(x.load), fmt(x.rating)].join(" / ") : fmt(x); };
        cell(row, dateTime(entry.at));
        cell(row, fmt(entry.by));
        cell(row, show(entry.old));
        cell(row, show(entry.new));
        body.appendChild(row);
      });
    }).catch(failed);
  }
  $("weights-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {
      skill: Number($("weight-skill").value),
      load: Number($("weight-load").value),
      rating: Number($("weight-rating").value)
    };
    $("weights-error").hidden = true;
    api("PUT", "/api/routing/weights", body).then(function () {
      weightsDirty = false;
      notify(t("weights_saved"));
      loadWeights();
    }).catch(function (err) {
      var box = $("weights-error");
      box.textContent = errorText(err);
      box.hidden = false;
    });
  });

  // -- live events: /ws/console ----------------------------------------------------------------------

  var socket = null, socketOpen = false, backoff = 500, reconnectTimer = null, pingTimer = null, safetyTimer = null;
  var typingTimer = null;

  function setConnection(open) {
    socketOpen = open;
    var box = $("connection");
    box.textContent = open ? t("connected") : t("reconnecting");
    box.className = "connection " + (open ? "is-open" : "is-closed");
  }

  function connectSocket() {
    if (!me || socket) return;
    clearTimeout(reconnectTimer);
    var ws = new WebSocket(window.location.origin.replace(/^http/, "ws") + "/ws/console");
    socket = ws;
    ws.onopen = function () {
      backoff = 500;
      setConnection(true);
      sendWatch();
      resync();  // whatever happened while we were away: inbox and transcripts by cursor
    };
    ws.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data === "object") handleEvent(data);
    };
    ws.onclose = function () {
      if (socket === ws) socket = null;
      setConnection(false);
      if (!me) return;
      reconnectTimer = setTimeout(function () {
        // a closed socket may mean an ended session: find out before trying again
        api("GET", "/api/session").then(function () { connectSocket(); }, function (err) {
          if (err.status === 401) sessionLost(); else connectSocket();
        });
      }, backoff + Math.random() * 250);
      backoff = Math.min(backoff * 2, 15000);
    };
    clearInterval(pingTimer);
    pingTimer = setInterval(function () {
      if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
    }, 25000);
    clearInterval(safetyTimer);
    safetyTimer = setInterval(function () { if (me && !document.hidden) resync(); }, 30000);
  }

  function closeSocket() {
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    clearInterval(safetyTimer);
    if (socket) {
      var ws = socket;
      socket = null;
      ws.onclose = null;
      ws.close();
    }
    setConnection(false);
  }

  function sendWatch() {
    if (!socket || socket.readyState !== 1) return;
    var ids = S.chats.map(function (chat) { return chat.conversation_id; });
    if (S.selected && ids.indexOf(S.selected) < 0 && !conv(S.selected).error) ids.push(S.selected);
    socket.send(JSON.stringify({ type: "watch", conversation_ids: ids }));
  }

  function resync() {
    if (!me) return;
    var inbox = me.agent_id ? loadInbox() : Promise.resolve();
    inbox.then(function () {
      Object.keys(S.convs).forEach(function (cid) {
        var c = S.convs[cid];
        if (c.loaded && !c.error && (holds(cid) || cid === S.selected)) fetchMessages(cid).catch(function () {});
      });
    });
    if (S.view === "supervisor") loadDashboardSoon();
    if (S.view === "tickets") loadTicketsSoon();
  }

  function mine(event) { return me && me.agent_id && event.agent_id === me.agent_id; }

  function handleEvent(event) {
    var cid = event.conversation_id;
    switch (event.type) {
      case "offer":
        if (mine(event)) {
          if (!S.offers[cid]) {
            S.offers[cid] = Object.assign({ first: Date.now() + skew }, event);
            alertOffer(event);
            renderOffers();
          }
          loadInboxSoon();
        }
        loadDashboardSoon();
        break;
      case "offer_closed":
        if (mine(event)) { delete S.offers[cid]; renderOffers(); loadInboxSoon(); }
        loadDashboardSoon();
        break;
      case "assigned":
        if (mine(event)) loadInboxSoon();
        loadDashboardSoon();
        break;
      case "released":
        if (holds(cid)) {
          loadInboxSoon();
          if (cid === S.selected) notify(t("not_held"));
        }
        loadDashboardSoon();
        break;
      case "message":
        if (cid && (holds(cid) || cid === S.selected)) fetchMessages(cid).catch(function () {});
        if (cid && cid === S.selected) refreshCardSoon(cid);
        break;
      case "typing":
        if (cid === S.selected && event.author !== "agent") {
          $("customer-typing").hidden = false;
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { $("customer-typing").hidden = true; }, 4000);
        }
        break;
      case "presence":
        if (mine(event)) { S.agent = Object.assign({}, S.agent || {}, { presence: event.presence }); renderPresence(); }
        loadDashboardSoon();
        break;
      case "queue_changed":
        loadDashboardSoon();
        break;
      case "ticket":
        if (S.view === "tickets") loadTicketsSoon();
        loadDashboardSoon();
        break;
      default:
        break;  // hello, watching, pong, error: nothing to redraw
    }
  }

  // -- keyboard --------------------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      if (qr.open) { closeQuickReplies(); input.focus(); return; }
      if (!$("decision-detail").hidden && S.view === "supervisor") { $("decision-detail").hidden = true; S.decision = null; }
      if (!$("notice").hidden) $("notice").hidden = true;
      return;
    }
    // Alt+↑ / Alt+↓: previous / next chat
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && S.view === "chats" && S.chats.length) {
      event.preventDefault();
      var ids = S.chats.map(function (chat) { return chat.conversation_id; });
      var i = ids.indexOf(S.selected);
      var next = ids[(i + (event.key === "ArrowDown" ? 1 : -1) + ids.length) % ids.length] || ids[0];
      go("chat/" + next);
      setTimeout(function () { if (!input.disabled) input.focus(); }, 0);
    }
  });
  document.addEventListener("click", function (event) {
    if (qr.open && !$("quick-replies").contains(event.target) && event.target !== input) closeQuickReplies();
  });

  // -- start -----------------------------------------------------------------------------------------

  applyLanguage();
  setConnection(false);
  api("GET", "/api/session").then(signedIn, function () { showLogin(""); });
})();
