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

  var kit = window.gptstoreChat;

  function addMessage(role, text) {
    return kit.addMessage(list, role, text);
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
      await kit.readEvents(response, function (name, payload) {
        if (name === "delta") {
          answer.textContent += payload.text;
          list.scrollTop = list.scrollHeight;
        }
        else if (name === "tool_call.started" || name === "tool_call.ended") kit.showCall(answer.parentNode, payload);
        else if (name === "done") {
          answer.textContent = payload.content;
          kit.addCitations(answer.parentNode, payload.citations || []);
          list.scrollTop = list.scrollHeight;
        }
        else if (name === "error") throw new Error(payload.detail);
      });
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
  // Escape inside the window closes it too: the launcher hears this (from this frame only) and takes the
  // focus back. The message says nothing but that, so any parent may hear it.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && window.parent !== window) window.parent.postMessage("gptstore:close", "*");
  });
})();
