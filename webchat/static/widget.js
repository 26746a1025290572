/*
 * Microneedling check: the embeddable chat widget (vanilla JS, no framework).
 *
 *   <script src="http://HOST:5057/widget.js" data-rasa-url="http://HOST:5005"
 *           data-mode="shop" data-shop-id="my-shop" defer></script>
 *
 * Optional attributes: data-open="true" (start open), data-title, data-socket-path
 * (default /socket.io). Talks to Rasa's socket.io channel (events user_uttered and
 * bot_uttered, session persistence); sends {"mode", "shop_id"} with every message.
 * Every piece of message text is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll('script[src*="widget.js"]');
    script = all[all.length - 1];
  }
  if (!script || window.__triageWebchatLoaded) return;
  window.__triageWebchatLoaded = true;

  var BASE = new URL(".", script.src).href.replace(/\/$/, "");
  var data = script.dataset;
  var RASA_URL = (data.rasaUrl || "http://127.0.0.1:5005").replace(/\/$/, "");
  var MODE = data.mode || "shop";
  var SHOP_ID = data.shopId || "";
  var SOCKET_PATH = data.socketPath || "/socket.io";
  var TITLE = data.title || "Microneedling check";
  var START_OPEN = data.open === "true";
  var HUMAN_TEXT = "I'd like to talk to a person";
  var KEY = "triage-webchat:" + RASA_URL + ":" + MODE + ":" + SHOP_ID;
  var MAX_ENTRIES = 300;
  var TYPING_TIMEOUT_MS = 25000;
  var METADATA = { mode: MODE, shop_id: SHOP_ID };

  /* ---- storage (may be unavailable: private windows, blocked storage) ---- */
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(KEY + ":" + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }
  function save(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(KEY + ":" + name);
      else window.localStorage.setItem(KEY + ":" + name, JSON.stringify(value));
    } catch (e) { /* storage full or blocked: the chat still works, unsaved */ }
  }

  var sessionId = load("session", null);
  var transcript = load("transcript", []);
  if (!Array.isArray(transcript)) transcript = [];

  /* ---- DOM helpers ---- */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var host = el("div");
  host.setAttribute("data-triage-webchat", "");
  host.style.visibility = "hidden"; // until our stylesheet has loaded
  var root = host.attachShadow({ mode: "open" });
  var css = el("link");
  css.rel = "stylesheet";
  css.href = BASE + "/static/widget.css";
  css.onload = css.onerror = function () { host.style.visibility = ""; };
  root.appendChild(css);

  var wrap = el("div", "twc");
  root.appendChild(wrap);

  var launcher = el("button", "launcher", "Chat: is microneedling at home right for me?");
  launcher.type = "button";
  launcher.setAttribute("aria-controls", "twc-panel");
  launcher.setAttribute("aria-expanded", "false");
  wrap.appendChild(launcher);

  var panel = el("section", "panel");
  panel.id = "twc-panel";
  panel.setAttribute("aria-labelledby", "twc-title");
  panel.hidden = true;
  wrap.appendChild(panel);

  var head = el("div", "head");
  var titles = el("div", "titles");
  var h2 = el("h2", "", TITLE);
  h2.id = "twc-title";
  titles.appendChild(h2);
  titles.appendChild(el("p", "", "Assistant · not medical advice"));
  head.appendChild(titles);
  var newChat = el("button", "new", "New chat");
  newChat.type = "button";
  newChat.setAttribute("aria-label", "New chat (clears this conversation from this device)");
  head.appendChild(newChat);
  var closeBtn = el("button", "close", "\u2013");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", "Minimise chat");
  head.appendChild(closeBtn);
  panel.appendChild(head);

  var notice = el("div", "notice");
  notice.setAttribute("role", "status");
  panel.appendChild(notice);

  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;
  panel.appendChild(log);

  var intro = el("p", "intro",
    "Say hi, or tell me what you'd like to improve, and I'll check whether microneedling at " +
    "home suits you: how deep, how often, and with which precautions.");

  var typing = el("div", "typing");
  typing.setAttribute("role", "status");
  var typingInner = el("div");
  typingInner.hidden = true;
  var dots = el("span", "dots");
  dots.setAttribute("aria-hidden", "true");
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  dots.appendChild(el("span"));
  typingInner.appendChild(dots);
  typingInner.appendChild(el("span", "sr-only", "The assistant is typing\u2026"));
  typing.appendChild(typingInner);
  typing.hidden = true;
  panel.appendChild(typing);

  var foot = el("div", "foot");
  var human = el("button", "human", "Talk to a person");
  human.type = "button";
  foot.appendChild(human);
  var form = el("form", "composer");
  form.setAttribute("autocomplete", "off");
  var label = el("label", "sr-only", "Your message");
  label.htmlFor = "twc-input";
  var input = el("input");
  input.id = "twc-input";
  input.type = "text";
  input.name = "message";
  // The server's limit (actions/limits.py MESSAGE_MAX_CHARS), filled in by webchat/app.py
  // when it serves /widget.js; the server refuses longer messages anyway.
  var maxChars = parseInt("__MESSAGE_MAX_CHARS__", 10);
  if (maxChars > 0) input.maxLength = maxChars;
  input.placeholder = "Type your message\u2026";
  input.setAttribute("enterkeyhint", "send");
  var sendBtn = el("button", "send", "Send");
  sendBtn.type = "submit";
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(sendBtn);
  foot.appendChild(form);
  foot.appendChild(el("p", "disclaimer",
    "Not medical advice. Your answers are used only for this assessment."));
  panel.appendChild(foot);

  (document.body || document.documentElement).appendChild(host);

  /* ---- sources: "(Sources: title; title)" becomes links to /sources#id ---- */
  var sourceTitles = []; // [{title, id}], longest title first
  var deletedText = "";
  var sourcesReady = fetch(BASE + "/sources.json", { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : { sources: [] }; })
    .then(function (doc) {
      sourceTitles = (doc.sources || []).map(function (s) { return { title: s.title, id: s.id }; })
        .filter(function (s) { return s.title && s.id; })
        .sort(function (a, b) { return b.title.length - a.title.length; });
      deletedText = doc.deleted_text || "";
    })
    .catch(function () { /* plain text without links */ });

  function sourceAt(text, pos) {
    for (var i = 0; i < sourceTitles.length; i++) {
      if (text.startsWith(sourceTitles[i].title, pos)) return sourceTitles[i];
    }
    return null;
  }

  // Titles may themselves contain "; " and parentheses, so known titles are matched at
  // each position instead of splitting the text.
  function fillRich(node, text) {
    var marker = "(Sources: ";
    var from = 0;
    for (;;) {
      var at = text.indexOf(marker, from);
      if (at < 0) break;
      var pos = at + marker.length;
      node.appendChild(document.createTextNode(text.slice(from, pos)));
      for (;;) {
        var src = sourceAt(text, pos);
        if (!src) break;
        var a = el("a", "source", src.title);
        a.href = BASE + "/sources#" + encodeURIComponent(src.id);
        a.target = "_blank";
        a.rel = "noopener";
        node.appendChild(a);
        pos += src.title.length;
        if (text.startsWith("; ", pos)) {
          node.appendChild(document.createTextNode("; "));
          pos += 2;
        } else {
          break;
        }
      }
      from = pos;
    }
    node.appendChild(document.createTextNode(text.slice(from)));
  }

  /* ---- the transcript ---- */
  var rendered = []; // DOM node per transcript entry

  function lastUserIndex() {
    for (var i = transcript.length - 1; i >= 0; i--) if (transcript[i].who === "user") return i;
    return -1;
  }
  function lastButtonsIndex() {
    for (var i = transcript.length - 1; i >= 0; i--) {
      if (transcript[i].buttons && transcript[i].buttons.length) return i;
    }
    return -1;
  }

  // Only the newest set of buttons, with nothing said since, can be used.
  function refreshButtons() {
    var active = lastButtonsIndex();
    if (active < lastUserIndex()) active = -1;
    rendered.forEach(function (node, i) {
      var buttons = node.querySelectorAll(".quick button");
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = i !== active;
    });
  }

  function renderEntry(entry, index) {
    var item = el("div", "msg " + entry.who);
    var who = { user: "You: ", bot: "Assistant: ", note: "" }[entry.who] || "";
    var text = el("p", "text");
    if (who) text.appendChild(el("span", "sr-only", who));
    var body = el("span", "body");
    if (entry.who === "bot") fillRich(body, entry.text || "");
    else body.textContent = entry.text || "";
    text.appendChild(body);
    if (entry.text) item.appendChild(text);
    if (entry.image) {
      var img = el("img");
      img.alt = "";
      img.src = entry.image;
      item.appendChild(img);
    }
    if (entry.buttons && entry.buttons.length) {
      var group = el("div", "quick");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Answers you can choose");
      entry.buttons.forEach(function (b) {
        var button = el("button", entry.chosen === b.title ? "chosen" : "", b.title);
        button.type = "button";
        button.addEventListener("click", function () { choose(index, b); });
        group.appendChild(button);
      });
      item.appendChild(group);
    }
    return item;
  }

  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  function renderAll() {
    log.textContent = "";
    rendered = [];
    log.appendChild(intro);
    intro.hidden = transcript.length > 0;
    transcript.forEach(function (entry, i) {
      var node = renderEntry(entry, i);
      rendered.push(node);
      log.appendChild(node);
    });
    refreshButtons();
    scrollToEnd();
  }

  function persist() {
    if (transcript.length > MAX_ENTRIES) {
      transcript = transcript.slice(transcript.length - MAX_ENTRIES);
      renderAll();
    }
    save("transcript", transcript);
  }

  function addEntry(entry) {
    entry.at = Date.now();
    transcript.push(entry);
    intro.hidden = true;
    var node = renderEntry(entry, transcript.length - 1);
    rendered.push(node);
    log.appendChild(node);
    refreshButtons();
    persist();
    scrollToEnd();
  }

  /* ---- typing indicator and connection notice ---- */
  var typingTimer = null;
  function showTyping() {
    typing.hidden = false;
    typingInner.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    scrollToEnd();
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingInner.hidden = true;
    typing.hidden = true;
  }
  function setNotice(text) { notice.textContent = text; }

  /* ---- socket.io ---- */
  var socket = null;
  var confirmed = false;
  var outbox = [];

  function flush() {
    while (socket && confirmed && outbox.length) {
      socket.emit("user_uttered", {
        message: outbox.shift(),
        session_id: sessionId,
        customData: METADATA // credentials.yml sets socketio.metadata_key: customData
      });
    }
  }

  function send(shown, message) {
    shown = (shown || "").trim();
    if (!shown) return;
    addEntry({ who: "user", text: shown });
    outbox.push(message || shown);
    showTyping();
    flush();
  }

  function choose(index, button) {
    if (index !== lastButtonsIndex() || index < lastUserIndex()) return;
    transcript[index].chosen = button.title;
    var chosen = rendered[index].querySelectorAll(".quick button");
    for (var i = 0; i < chosen.length; i++) {
      if (chosen[i].textContent === button.title) chosen[i].classList.add("chosen");
    }
    send(button.title, button.payload);
    input.focus();
  }

  function onBotMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    var text = typeof msg.text === "string" ? msg.text : "";
    var buttons = (msg.quick_replies || msg.buttons || []).filter(function (b) {
      return b && typeof b.title === "string" && typeof b.payload === "string";
    }).map(function (b) { return { title: b.title, payload: b.payload }; });
    var image = "";
    if (msg.attachment && msg.attachment.type === "image" && msg.attachment.payload) {
      var src = String(msg.attachment.payload.src || "");
      if (/^https?:\/\//i.test(src)) image = src;
    }
    if (!text && !buttons.length && !image) return;
    hideTyping();
    var entry = { who: "bot", text: text };
    if (buttons.length) entry.buttons = buttons;
    if (image) entry.image = image;
    addEntry(entry);
    if (deletedText && text === deletedText) {
      // the person's data was erased: keep nothing of it on this device either
      transcript = [];
      save("transcript", null);
      addEntry({ who: "note", text: "Nothing from this conversation is kept on this device." });
    }
  }

  function connect(io) {
    socket = io(RASA_URL, {
      path: SOCKET_PATH,
      transports: ["websocket"], // Rasa adds no CORS headers for long-polling
      reconnection: true,
      reconnectionDelayMax: 10000
    });
    socket.on("connect", function () {
      confirmed = false;
      socket.emit("session_request", { session_id: sessionId });
    });
    socket.on("session_confirm", function (sid) {
      var id = typeof sid === "string" ? sid : sid && sid.session_id;
      if (!id) return;
      sessionId = id;
      save("session", sessionId);
      confirmed = true;
      setNotice("");
      flush();
    });
    socket.on("bot_uttered", function (msg) {
      sourcesReady.then(function () { onBotMessage(msg); });
    });
    socket.on("disconnect", function () {
      confirmed = false;
      setNotice("Connection lost. Reconnecting\u2026");
    });
    socket.on("connect_error", function () {
      setNotice("Can't reach the assistant right now. Trying again\u2026");
    });
  }

  // Our socket.io client, unless the page already has a compatible one (protocol v5);
  // a different `io` the page had stays the page's.
  function loadSocketIo() {
    return new Promise(function (resolve, reject) {
      if (typeof window.io === "function" && window.io.protocol === 5) {
        resolve(window.io);
        return;
      }
      var previous = window.io;
      var s = document.createElement("script");
      s.src = BASE + "/static/socket.io.min.js";
      s.async = true;
      s.onload = function () {
        var ours = window.io;
        if (previous !== undefined) window.io = previous;
        if (typeof ours === "function") resolve(ours);
        else reject(new Error("socket.io client did not load"));
      };
      s.onerror = function () { reject(new Error("socket.io client did not load")); };
      document.head.appendChild(s);
    });
  }

  /* ---- open, close, new chat ---- */
  function setOpen(open, focus) {
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    save("open", open);
    if (focus) (open ? input : launcher).focus();
    if (open) scrollToEnd();
  }

  launcher.addEventListener("click", function () { setOpen(true, true); });
  closeBtn.addEventListener("click", function () { setOpen(false, true); });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") setOpen(false, true);
  });
  human.addEventListener("click", function () { send(HUMAN_TEXT); input.focus(); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text);
  });
  newChat.addEventListener("click", function () {
    transcript = [];
    sessionId = null;
    outbox = [];
    save("transcript", null);
    save("session", null);
    hideTyping();
    renderAll();
    if (socket) { // a new socket: the old conversation's room is left behind
      socket.disconnect();
      socket.connect();
    }
    input.focus();
  });

  // Another tab of the same shop wrote the conversation: show the same.
  window.addEventListener("storage", function (e) {
    if (e.key === KEY + ":transcript") {
      var next = load("transcript", []);
      transcript = Array.isArray(next) ? next : [];
      renderAll();
    } else if (e.key === KEY + ":session") {
      sessionId = load("session", null);
      // the server binds a socket to one session: ask for the new one on this tab's socket
      if (socket && socket.connected) {
        confirmed = false;
        socket.emit("session_request", { session_id: sessionId });
      }
    }
  });

  var wasOpen = load("open", null);
  setOpen(wasOpen === null ? START_OPEN : !!wasOpen, false);

  sourcesReady.then(function () {
    renderAll();
    return loadSocketIo();
  }).then(connect).catch(function () {
    setNotice("The chat could not start. Please reload the page.");
  });
})();
