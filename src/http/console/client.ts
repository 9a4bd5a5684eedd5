/**
 * The console's one client script (served at /console/app.js): the Live view's WebSocket, filters, pause and the
 * event detail. Plain DOM, text nodes only (no HTML from event data). Other pages work without it.
 */
export const CLIENT_SCRIPT = String.raw`"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live) return;
  var source = live.getAttribute("data-source");
  var MAX = 500;
  var records = [];
  var paused = false, pending = 0, selected = null, lastMinute = 0, shownLastMinute = 0;
  var tbody = document.getElementById("events");
  var detail = document.getElementById("detail");
  var statusEl = document.getElementById("status");
  var sampling = document.getElementById("sampling");
  var form = document.getElementById("filters");
  var pauseBtn = document.getElementById("pause");

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function outcomeText(o) {
    var t = o.status.replace("_", "-");
    var why = o.reason || o.error;
    return why ? t + ": " + why : t;
  }
  function matches(r) {
    var f = new FormData(form);
    var type = f.get("type"), name = String(f.get("name") || "").toLowerCase(), user = String(f.get("userId") || ""), mid = String(f.get("messageId") || "");
    if (type && r.type !== type) return false;
    if (name && String(r.name || "").toLowerCase().indexOf(name) < 0) return false;
    if (user && String(r.userId || "").indexOf(user) < 0) return false;
    if (mid && r.messageId.indexOf(mid) < 0) return false;
    return true;
  }
  function render() {
    var rows = [];
    for (var i = records.length - 1; i >= 0 && rows.length < 200; i--) {
      var r = records[i];
      if (!matches(r)) continue;
      var badges = el("td", {}, Object.keys(r.destinations).map(function (d) {
        var o = r.destinations[d];
        return el("span", { "class": "badge s-" + o.status, title: outcomeText(o) }, [d + ": " + o.status.replace("_", "-")]);
      }));
      if (r.findings.length) badges.appendChild(el("span", { "class": "badge s-quarantined" }, [r.findings.length + " finding" + (r.findings.length > 1 ? "s" : "")]));
      var tr = el("tr", { tabindex: "0", "data-message-id": r.messageId, "aria-selected": String(selected === r) }, [
        el("td", {}, [new Date(r.at).toISOString().slice(11, 19)]),
        el("td", {}, [r.type]),
        el("td", {}, [r.name || ""]),
        el("td", { "class": "hide-s" }, [r.userId || r.anonymousId || ""]),
        badges,
      ]);
      tr.addEventListener("click", show.bind(null, r));
      tr.addEventListener("keydown", function (r, ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); show(r); } }.bind(null, r));
      rows.push(tr);
    }
    tbody.replaceChildren.apply(tbody, rows);
    statusEl.textContent = (paused ? "Paused" + (pending ? ", " + pending + " new events waiting" : "") : "Live") + " · " + records.length + " events kept · " + lastMinute + " events in the last minute";
    if (shownLastMinute < lastMinute) {
      sampling.hidden = false;
      sampling.textContent = "Sampled: showing " + shownLastMinute + " of " + lastMinute + " events of the last minute (" + (lastMinute / 60).toFixed(1) + " events/s arrive).";
    } else sampling.hidden = true;
  }
  function show(r) {
    selected = r;
    var pretty;
    try { pretty = JSON.stringify(JSON.parse(r.json), null, 2); } catch (e) { pretty = r.json; }
    var outcomes = el("ul", {}, Object.keys(r.destinations).map(function (d) {
      return el("li", { "class": "s-" + r.destinations[d].status }, [d + ": " + outcomeText(r.destinations[d])]);
    }));
    var findings = r.findings.length ? el("ul", {}, r.findings.map(function (f) { return el("li", {}, [f.type + ": " + f.description]); })) : el("p", { "class": "muted" }, ["No findings."]);
    detail.replaceChildren(
      el("h2", { tabindex: "-1", id: "detail-title" }, [(r.name || r.type) + " · " + r.messageId]),
      el("h3", {}, ["Destinations"]), outcomes,
      el("h3", {}, ["Tracking plan findings"]), findings,
      r.withheld ? el("p", { "class": "muted" }, ["Event body not shown: your token does not have read_events."]) : el("h3", {}, ["Event" + (r.truncated ? " (cut short)" : "")]),
      r.withheld ? el("span") : el("pre", {}, [pretty])
    );
    document.getElementById("detail-title").focus();
    render();
  }
  var queued = [];
  function take(msg) {
    if (typeof msg.lastMinute === "number") { lastMinute = msg.lastMinute; shownLastMinute = msg.shownLastMinute; }
    if (!msg.records) return;
    if (paused) { queued = queued.concat(msg.records); pending += msg.records.length; render(); return; }
    records = records.concat(msg.records).slice(-MAX);
    render();
  }
  pauseBtn.addEventListener("click", function () {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) { records = records.concat(queued).slice(-MAX); queued = []; pending = 0; }
    render();
  });
  form.addEventListener("input", render);
  var retry = 1000;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/console/live/" + encodeURIComponent(source) + "/socket");
    ws.onopen = function () { retry = 1000; statusEl.textContent = "Live"; };
    ws.onmessage = function (ev) { try { take(JSON.parse(ev.data)); } catch (e) {} };
    ws.onclose = function () { statusEl.textContent = "Disconnected; reconnecting…"; setTimeout(connect, retry); retry = Math.min(retry * 2, 30000); };
  }
  connect();
})();
`;
