/* Live feeds: version gating, resync and follow mode for htmx's ws extension.
 *
 * The server (sessions_app/live.py) starts every frame with <template data-live="kind"
 * data-session data-version [data-base data-count]>. This extension ("zyn-live", next to "ws" in
 * hx-ext) reads it before htmx swaps anything: frames at or below the page's version are dropped,
 * a delta that does not start at the page's version (a gap: the channel layer is at-most-once and
 * may reorder) is dropped and a snapshot is asked for instead, and so is everything after a
 * reconnect. The page's version lives in #session-detail[data-version] (or each list row's).
 */
(function () {
  "use strict";
  var LABELS = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
    resyncing: "Resyncing…", resynced: "Live · resynced", closed: "Disconnected",
  };
  var OPEN_EDITOR = "form:not(.inline)"; // a form the operator is filling in (the ↑/↓ buttons are .inline)
  var newMessages = 0;

  function setState(feed, state) {
    feed.dataset.liveState = state;
    var indicator = feed.querySelector(".live-indicator");
    if (indicator) { indicator.dataset.state = state; indicator.textContent = LABELS[state]; }
  }
  function settle(feed) {
    var s = feed.dataset.liveState;
    setState(feed, s === "resyncing" || s === "reconnecting" || s === "resynced" ? "resynced" : "live");
  }
  function send(feed, message) {
    if (feed._liveSocket) feed._liveSocket.send(JSON.stringify(message));
  }

  /* ---------------------------------------------------------------- one session */
  function root() { return document.getElementById("session-detail"); }
  function pageVersion() { var r = root(); return r ? Number(r.dataset.version) : -1; }
  function list() { return document.getElementById("message-list"); }
  function showsTail() {
    var l = list(), r = root();
    if (!l || !r || l.hasAttribute("data-live-held")) return false;
    var rows = l.querySelectorAll(":scope > li[data-index]");
    var last = rows.length ? Number(rows[rows.length - 1].dataset.index) : -1;
    return last === Number(r.dataset.count) - 1 && !l.querySelector(":scope > li.more.after");
  }
  function askSnapshot(feed, type) {
    var l = list();
    setState(feed, type === "hello" ? feed.dataset.liveState : "resyncing");
    send(feed, { type: type, version: pageVersion(), page: l ? Number(l.dataset.page) : 0, tail: showsTail() });
  }
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
  }
  function toBottom() { window.scrollTo(0, document.documentElement.scrollHeight); }
  function badge() {
    var b = document.getElementById("live-new");
    if (!b) return;
    b.hidden = newMessages === 0;
    b.textContent = newMessages + " new message" + (newMessages === 1 ? "" : "s") + " ↓";
  }
  function accept(env) {
    var r = root();
    r.dataset.version = env.version;
    if (env.count !== undefined) r.dataset.count = env.count;
  }

  function detailFrame(feed, env, frag) {
    var v = Number(env.version), current = pageVersion();
    if (env.live === "presence") return true;
    if (env.live === "ack" || env.live === "stale") {
      if (v > current) askSnapshot(feed, "resync"); else settle(feed);
      return false;
    }
    if (v < current || (env.live === "delta" && v === current)) return false; // old news
    var l = list();
    var editing = l && l.querySelector(OPEN_EDITOR);
    if (env.live === "snapshot") {
      var newList = frag.querySelector("#message-list");
      if (editing && newList) {
        // Keep what the operator is typing; its form still carries the old version, so saving it
        // fails with a version conflict and refreshes the view: it never lands on a moved message.
        newList.remove();
        l.setAttribute("data-live-held", "");
      }
      accept(env);
      settle(feed);
      newMessages = 0;
      badge();
      return true;
    }
    if (env.live !== "delta") return false;
    if (Number(env.base) !== current) { askSnapshot(feed, "resync"); return false; } // a gap
    // (":scope >" matches nothing in a DocumentFragment: look at its children instead.)
    var top = Array.prototype.slice.call(frag.children);
    var rows = top.filter(function (el) { return el.hasAttribute("data-first"); })[0];
    if (rows) {
      if (showsTail() && Number(rows.dataset.first) === Number(root().dataset.count)) {
        feed._follow = atBottom();
        if (!feed._follow) newMessages += Number(rows.dataset.count);
      } else {
        newMessages += Number(rows.dataset.count);
        rows.remove();
      }
    }
    top.filter(function (el) { return /^message-\d+$/.test(el.id); }).forEach(function (row) {
      var target = document.getElementById(row.id);
      if (!target) { row.remove(); return; }
      if (target.querySelector(OPEN_EDITOR)) { row.remove(); target.setAttribute("data-live-held", ""); }
    });
    accept(env);
    badge();
    return true;
  }

  /* Requests from the page carry the version the page is consistent with: forms and links were
   * rendered at older versions, and the deltas applied since did not touch what they refer to.
   * Held rows, a held list and the bulk preview keep their own (older) version on purpose. */
  document.addEventListener("htmx:configRequest", function (e) {
    var r = root(), elt = e.detail.elt;
    if (!r || !r.contains(elt) || elt.closest("[data-live-held], #bulk-preview")) return;
    var v = r.dataset.version;
    if (e.detail.parameters && e.detail.parameters.expected_version !== undefined) {
      e.detail.parameters.expected_version = v;
    }
    e.detail.path = e.detail.path.replace(/([?&]v=)\d+/, "$1" + v);
  });

  /* ---------------------------------------------------------------- the list */
  function showsNewest() {
    var p = new URLSearchParams(location.search);
    return !["q", "key", "value", "since", "until"].some(function (k) { return p.get(k); }) &&
      (!p.get("page") || p.get("page") === "1");
  }
  function listHello(feed) {
    var known = {};
    document.querySelectorAll("#session-table tr.session-row").forEach(function (tr) {
      known[tr.id.slice("session-".length)] = Number(tr.dataset.version);
    });
    send(feed, { type: "hello", sessions: known });
  }
  function listFrame(feed, env, frag) {
    if (env.live === "ack") { settle(feed); return false; }
    if (env.live !== "row") return false;
    var row = document.getElementById("session-" + env.session);
    var fresh = frag.querySelector("tr");
    if (!fresh || (row && Number(row.dataset.version) >= Number(env.version))) return false;
    if (!showsNewest()) return !!row; // a filtered or older page: update rows in place, add none
    if (row) row.remove(); // the newest change goes to the top, like the list's order
    var empty = document.querySelector("#session-table td.empty");
    if (empty) empty.parentNode.remove();
    var into = document.createElement("tbody"); // htmx's ws oob swap moves the wrapper's children
    into.setAttribute("hx-swap-oob", "afterbegin:#session-table tbody");
    into.appendChild(fresh);
    frag.appendChild(into);
    return true;
  }

  /* ---------------------------------------------------------------- wiring */
  htmx.defineExtension("zyn-live", {
    transformResponse: function (text, xhr, elt) {
      if (xhr) return text; // ordinary htmx requests pass through
      var feed = elt.closest("[data-live-feed]");
      var t = document.createElement("template");
      t.innerHTML = text;
      var env = t.content.querySelector("template[data-live]");
      if (!feed || !env) return text;
      var data = Object.assign({}, env.dataset);
      env.remove();
      var keep = feed.dataset.liveFeed === "list" ? listFrame(feed, data, t.content) : detailFrame(feed, data, t.content);
      return keep ? t.innerHTML : "";
    },
  });

  document.addEventListener("htmx:wsOpen", function (e) {
    var feed = e.target.closest("[data-live-feed]");
    if (!feed) return;
    feed._liveSocket = e.detail.socketWrapper;
    setState(feed, feed._opened ? "resyncing" : "connecting");
    feed._opened = true;
    if (feed.dataset.liveFeed === "list") listHello(feed); else askSnapshot(feed, "hello");
  });
  document.addEventListener("htmx:wsClose", function (e) {
    var feed = e.target.closest("[data-live-feed]");
    if (feed) setState(feed, e.detail.event.code >= 4000 ? "closed" : "reconnecting");
  });
  /* A delta appends the new usage bars (the CSS shows only the last data-max): drop older ones, and
     draw all of them to the chart's new scale (#usage-chart-scale). Set through the CSSOM: the
     Content-Security-Policy lets no frame carry a <style>. */
  function pruneBars() {
    var bars = document.getElementById("usage-bars");
    var max = bars ? Number(bars.dataset.max) : 0;
    while (bars && max > 0 && bars.children.length > max) bars.firstElementChild.remove();
    var scale = document.getElementById("usage-chart-scale");
    if (bars && scale) bars.style.setProperty("--peak", scale.value);
  }
  document.addEventListener("htmx:wsAfterMessage", function (e) {
    var feed = e.target.closest("[data-live-feed]");
    pruneBars();
    if (!feed || !feed._follow) return;
    feed._follow = false;
    // Again once layout has settled (swapped-in charts and rows may still change the height),
    // unless the operator has scrolled up meanwhile.
    toBottom();
    var y = window.scrollY;
    var again = function () { if (window.scrollY >= y - 2) { toBottom(); y = window.scrollY; } };
    requestAnimationFrame(again);
    setTimeout(again, 250);
  });
  /* "Messages #a–#b of N" says what the list shows: after live rows, a snapshot or a loaded chunk. */
  function syncRange() {
    var label = document.getElementById("window-range"), l = list(), r = root();
    if (!label || !l || !r) return;
    var rows = l.querySelectorAll(":scope > li[data-index]"), count = Number(r.dataset.count);
    label.textContent = "Messages " + (rows.length && count
      ? "#" + rows[0].dataset.index + "–#" + rows[rows.length - 1].dataset.index + " of " + count.toLocaleString("en-US")
      : "(none)");
  }
  document.addEventListener("htmx:wsAfterMessage", syncRange);
  document.addEventListener("htmx:afterSettle", syncRange);
  document.addEventListener("htmx:afterSwap", function (e) {
    var feed = document.querySelector("[data-live-feed='list']");
    if (feed && e.target.id === "session-table") listHello(feed); // a search or another page
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest("#live-new")) return;
    if (showsTail()) toBottom();
    else location.href = "?at=" + Math.max(0, Number(root().dataset.count) - 1) + "#message-list";
  });
  window.addEventListener("scroll", function () {
    if (newMessages && showsTail() && atBottom()) { newMessages = 0; badge(); }
  }, { passive: true });
})();
