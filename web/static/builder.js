// The builder editor's progressive enhancement (docs/web.md). Every part works without it as links and
// plain form posts; with it: tabs switch in place (arrow keys too), the builder chat and the preview
// stream their answers, files are dropped or chosen many at once and followed live through one SSE
// stream, starters are added, removed and reordered, and Publish opens as a dialog.
// All text from the server is set as text (never as HTML); markup only comes from our own pages.
(function () {
  "use strict";

  var root = document.querySelector(".builder[data-gpt-id]");
  var gptId = root ? root.getAttribute("data-gpt-id") : null;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  var kit = window.gptstoreChat;
  var problemOf = kit.problemOf;

  // Server-Sent Events over a POST (EventSource only does GET): parse `event:`/`data:` blocks.
  async function postStream(form, onEvent) {
    var response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "Accept": "text/event-stream", "X-CSRF-Token": csrfToken() },
      credentials: "same-origin",
    });
    await kit.readEvents(response, onEvent);
  }

  function addMessage(list, role, text) {
    var item = el("li", "message " + role);
    var body = el("div", "text", text);
    item.appendChild(body);
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    return body;
  }

  // Tabs -----------------------------------------------------------------------------------------------

  var tabs = Array.prototype.slice.call(document.querySelectorAll('.builder-tabs [role="tab"]'));

  function selectTab(tab, focus) {
    tabs.forEach(function (t) {
      var selected = t === tab;
      t.setAttribute("aria-selected", selected ? "true" : "false");
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    });
    var name = tab.id.replace("tab-", "");
    var url = new URL(window.location.href);
    url.searchParams.set("tab", name);
    url.searchParams.delete("done");
    history.replaceState(null, "", url.pathname + url.search);
    var hidden = document.querySelector('#preview-form input[name="tab"]');
    if (hidden) hidden.value = name;
    if (focus) tab.focus();
  }

  tabs.forEach(function (tab, index) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      selectTab(tab, true);
    });
    tab.addEventListener("keydown", function (event) {
      var next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  });

  // The builder chat (Create) ---------------------------------------------------------------------------

  // Configure edits not saved yet: a builder turn must not replace them with the server's draft (they
  // were lost without a word). Marked at the first edit, or by the server on a refused save, whose form
  // shows what was typed.
  function markConfigureEdited(event) {
    var form = event.target.closest ? event.target.closest("#configure-form") : null;
    if (form) form.setAttribute("data-unsaved", "");
  }
  document.addEventListener("input", markConfigureEdited);
  document.addEventListener("change", markConfigureEdited);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-starter-action], #add-starter")) markConfigureEdited(event);
  });

  function configureEdited() {
    var form = document.getElementById("configure-form");
    return !!form && form.hasAttribute("data-unsaved");
  }

  // Said at the top of Configure when a builder turn left its unsaved edits in place: its save is then
  // refused as made on an older draft (409), with the edits kept, as a save from another tab is.
  function sayConfigureKept() {
    var form = document.getElementById("configure-form");
    if (!form || document.getElementById("configure-kept")) return;
    var note = el("p", "notice",
      "The builder changed the draft; your unsaved edits here are kept as you typed them. " +
      "Reload the page to see the builder's changes (your edits will be lost), or save to be asked.");
    note.id = "configure-kept";
    note.setAttribute("role", "status");
    form.parentNode.insertBefore(note, form);
  }

  async function refreshFromServer() {
    // The draft changed: take Configure, the chat history (with its Undo), the preview's name and,
    // while no preview chat has begun, its welcome message and starters from a fresh rendering of this
    // page (which has no preview chat), so the page shows exactly what the server has.
    var response = await fetch(window.location.pathname + "?tab=create", { credentials: "same-origin" });
    if (!response.ok) return;
    var fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    var keepConfigure = configureEdited();
    var ids = ["builder-messages", "builder-title", "preview-label"];
    if (!keepConfigure) ids.push("panel-configure");
    var conversation = document.querySelector('#preview-form input[name="conversation_id"]');
    var previewBegun = (conversation && conversation.value) ||
      document.querySelector("#preview-messages .message.user");
    if (!previewBegun) ids.push("preview-messages");
    ids.forEach(function (id) {
      var mine = document.getElementById(id);
      var theirs = fresh.getElementById(id);
      if (mine && theirs) mine.replaceChildren.apply(mine, Array.prototype.slice.call(theirs.childNodes));
    });
    var starters = document.getElementById("preview-starters");
    var freshStarters = fresh.getElementById("preview-starters");
    if (starters && freshStarters && !previewBegun) {
      starters.replaceWith(freshStarters);
      setUpStarterButtons(); // the new buttons only: the old ones went with the old list
    }
    var list = document.getElementById("builder-messages");
    if (list) list.scrollTop = list.scrollHeight; // the turn just answered, not the top of the history
    if (keepConfigure) sayConfigureKept();
    else setUpStarters();
  }

  async function sendBuilderMessage(form) {
    var list = document.getElementById("builder-messages");
    var textarea = form.querySelector("textarea");
    var content = textarea.value.trim();
    if (!content) return;
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    addMessage(list, "user", content);
    var answer = addMessage(list, "assistant", "");
    var item = answer.parentNode;
    item.setAttribute("aria-busy", "true");
    var changes = el("ul", "changes-live");
    changes.setAttribute("aria-label", "Changes");
    item.appendChild(changes);
    try {
      await postStream(form, function (name, payload) {
        if (name === "delta") answer.textContent += payload.text;
        else if (name === "change") changes.appendChild(el("li", null, "Changed " + (payload.label || payload.field)));
        else if (name === "error") throw new Error(payload.detail);
        else if (name === "done") answer.textContent = payload.message.content;
      });
      textarea.value = "";
      await refreshFromServer();
    } catch (error) {
      answer.textContent = error.message;
      item.classList.add("error-message");
    } finally {
      item.removeAttribute("aria-busy");
      button.disabled = false;
      // the refreshed page parts may have replaced the form: its textarea, as it is now
      kit.refocus(document.querySelector("form[data-builder-chat] textarea"), button);
    }
  }

  // The preview chat ----------------------------------------------------------------------------------

  // The line `builder/macros.html` shows under a citation of a dataset other than the GPT's own.
  function fromDataset(d) {
    return "From the dataset " + d.name + (d.owner ? " by " + d.owner.name : "") +
      (d.license ? ", " + d.license : "") + (d.attribution ? ": " + d.attribution : "");
  }

  // Where the cited file's row is, as `builder/macros.html` links it: the Knowledge tab for the GPT's own
  // files, an open dataset's public page, a private (so the GPT owner's own) dataset's page.
  function fileLink(c) {
    if (!c.dataset) {
      var own = el("a", null, "Show the file in Knowledge");
      own.href = "?tab=knowledge#file-" + c.file_id;
      own.setAttribute("data-file-link", c.file_id);
      return own;
    }
    var link = el("a", null, "Show the file in " + c.dataset.name);
    link.href = (c.dataset.url || "/creator/datasets/" + c.dataset.id) + "#file-" + c.file_id;
    return link;
  }

  function citationList(citations) {
    var list = el("ul", "citations");
    list.setAttribute("aria-label", "Sources");
    citations.forEach(function (c) {
      var details = el("details", "citation");
      var where = c.filename + (c.page ? ", page " + c.page : "") + (c.heading ? ", " + c.heading : "");
      details.appendChild(el("summary", null, where));
      if (c.dataset) details.appendChild(el("p", "muted", fromDataset(c.dataset))); // as the page renders it
      else if (c.license) details.appendChild(el("p", "muted", "License: " + c.license));
      if (c.quote) details.appendChild(el("blockquote", null, c.quote));
      else details.appendChild(el("p", "muted", "A private file: its text is not quoted."));
      details.appendChild(fileLink(c));
      var entry = el("li");
      entry.appendChild(details);
      list.appendChild(entry);
    });
    return list;
  }

  async function sendPreviewMessage(form) {
    var list = document.getElementById("preview-messages");
    var textarea = form.querySelector("textarea");
    var content = textarea.value.trim();
    if (!content) return;
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    var starters = document.getElementById("preview-starters");
    if (starters) starters.hidden = true;
    addMessage(list, "user", content);
    var answer = addMessage(list, "assistant", "");
    var item = answer.parentNode;
    item.setAttribute("aria-busy", "true");
    try {
      await postStream(form, function (name, payload) {
        if (name === "delta") answer.textContent += payload.text;
        else if (name === "error") throw new Error(payload.detail);
        else if (name === "tool_call.started" || name === "tool_call.ended") kit.showCall(item, payload);
        else if (name === "done") {
          answer.textContent = payload.message.content;
          form.querySelector('input[name="conversation_id"]').value = payload.conversation_id;
          if (payload.message.citations.length) item.appendChild(citationList(payload.message.citations));
          if (payload.message.status === "requires_approval") {
            // The Approve / Decline form is rendered by the server: show the conversation's page.
            var url = new URL(window.location.href);
            url.searchParams.set("c", payload.conversation_id);
            url.hash = "preview";
            window.location.assign(url.toString());
          }
        }
      });
      textarea.value = "";
    } catch (error) {
      answer.textContent = error.message;
      item.classList.add("error-message");
    } finally {
      item.removeAttribute("aria-busy");
      button.disabled = false;
      kit.refocus(textarea, button);
    }
  }

  function setUpStarterButtons() {
    document.querySelectorAll("#preview-starters [data-starter]").forEach(function (button) {
      button.addEventListener("click", function () {
        var form = document.getElementById("preview-form");
        form.querySelector("textarea").value = button.getAttribute("data-starter");
        sendPreviewMessage(form);
      });
    });
  }

  // A citation's file: open the Knowledge tab and move focus to the file.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-file-link]") : null;
    var knowledge = document.getElementById("tab-knowledge");
    if (!link || !knowledge) return;
    var row = document.getElementById("file-" + link.getAttribute("data-file-link"));
    if (!row) return;
    event.preventDefault();
    selectTab(knowledge, false);
    row.classList.add("highlight");
    row.focus();
  });

  // Conversation starters in Configure: add, remove, reorder ------------------------------------------

  function setUpStarters() {
    var list = document.getElementById("starters");
    var add = document.getElementById("add-starter");
    if (!list || !add) return;
    var max = Number(list.getAttribute("data-max")) || 4;
    var rows = Array.prototype.slice.call(list.children);
    // Blank rows are the no-script form's spare inputs; "Add a starter" replaces them.
    var template = rows[0].cloneNode(true);
    template.querySelector("input").value = "";
    rows.forEach(function (row) {
      if (!row.querySelector("input").value.trim()) row.remove();
    });
    if (!list.children.length) list.appendChild(template.cloneNode(true));

    function renumber() {
      Array.prototype.slice.call(list.children).forEach(function (row, i) {
        var n = i + 1;
        row.querySelector("label").textContent = "Conversation starter " + n;
        row.querySelector("label").htmlFor = "f-starter-" + n;
        row.querySelector("input").id = "f-starter-" + n;
        row.querySelectorAll("[data-starter-action]").forEach(function (b) {
          var action = b.getAttribute("data-starter-action");
          var words = { up: "Move starter " + n + " up", down: "Move starter " + n + " down", remove: "Remove starter " + n };
          b.setAttribute("aria-label", words[action]);
        });
        row.querySelector(".starter-actions").hidden = false;
      });
      add.hidden = list.children.length >= max;
    }

    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-starter-action]");
      if (!button) return;
      var row = button.closest("li");
      var action = button.getAttribute("data-starter-action");
      if (action === "up" && row.previousElementSibling) list.insertBefore(row, row.previousElementSibling);
      else if (action === "down" && row.nextElementSibling) list.insertBefore(row.nextElementSibling, row);
      else if (action === "remove") {
        if (list.children.length > 1) row.remove();
        else row.querySelector("input").value = "";
      }
      renumber();
      var again = row.isConnected ? row.querySelector('[data-starter-action="' + action + '"]') : add;
      (again || add).focus();
    });
    add.onclick = function () {
      var row = template.cloneNode(true);
      row.querySelector("input").value = "";
      list.appendChild(row);
      renumber();
      row.querySelector("input").focus();
    };
    renumber();
  }

  // Knowledge: many files, dropped or chosen, followed live ----------------------------------------------
  // A size as the page's template writes it (web/templates.py `kilobytes`).
  function sizeText(bytes) {
    if (bytes < 1024) return bytes + (bytes === 1 ? " byte" : " bytes");
    if (bytes < 10 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  var STATUS = { in_progress: "Processing", completed: "Ready", failed: "Failed", cancelled: "Cancelled" };

  function showFile(row, file) {
    row.setAttribute("data-status", file.status);
    var done = file.progress.chunks_done;
    var total = file.progress.chunks_total;
    var text = STATUS[file.status] || file.status;
    if (file.status === "in_progress" && total) text += " " + done + "/" + total;
    if (file.status === "completed") text += " · " + file.chunk_count + (file.chunk_count === 1 ? " passage" : " passages");
    row.querySelector("[data-status-text]").textContent = text;
    var bar = row.querySelector("progress");
    bar.hidden = file.status !== "in_progress";
    if (total) { bar.max = total; bar.value = done; } else bar.removeAttribute("value");
    row.querySelector("[data-file-error]").textContent = file.last_error ? file.last_error.message : "";
  }

  // Every file in progress on the page is followed through one stream (`.../files/events?ids=`): a
  // browser opens at most 6 connections to a host, so a stream per file would hold them all and every other
  // request of the page (Cancel, an upload, a delete) would wait for one to end. Events name their file by
  // id; a row added later reopens the stream with the new set (the old one closed first).
  var MAX_FOLLOWED = 100; // retrieval.schemas.MAX_FOLLOWED_FILES; more rows are followed in turns
  var stream = null; // { source: the EventSource, waiting: the ids it follows that are not final yet }

  function fileRow(id) { return document.getElementById("file-" + id); }

  function followFiles() {
    if (stream) stream.source.close();
    stream = null;
    var rows = Array.prototype.slice.call(document.querySelectorAll('#files li[data-file-id][data-status="in_progress"]'));
    if (!rows.length) return;
    var ids = rows.slice(0, MAX_FOLLOWED).map(function (row) { return row.getAttribute("data-file-id"); });
    var source = new EventSource(filesBase() + "/files/events?ids=" + ids.join(","));
    var current = stream = { source: source, waiting: new Set(ids) };
    function settle(id) {
      current.waiting.delete(id);
      if (current.waiting.size) return;
      source.close(); // the server ends the stream too: no reconnection, and the next rows get their turn
      if (stream === current) followFiles();
    }
    function update(event) {
      var file = JSON.parse(event.data);
      var row = fileRow(file.id);
      if (row) {
        var was = row.getAttribute("data-status");
        showFile(row, file);
        if (file.batch_id) countInBatch(file.batch_id, was, file.status);
      }
      return file.id;
    }
    source.addEventListener("progress", update);
    source.addEventListener("done", function (event) { settle(update(event)); });
    source.addEventListener("deleted", function (event) {
      var id = JSON.parse(event.data).id;
      var row = fileRow(id);
      if (row) row.remove();
      settle(id);
    });
    source.onerror = function () {
      // The stream ends after the last `done`; any other end is shown, and the page's reload shows the state.
      source.close();
      if (stream !== current) return;
      stream = null;
      current.waiting.forEach(function (id) {
        var row = fileRow(id);
        if (row && row.getAttribute("data-status") === "in_progress") {
          row.querySelector("[data-file-error]").textContent = "Lost the live status; reload the page to see it.";
        }
      });
    };
  }

  // A batch's row counts its files by status: a file of it that moves on (followed above) moves one count,
  // so the row is live without a stream of its own. Its status follows `retrieval.batches.batch_read`.
  var BATCH_STATUS = { in_progress: "Processing", completed: "Done", failed: "Failed", cancelled: "Cancelled" };

  function countInBatch(batchId, was, now) {
    var row = document.querySelector('li[data-batch-id="' + batchId + '"]');
    if (!row || was === now || !row.hasAttribute("data-" + was) || !row.hasAttribute("data-" + now)) return;
    function count(name) { return Number(row.getAttribute("data-" + name)); }
    row.setAttribute("data-" + was, count(was) - 1);
    row.setAttribute("data-" + now, count(now) + 1);
    var open = count("in_progress");
    var status = open ? "in_progress" : count("cancelled") ? "cancelled"
      : count("failed") === count("total") ? "failed" : "completed";
    row.setAttribute("data-status", status);
    row.querySelector("[data-batch-status]").textContent = BATCH_STATUS[status];
    var skipped = count("skipped");
    row.querySelector("[data-batch-counts]").textContent =
      count("completed") + " ready · " + open + " processing · " + count("failed") + " failed · " +
      count("cancelled") + " cancelled" + (skipped ? " · " + skipped + " skipped (empty or already here)" : "");
    var bar = row.querySelector("progress");
    bar.value = count("total") - open;
    bar.hidden = !open;
    var cancel = row.querySelector("form[data-batch-cancel]");
    if (cancel && !open) cancel.remove(); // nothing left to cancel
  }

  async function uploadOne(form, file) {
    var list = document.getElementById("files");
    var empty = list.querySelector(".empty");
    if (empty) empty.remove();
    var row = document.getElementById("file-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".file-name").textContent = file.name;
    row.querySelector("progress").setAttribute("aria-label", "Progress of " + file.name);
    list.appendChild(row);
    var body = new FormData();
    body.append("file", file, file.name);
    var access = form.querySelector('input[name="access"]:checked');
    if (access) body.append("access", access.value); // a dataset's page has none: files take its own
    var licenseInput = form.querySelector('input[name="license"]');
    var license = licenseInput ? licenseInput.value.trim() : "";
    if (license) body.append("license", license);
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: body,
        headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(await problemOf(response));
      var created = await response.json();
      row.id = "file-" + created.id;
      row.setAttribute("data-file-id", created.id);
      row.querySelector("[data-file-meta]").textContent =
        sizeText(created.bytes) + " · " + created.access + (created.license ? " · " + created.license : "");
      var del = row.querySelector("form[data-delete-file]");
      del.action = filesBase() + "/files/" + created.id + "/delete";
      del.querySelector("button").setAttribute("aria-label", "Delete " + created.filename);
      del.hidden = false;
      showFile(row, created);
      if (created.status === "in_progress") followFiles();
    } catch (error) {
      // No file behind the row: it gets no Delete form (one without an action posts to the page itself).
      var orphan = row.querySelector("form[data-delete-file]");
      if (orphan && !row.getAttribute("data-file-id")) orphan.remove();
      row.setAttribute("data-status", "failed");
      row.querySelector("[data-status-text]").textContent = "Not uploaded";
      row.querySelector("progress").hidden = true;
      row.querySelector("[data-file-error]").textContent = error.message;
    }
  }

  // An archive (zip or tar) is unpacked by the file batch route, sent as its `archive` part; as a plain
  // file it would fail as an unsupported format. Judged by name, as the chooser shows it.
  var ARCHIVE_NAME = /\.(zip|tar|tgz|tbz2?|txz|tar\.(gz|bz2|xz))$/i;

  function isArchive(file) { return ARCHIVE_NAME.test(file.name); }

  // Several files go as one file batch (POST /api/gpts/{id}/file_batches), and each archive as a batch
  // of its own (a batch holds one archive or files): one request each, one row of counts with a Cancel
  // button; the page shows them after the upload.
  async function uploadBatch(form, files) {
    var archives = files.filter(isArchive);
    var plain = files.filter(function (file) { return !isArchive(file); });
    var requests = archives.map(function (file) { return [["archive", file]]; });
    if (plain.length) requests.push(plain.map(function (file) { return ["file", file]; }));
    var access = form.querySelector('input[name="access"]:checked');
    var license = form.querySelector('input[name="license"]').value.trim();
    var hint = document.getElementById("h-file");
    hint.textContent = "Uploading " + files.length + (files.length === 1 ? " file" : " files") + " ...";
    var failures = [];
    for (var i = 0; i < requests.length; i++) {
      var body = new FormData();
      requests[i].forEach(function (part) { body.append(part[0], part[1], part[1].name); });
      body.append("access", access ? access.value : "private");
      if (license) body.append("license", license);
      try {
        var response = await fetch("/builder/" + gptId + "/file_batches", {
          method: "POST",
          body: body,
          headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(await problemOf(response));
      } catch (error) {
        var which = requests[i][0][0] === "archive" ? requests[i][0][1].name + ": " : "";
        failures.push(which + error.message);
      }
    }
    if (!failures.length) {
      window.location.href = "/builder/" + gptId + "?tab=knowledge&done=uploaded#batches";
      return;
    }
    // said aloud and shown as an error, not in the drop zone's small grey hint
    var kept = failures.length < requests.length ? " The other files were uploaded: reload the page to see them." : "";
    hint.textContent = "Not uploaded: " + failures.join("; ") + kept;
    hint.classList.remove("muted");
    hint.classList.add("error");
    hint.setAttribute("role", "alert");
  }

  async function uploadAll(form, files) {
    // A dataset's page has no page twin of the batch route (and no license input): its files go one by one.
    if (gptId && (files.length > 1 || files.some(isArchive))) await uploadBatch(form, files);
    else for (var i = 0; i < files.length; i++) await uploadOne(form, files[i]);
    form.querySelector('input[type="file"]').value = "";
  }

  // `/builder/{gpt}` in the editor, `/creator/datasets/{id}` on a dataset's page (the upload form says which).
  function filesBase() {
    var form = document.getElementById("upload-form");
    return form.getAttribute("data-files-base");
  }

  function setUpKnowledge() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var input = form.querySelector('input[type="file"]');
    var zone = document.getElementById("dropzone");
    input.addEventListener("change", function () { if (input.files.length) uploadAll(form, Array.prototype.slice.call(input.files)); });
    form.querySelector('button[type="submit"]').hidden = true; // choosing or dropping uploads at once
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) uploadAll(form, Array.prototype.slice.call(event.dataTransfer.files));
    });
    followFiles();
  }

  // Publish dialog ------------------------------------------------------------------------------------

  function setUpPublish() {
    var dialog = document.getElementById("publish-dialog");
    var open = document.getElementById("open-publish");
    if (!dialog || !open || !dialog.showModal) return;
    open.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
    });
    dialog.addEventListener("submit", async function (event) {
      var form = event.target;
      if (!form.hasAttribute("data-dialog-form")) return;
      event.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        var response = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          headers: { "Accept": "text/html", "X-CSRF-Token": csrfToken() },
          credentials: "same-origin",
        });
        var fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        var panel = fresh.getElementById("publish-panel");
        if (!panel) throw new Error("The publish failed (" + response.status + ").");
        document.getElementById("publish-panel").replaceWith(document.importNode(panel, true));
        if (response.ok) await refreshFromServer(); // publishing may set the draft's category
        var target = dialog.querySelector("#publish-result") || dialog.querySelector(".error") || dialog.querySelector("h2");
        if (target) { target.tabIndex = -1; target.focus(); }
      } catch (error) {
        button.disabled = false;
        var message = el("p", "error", error.message);
        message.setAttribute("role", "alert");
        form.appendChild(message);
      }
    });
  }

  // Wiring --------------------------------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !window.fetch || !window.ReadableStream) return;
    // A blank message is posted as a plain form: the editor comes back with the reason at its box.
    var box = form.querySelector("textarea");
    if (box && !box.value.trim()) return;
    if (form.hasAttribute("data-builder-chat")) { event.preventDefault(); sendBuilderMessage(form); }
    else if (form.hasAttribute("data-preview-chat")) { event.preventDefault(); sendPreviewMessage(form); }
  });

  // Enter sends, Shift+Enter is a new line (as in chat apps, IME composition respected); both chats.
  kit.enterSends(function (form) {
    return form.hasAttribute("data-builder-chat") || form.hasAttribute("data-preview-chat");
  });

  setUpStarters();
  setUpStarterButtons();
  setUpKnowledge();
  setUpPublish();

  // The chats open at their newest turn (and its Undo), not at the greeting; on a phone only the greeting
  // showed.
  ["builder-messages", "preview-messages"].forEach(function (id) {
    var list = document.getElementById(id);
    if (list) list.scrollTop = list.scrollHeight;
  });
})();
