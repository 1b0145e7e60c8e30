/* The import page (templates/sessions_app/import.html): the upload's progress in its <progress>, a file
   over the limit refused before it is sent, and a stale preview cleared when another file is chosen.
   Without JavaScript the form posts as a plain multipart form and the page comes back with the preview. */
(function () {
  "use strict";

  function form() { return document.getElementById("import-form"); }
  function bar() { return document.getElementById("import-progress"); }
  function say(text) { var el = document.getElementById("import-progress-text"); if (el) el.textContent = text; }
  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }
  function chosen() {
    var input = document.getElementById("import-file");
    return input && input.files && input.files[0] ? input.files[0] : null;
  }

  // htmx sends both the upload's and the download's progress as htmx:xhr:progress: only the events
  // before the upload is complete are the upload's. Then the server reads (and writes) the file.
  var phase = "";
  var importing = false;

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var f = form();
    if (!f || ev.detail.elt !== f) return;
    var file = chosen();
    var limit = parseInt(f.dataset.maxBytes, 10);
    // The whole post must fit the limit: the file plus a little for the other fields.
    if (file && limit && file.size + 16384 > limit) {
      ev.preventDefault();
      say("This file is " + size(file.size) + "; the dashboard accepts files up to " + size(limit) +
        ". Nothing was sent: use manage.py import_sessions or the API for it.");
      return;
    }
    var submitter = ev.detail.requestConfig && ev.detail.requestConfig.triggeringEvent &&
      ev.detail.requestConfig.triggeringEvent.submitter;
    importing = !!(submitter && submitter.value && submitter.value.indexOf("import") === 0);
    phase = "upload";
    var b = bar();
    if (b) { b.max = 100; b.value = 0; }
    say("Uploading" + (file ? " " + size(file.size) : "") + "…");
  });

  document.addEventListener("htmx:xhr:progress", function (ev) {
    var f = form();
    if (!f || ev.target !== f || phase !== "upload") return;
    var d = ev.detail, b = bar();
    if (!b || !d.lengthComputable || !d.total) return;
    b.value = Math.round((d.loaded / d.total) * 100);
    if (d.loaded >= d.total) {
      phase = "server";
      b.removeAttribute("value"); // indeterminate: the server is reading the file now
      say(importing ? "Uploaded; importing…" : "Uploaded; checking every line…");
    } else {
      say("Uploading " + size(d.loaded) + " of " + size(d.total) + "…");
    }
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    var f = form();
    if (!f || ev.detail.elt !== f) return;
    var b = bar(), file = chosen(), xhr = ev.detail.xhr;
    phase = "";
    if (b) { b.max = 100; b.value = ev.detail.failed && !xhr.status ? 0 : 100; }
    if (!xhr || !xhr.status) { say("The upload did not reach the server; nothing was imported."); return; }
    if (xhr.status === 201) { say("Imported."); f.reset(); return; }
    say("Sent" + (file ? " " + size(file.size) : "") + (xhr.status < 300 ? ": see the preview below." : ": see below."));
  });

  document.addEventListener("change", function (ev) {
    if (!ev.target || ev.target.id !== "import-file") return;
    var preview = document.getElementById("import-preview");
    if (preview) preview.textContent = ""; // it described the file chosen before
    var b = bar(); if (b) b.value = 0;
    var file = chosen();
    say(file ? size(file.size) + " chosen: press Preview." : "Choose a file to see what it holds.");
  });
})();
