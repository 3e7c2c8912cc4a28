// gptstore's own progressive enhancement: streamed chat answers. Pages work without it.
// A form marked `data-stream-chat` is posted with `Accept: text/event-stream`; the answer's `delta`
// events are appended as text (never as HTML), `tool_call.started` / `tool_call.ended` show a status line per
// call, `done` carries the stored message, `error` a problem.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function addMessage(list, role, text) {
    var item = document.createElement("li");
    item.className = "message " + role;
    var body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    item.appendChild(body);
    list.appendChild(item);
    return body;
  }

  function addCitations(item, citations) {
    if (!citations.length) return;
    var list = document.createElement("ul");
    list.className = "citations";
    list.setAttribute("aria-label", "Sources");
    citations.forEach(function (c) {
      var entry = document.createElement("li");
      var text = c.filename + (c.page ? ", page " + c.page : "") + (c.heading ? ", " + c.heading : "");
      entry.textContent = text + (c.quote ? ": \u201c" + c.quote + "\u201d" : "");
      list.appendChild(entry);
    });
    item.appendChild(list);
  }

  // One status line per tool call: "name on domain: running", then its status and duration.
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

  function parseEvents(buffer, onEvent) {
    var events = buffer.split(/\r?\n\r?\n/);
    var rest = events.pop();
    events.forEach(function (block) {
      var name = "message";
      var data = [];
      block.split(/\r?\n/).forEach(function (line) {
        if (line.indexOf("event:") === 0) name = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
      });
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    });
    return rest;
  }

  async function send(form, event) {
    var list = document.getElementById("messages");
    if (!list || !window.fetch || !window.ReadableStream) return;
    event.preventDefault();
    var data = new FormData(form);
    var content = String(data.get("content") || "").trim();
    if (!content) return;
    var buttons = document.querySelectorAll("form[data-stream-chat] button");
    buttons.forEach(function (b) { b.disabled = true; });
    var starters = document.getElementById("starters");
    if (starters) starters.remove();
    addMessage(list, "user", content);
    var answer = addMessage(list, "assistant", "");
    answer.parentNode.setAttribute("aria-busy", "true");
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(data),
        headers: { "Accept": "text/event-stream", "X-CSRF-Token": csrfToken() },
        credentials: "same-origin",
      });
      var type = response.headers.get("content-type") || "";
      if (!response.ok || type.indexOf("text/event-stream") !== 0) {
        var problem = {};
        try { problem = await response.json(); } catch (e) { /* not JSON */ }
        throw new Error(problem.detail || "The message could not be sent (" + response.status + ").");
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer = parseEvents(buffer + decoder.decode(chunk.value, { stream: true }), function (name, payload) {
          if (name === "delta") answer.textContent += payload.text;
          else if (name === "tool_call.started" || name === "tool_call.ended") showCall(answer.parentNode, payload);
          else if (name === "done") {
            answer.textContent = payload.message.content;
            addCitations(answer.parentNode, payload.message.citations || []);
            // The page renders the Approve and Decline buttons of a call waiting for the user.
            if (payload.message.status === "requires_approval") window.location.reload();
          }
          else if (name === "error") throw new Error(payload.detail);
        });
      }
      var textarea = form.querySelector("textarea");
      if (textarea) textarea.value = "";
    } catch (error) {
      answer.textContent = error.message;
      answer.parentNode.classList.add("error-message");
    } finally {
      answer.parentNode.removeAttribute("aria-busy");
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  // "Copy link" buttons are hidden without JavaScript (the address bar has the link).
  document.querySelectorAll("[data-copy-link]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(window.location.href.split("?")[0]).then(function () {
        button.textContent = "Link copied";
      });
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-stream-chat")) send(form, event);
  });
})();
