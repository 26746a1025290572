// Live updates of a case page: every 2 s, ask for the conversation lines after the last one
// shown and append them. User text is only ever inserted with textContent.
(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) { return; }
  var ticket = list.getAttribute("data-ticket");
  var next = parseInt(list.getAttribute("data-next"), 10) || 0;
  var statusEl = document.getElementById("ticket-status");
  var claimedEl = document.getElementById("ticket-claimed");
  var hint = document.getElementById("live-hint");
  var stopped = false;

  function label(line) {
    if (line.who === "person") { return "Person"; }
    if (line.who === "assistant") { return "Assistant"; }
    if (line.who === "agent") {
      return "Agent " + (line.author || "") + (line.delivered === false ? " (not delivered)" : "");
    }
    if (line.who === "note") { return "Internal note by " + (line.author || "") + " (not sent)"; }
    return "System";
  }

  function append(line) {
    var li = document.createElement("li");
    li.className = "line who-" + String(line.who).replace(/[^a-z]/g, "");
    var meta = document.createElement("p");
    meta.className = "meta";
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = label(line);
    meta.appendChild(who);
    if (line.at) {
      meta.appendChild(document.createTextNode(" "));
      var time = document.createElement("time");
      time.setAttribute("datetime", line.at);
      time.textContent = String(line.at).replace("T", " ").replace("Z", " UTC");
      meta.appendChild(time);
    }
    var text = document.createElement("p");
    text.className = "text";
    text.textContent = line.text;
    li.appendChild(meta);
    li.appendChild(text);
    list.appendChild(li);
  }

  function say(message) {
    if (hint) { hint.textContent = message; }
  }

  function poll() {
    if (stopped) { return; }
    fetch("/api/tickets/" + encodeURIComponent(ticket) + "/events?after=" + next, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        stopped = true;
        say("Live updates stopped: your session has ended. Reload the page to log in again.");
        return null;
      }
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      (data.lines || []).forEach(append);
      if (typeof data.next === "number") { next = data.next; }
      if (statusEl && data.status) { statusEl.textContent = data.status; }
      if (claimedEl) { claimedEl.textContent = data.claimed_by ? ", claimed by " + data.claimed_by : ""; }
    }).catch(function () {
      say("Live updates are interrupted; retrying.");
    }).then(function () {
      if (!stopped) { window.setTimeout(poll, 2000); }
    });
  }

  window.setTimeout(poll, 2000);
}());
