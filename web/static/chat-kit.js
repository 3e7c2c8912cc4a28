// What the chat page (app.js), the builder (builder.js) and the embedded window (embed-frame.js) share:
// reading Server-Sent Events from a fetch response (EventSource only does GET), and drawing messages,
// citations and tool call lines as text, never as HTML.
window.gptstoreChat = (function () {
  "use strict";

  // A message `li` of `role` appended to `list`; its text element, which the caller fills as text arrives.
  function addMessage(list, role, text) {
    var item = document.createElement("li");
    item.className = "message " + role;
    var body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    item.appendChild(body);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    return body;
  }

  // "file, page N, heading (from dataset by owner, license): “quote”" per citation (the quote only for
  // open files; the dataset only for one other than the GPT's own; else an open file's own license).
  // An open dataset's name links to the cited file's row on its public page (as chat.html renders it).
  function addDataset(entry, d, fileId, license) {
    if (!d) {
      if (license) entry.appendChild(document.createTextNode(" (" + license + ")"));
      return;
    }
    entry.appendChild(document.createTextNode(" (from "));
    if (d.url) {
      var link = document.createElement("a");
      link.href = d.url + "#file-" + fileId;
      link.textContent = d.name;
      if (window.self !== window.top) { link.target = "_blank"; link.rel = "noopener"; } // an embedded chat
      entry.appendChild(link);
    } else {
      entry.appendChild(document.createTextNode(d.name));
    }
    entry.appendChild(document.createTextNode(
      (d.owner ? " by " + d.owner.name : "") + (d.license ? ", " + d.license : "") + ")"));
  }

  function addCitations(item, citations) {
    if (!citations.length) return;
    var list = document.createElement("ul");
    list.className = "citations";
    list.setAttribute("aria-label", "Sources");
    citations.forEach(function (c) {
      var entry = document.createElement("li");
      entry.textContent = c.filename + (c.page ? ", page " + c.page : "") + (c.heading ? ", " + c.heading : "");
      addDataset(entry, c.dataset, c.file_id, c.license);
      if (c.quote) entry.appendChild(document.createTextNode(": \u201c" + c.quote + "\u201d"));
      list.appendChild(entry);
    });
    item.appendChild(list);
  }

  // One status line per tool call (`tool_call.started`, then `tool_call.ended` with status and duration).
  function showCall(item, call) {
    var list = item.querySelector("ul.tool-calls");
    if (!list) {
      list = document.createElement("ul");
      list.className = "tool-calls";
      list.setAttribute("aria-label", "Tool calls");
      item.insertBefore(list, item.firstChild.nextSibling);
    }
    var line = list.querySelector('[data-call-id="' + CSS.escape(call.call_id) + '"]');
    if (!line) {
      line = document.createElement("li");
      line.setAttribute("data-call-id", call.call_id);
      list.appendChild(line);
    }
    var status = call.status ? call.status + " (" + call.duration_ms + " ms)" : "running\u2026";
    line.className = "tool-call " + (call.status || "in_progress");
    line.textContent = call.name + " on " + call.domain + ": " + status;
  }

  // What a refused request's problem+json says: its detail and each field's message.
  async function problemOf(response) {
    try {
      var problem = await response.json();
      var detail = problem.detail || "Refused";
      // a field's message that the detail already says is not repeated ("The file is empty: The file is empty")
      var fields = (problem.errors || []).map(function (e) { return e.message; })
        .filter(function (m) { return m && detail.indexOf(m) === -1; });
      return detail + (fields.length ? ": " + fields.join("; ") : "");
    } catch (e) {
      return "The request failed (" + response.status + ").";
    }
  }

  // Calls `onEvent(name, data)` for each event of an SSE response; throws the problem of a refusal.
  async function readEvents(response, onEvent) {
    var type = response.headers.get("content-type") || "";
    if (!response.ok || type.indexOf("text/event-stream") !== 0) {
      throw new Error(await problemOf(response));
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      blocks.forEach(function (block) {
        var name = "message";
        var data = [];
        block.split(/\r?\n/).forEach(function (line) {
          if (line.indexOf("event:") === 0) name = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      });
    }
  }

  // Enter sends, Shift+Enter is a new line, as in chat apps: in a textarea of a form `isChat(form)` accepts.
  // A key pressed while an input method composes (Japanese, Chinese, ...) confirms the text, never sends.
  function enterSends(isChat) {
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      if (!(target instanceof HTMLTextAreaElement) || !target.form || !isChat(target.form)) return;
      event.preventDefault();
      var busy = target.form.querySelector('button[type="submit"]:disabled');
      if (!busy) target.form.requestSubmit();
    });
  }

  // After an answer (or its failure), the caret goes back to where the next message is written, unless the
  // user has moved on (the focus is somewhere else than the page's body or the control that sent).
  function refocus(textarea, sender) {
    if (!textarea || textarea.disabled || !textarea.isConnected) return;
    var active = document.activeElement;
    if (active && active !== document.body && active !== sender && !active.disabled && active !== textarea) return;
    textarea.focus();
  }

  return { addMessage: addMessage, addCitations: addCitations, showCall: showCall, problemOf: problemOf,
           readEvents: readEvents, enterSends: enterSends, refocus: refocus };
})();
