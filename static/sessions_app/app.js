/* Dashboard behaviour on top of htmx: row actions, drag and drop, keyboard shortcuts.
   Everything here has a no-JS equivalent (links and forms); this only makes it quicker. */
(function () {
  "use strict";

  function detail() { return document.getElementById("session-detail"); }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  function rowOf(el) { return el && el.closest ? el.closest("li.msg") : null; }
  function version() { var d = detail(); return d ? d.dataset.version : ""; }

  // A partial request that meets a server fault (5xx, not swapped: see htmx-config in base.html), a refusal
  // that is not a part of this page (below) or no server at all would otherwise change nothing on screen (or
  // put a whole error page where a row was): say so, and what to do. The next answered request hides it.
  function requestError(text) {
    var el = document.getElementById("request-error");
    if (!el) {
      if (!text) return;
      // Made on first use: the page has no empty alert for assistive technology (or tests) to find.
      el = document.createElement("div");
      el.id = "request-error";
      el.className = "banner error request-error";
      el.setAttribute("role", "alert");
      (document.querySelector(".toasts") || document.body).appendChild(el);
    }
    el.textContent = text;
    el.hidden = !text;
  }
  // A 4xx answer is swapped in when it is a part of this page: a form with its error (400) or the fresh
  // view after a version conflict (409). Any other (a 403 for a viewer whose role was taken away, a 404,
  // a 405, a body too large) and any whole error page is a refusal: the page stays as it was, and the
  // request-error notice says what the error page says.
  function partOfPage(xhr) {
    return (xhr.status === 400 || xhr.status === 409) && !/^\s*<!doctype/i.test(xhr.responseText || "");
  }
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var xhr = ev.detail.xhr;
    if (!xhr || xhr.status < 400 || xhr.status >= 500 || partOfPage(xhr)) return;
    ev.detail.shouldSwap = false;
    ev.detail.isError = true; // htmx then fires htmx:responseError, below
  });
  function refusal(xhr) {
    var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var box = page.querySelector("main [role=alert]");
    var words = [];
    if (box) {
      box.querySelectorAll("p").forEach(function (p) {
        if (!p.querySelector("a")) words.push(p.textContent.trim());
      });
      // A 403's reason (the view's PermissionDenied message, shown muted on the page) says it best.
      var reason = box.querySelector("p.muted");
      if (xhr.status === 403 && reason) words = [reason.textContent.trim()];
    }
    var title = box && box.querySelector("h1") ? box.querySelector("h1").textContent.trim() : "Refused";
    var text = title + " (" + xhr.status + "): " + (words.join(" ") || "the server refused this request.");
    return /Nothing was changed/.test(text) ? text : text + " Nothing was changed.";
  }
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    var wait = xhr.getResponseHeader("Retry-After");
    if (xhr.status < 500) { requestError(refusal(xhr)); return; }
    requestError(xhr.status === 503
      ? "The database cannot be reached right now; nothing was changed. Try again " +
        (wait ? "in " + wait + " s." : "shortly.")
      : "The server failed on this request (" + xhr.status + "). Reload the page to see what is stored now.");
  });
  document.addEventListener("htmx:sendError", function () {
    requestError("The server could not be reached; nothing was sent. Check the connection and try again.");
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    if (ev.detail.successful) requestError("");
  });

  // ------------------------------------------------------------ notices after a write
  // A write's notice ("Message #3 removed · saved as v41 · Undo", sessions_app/notices.py) shows for
  // NOTICE_MS, never fades while the pointer is on it or focus is in it (NOTICE_AGAIN_MS more once they
  // leave), and "×" (or Esc inside it) dismisses it at once.
  var NOTICE_MS = 10000, NOTICE_AGAIN_MS = 5000, FADE_MS = 400;
  function noticeRegion() { return document.getElementById("notices"); }
  function heldNotice(n) { return n.matches(":hover") || n.contains(document.activeElement); }
  function armNotice(n, ms) {
    clearTimeout(n._fade);
    n._fade = setTimeout(function () { if (!heldNotice(n)) dismissNotice(n, true); }, ms);
  }
  function watchNotice(n) {
    if (n._watched) return;
    n._watched = true;
    var hold = function () { clearTimeout(n._fade); };
    n.addEventListener("mouseenter", hold);
    n.addEventListener("focusin", hold);
    n.addEventListener("mouseleave", function () { if (!heldNotice(n)) armNotice(n, NOTICE_AGAIN_MS); });
    n.addEventListener("focusout", function (ev) {
      if (!n.contains(ev.relatedTarget) && !n.matches(":hover")) armNotice(n, NOTICE_AGAIN_MS);
    });
    armNotice(n, NOTICE_MS);
  }
  function dismissNotice(n, fade) {
    clearTimeout(n._fade);
    if (n.contains(document.activeElement)) {
      // Focus goes back to the message the write landed on, not to the top of the page.
      var back = document.querySelector("li.msg.landed");
      if (back) back.focus({ preventScroll: true }); else document.activeElement.blur();
    }
    if (!fade || window.matchMedia("(prefers-reduced-motion: reduce)").matches) { n.remove(); return; }
    n.classList.add("fading");
    setTimeout(function () { n.remove(); }, FADE_MS);
  }
  function watchNotices() {
    var region = noticeRegion();
    if (region) region.querySelectorAll(".notice").forEach(watchNotice);
  }
  // An htmx write swaps its notice into the region (out of band) and then fires zyn:saved.
  document.addEventListener("zyn:saved", watchNotices);
  document.addEventListener("click", function (ev) {
    var x = ev.target.closest && ev.target.closest("#notices [data-dismiss]");
    if (!x) return;
    ev.preventDefault(); // without JavaScript it is a link to this page, which shows the notice no more
    dismissNotice(x.closest(".notice"), false);
  });
  (function announceLoaded() {
    // Notices in the page as it loaded (after a redirect) are put into the region again a moment later:
    // screen readers announce what is added to a live region, not what it held when the page loaded.
    var region = noticeRegion();
    var present = region ? Array.prototype.slice.call(region.children) : [];
    if (!present.length) return;
    region.replaceChildren();
    setTimeout(function () {
      present.forEach(function (n) { region.appendChild(n); });
      watchNotices();
    }, 100);
  })();

  // Row links (Edit, + above, + below, Remove) swap just their row; the href is the no-JS fallback.
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("a[data-mode]");
    if (!link || !window.htmx || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
    var row = rowOf(link);
    if (!row) return;
    ev.preventDefault();
    openRow(row, link.dataset.mode);
  });

  function openRow(row, mode) {
    var index = row.dataset.index;
    htmx.ajax("GET", "messages/" + index + "/?mode=" + encodeURIComponent(mode) + "&v=" + row.dataset.version,
      { target: "#" + row.id, swap: "outerHTML", source: row });
  }

  // After a swap, bring the message the server marked (data-focus) into view, focus it and mark it
  // (.landed) until another lands. A page opened at a message (?at=, "Last") shows it mid-window; a
  // swap moves the page as little as it can: a moved message appears where it was dropped.
  var landingTop = null; // where in the window the next marked row should appear (px), if known
  document.addEventListener("htmx:afterSettle", function () { focusMarked("nearest"); landingTop = null; });
  document.addEventListener("DOMContentLoaded", function () {
    if (!location.hash) focusMarked("center");
    var d = detail();
    if (d && location.hash.indexOf("#message-") === 0) {
      var el = document.querySelector(location.hash);
      if (el) { el.focus({ preventScroll: true }); land(el); }
    }
  });
  function land(el) {
    document.querySelectorAll("li.msg.landed").forEach(function (r) { r.classList.remove("landed"); });
    el.classList.add("landed");
  }
  function focusMarked(block) {
    var el = document.querySelector("[data-focus]");
    if (!el) return;
    el.removeAttribute("data-focus");
    var field = el.querySelector("textarea, button.danger, input[type=number]");
    (field || el).focus({ preventScroll: true });
    land(el);
    if (landingTop !== null) {
      window.scrollBy(0, el.getBoundingClientRect().top - landingTop);
      landingTop = null;
    }
    el.scrollIntoView({ block: block });
  }

  // A truncate/prune preview ends with its confirm button: bring that into view (in the tools column,
  // which scrolls on its own at two columns), without focusing it, so Enter never confirms by accident.
  document.addEventListener("htmx:afterSettle", function (ev) {
    var preview = ev.target.id === "bulk-preview" ? ev.target : null;
    if (!preview) return;
    var last = preview.querySelector("form, .error, .muted") || preview;
    last.scrollIntoView({ block: "nearest" });
  });

  // ------------------------------------------------------------ drag and drop
  var dragFrom = null;
  document.addEventListener("dragstart", function (ev) {
    var row = rowOf(ev.target);
    if (!row || row.getAttribute("draggable") !== "true") return;
    dragFrom = row;
    row.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", row.dataset.index);
  });
  document.addEventListener("dragend", function () {
    if (dragFrom) dragFrom.classList.remove("dragging");
    clearDrop();
    dragFrom = null;
  });
  function clearDrop() {
    document.querySelectorAll(".drop-above, .drop-below").forEach(function (el) {
      el.classList.remove("drop-above", "drop-below");
    });
  }
  function dropSide(row, ev) {
    var box = row.getBoundingClientRect();
    return ev.clientY < box.top + box.height / 2 ? "above" : "below";
  }
  document.addEventListener("dragover", function (ev) {
    var row = rowOf(ev.target);
    if (!dragFrom || !row || row === dragFrom) return;
    ev.preventDefault();
    clearDrop();
    row.classList.add(dropSide(row, ev) === "above" ? "drop-above" : "drop-below");
  });
  document.addEventListener("drop", function (ev) {
    var row = rowOf(ev.target);
    if (!dragFrom || !row) return;
    ev.preventDefault();
    var from = parseInt(dragFrom.dataset.index, 10), target = parseInt(row.dataset.index, 10);
    var side = dropSide(row, ev);
    // The index the message ends up at, once it has left its old place.
    var to = from < target ? (side === "above" ? target - 1 : target) : (side === "above" ? target : target + 1);
    clearDrop();
    if (to === from || isNaN(to)) return;
    landingTop = row.getBoundingClientRect().top;
    move(dragFrom, to);
  });
  function move(row, to) {
    htmx.ajax("POST", "messages/" + row.dataset.index + "/move/", {
      target: "#session-detail", swap: "outerHTML", source: row,
      values: { to_index: to, expected_version: row.dataset.version },
      headers: { "X-CSRFToken": csrf() }
    });
  }

  // ------------------------------------------------------------ keyboard shortcuts
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("li.msg")); }
  function current() { return rowOf(document.activeElement); }
  function step(delta) {
    var all = rows(), cur = current(), i = cur ? all.indexOf(cur) : -1;
    var next = all[Math.max(0, Math.min(all.length - 1, i + delta))];
    if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
  }
  function clickKey(selector) { var el = document.querySelector(selector); if (el) el.click(); }

  document.addEventListener("keydown", function (ev) {
    var dialog = document.getElementById("shortcuts");
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && typing(ev.target) && ev.target.form) {
      ev.preventDefault();
      ev.target.form.requestSubmit();
      return;
    }
    if (ev.key === "Escape") {
      var notice = ev.target.closest && ev.target.closest("#notices .notice");
      if (notice) { ev.preventDefault(); dismissNotice(notice, false); return; }
      var open = current();
      var cancel = open && open.querySelector("form a[hx-get]");
      if (cancel) { ev.preventDefault(); cancel.click(); }
      return;
    }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey) return;
    var row = current();
    if (ev.altKey) {
      if (row && (ev.key === "ArrowUp" || ev.key === "ArrowDown")) {
        var btn = row.querySelector(ev.key === "ArrowUp" ? "button[aria-label$=' up']" : "button[aria-label$=' down']");
        if (btn) { ev.preventDefault(); btn.click(); }
      }
      return;
    }
    var search = document.getElementById("q");
    switch (ev.key) {
      case "?": if (dialog) { ev.preventDefault(); dialog.showModal(); } break;
      case "/": if (search) { ev.preventDefault(); search.focus(); search.select(); } break;
      case "j": if (detail()) { ev.preventDefault(); step(1); } break;
      case "k": if (detail()) { ev.preventDefault(); step(-1); } break;
      case "g": { var jump = document.getElementById("jump-at"); if (jump) { ev.preventDefault(); jump.focus(); } break; }
      case "n": clickKey("[data-key=next-page]"); break;
      case "p": clickKey("[data-key=prev-page]"); break;
      case "a": { var area = document.getElementById("append-content"); if (area) { ev.preventDefault(); area.focus(); } break; }
      case "e": if (row && row.querySelector("a[data-mode=edit]")) { ev.preventDefault(); openRow(row, "edit"); } break;
      case "o": if (row && row.querySelector("a[data-mode]")) { ev.preventDefault(); openRow(row, "insert-below"); } break;
      case "O": if (row && row.querySelector("a[data-mode]")) { ev.preventDefault(); openRow(row, "insert-above"); } break;
      case "x": case "Delete": if (row && row.querySelector("a[data-mode=remove]")) { ev.preventDefault(); openRow(row, "remove"); } break;
    }
  });
  document.addEventListener("click", function (ev) {
    var opener = ev.target.closest && ev.target.closest("[data-shortcuts]");
    var dialog = document.getElementById("shortcuts");
    if (opener && dialog) dialog.showModal();
  });
})();
