// The embedded chat window (/embed/{gpt_id}), inside a frame on another website. It sends the visitor's
// questions with the session token from <meta name="embed-token"> (no cookies: a framed page gets none)
// and appends the streamed answer as text, never as HTML. docs/embed.md.
(function () {
  "use strict";

  var tokenMeta = document.querySelector('meta[name="embed-token"]');
  var token = tokenMeta ? tokenMeta.content : "";
  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  if (!form || !list || !token) return;
  var textarea = form.querySelector("textarea");

  function addMessage(role, text) {
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

  function addCitations(item, citations) {
    if (!citations.length) return;
    var sources = document.createElement("ul");
    sources.className = "citations";
    sources.setAttribute("aria-label", "Sources");
    citations.forEach(function (c) {
      var entry = document.createElement("li");
      var text = c.filename + (c.page ? ", page " + c.page : "") + (c.heading ? ", " + c.heading : "");
      entry.textContent = text + (c.quote ? ": \u201c" + c.quote + "\u201d" : "");
      sources.appendChild(entry);
    });
    item.appendChild(sources);
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

  async function ask(content) {
    content = content.trim();
    if (!content) return;
    var buttons = document.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    var starters = document.getElementById("starters");
    if (starters) starters.remove();
    addMessage("user", content);
    var answer = addMessage("assistant", "");
    answer.parentNode.setAttribute("aria-busy", "true");
    try {
      var response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: JSON.stringify({ content: content }),
        headers: {
          "Accept": "text/event-stream",
          "Content-Type": "application/json",
          "Authorization": "Bearer " + token,
        },
        credentials: "omit",
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
          if (name === "delta") {
            answer.textContent += payload.text;
            list.scrollTop = list.scrollHeight;
          }
          else if (name === "done") {
            answer.textContent = payload.content;
            addCitations(answer.parentNode, payload.citations || []);
            list.scrollTop = list.scrollHeight;
          }
          else if (name === "error") throw new Error(payload.detail);
        });
      }
      textarea.value = "";
    } catch (error) {
      answer.textContent = error.message;
      answer.parentNode.classList.add("error-message");
      answer.parentNode.setAttribute("role", "alert");
    } finally {
      answer.parentNode.removeAttribute("aria-busy");
      buttons.forEach(function (b) { b.disabled = false; });
      textarea.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask(textarea.value);
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask(textarea.value);
    }
  });
  document.querySelectorAll("[data-starter]").forEach(function (button) {
    button.addEventListener("click", function () { ask(button.textContent); });
  });
  // The launcher on the host page (embed.js) asks the window to take the focus when it opens.
  window.addEventListener("message", function (event) {
    if (event.data === "gptstore:focus") textarea.focus();
  });
})();
