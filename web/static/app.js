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

  var kit = window.gptstoreChat;

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
    kit.addMessage(list, "user", content);
    var answer = kit.addMessage(list, "assistant", "");
    answer.parentNode.setAttribute("aria-busy", "true");
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(data),
        headers: { "Accept": "text/event-stream", "X-CSRF-Token": csrfToken() },
        credentials: "same-origin",
      });
      await kit.readEvents(response, function (name, payload) {
        if (name === "delta") answer.textContent += payload.text;
        else if (name === "tool_call.started" || name === "tool_call.ended") kit.showCall(answer.parentNode, payload);
        else if (name === "done") {
          answer.textContent = payload.message.content;
          kit.addCitations(answer.parentNode, payload.message.citations || []);
          // The page renders the Approve and Decline buttons of a call waiting for the user.
          if (payload.message.status === "requires_approval") window.location.reload();
        }
        else if (name === "error") throw new Error(payload.detail);
      });
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

  // "Copy link" buttons of a link shown on the page (an invitation), hidden without JavaScript.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
        button.textContent = "Link copied";
      });
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-stream-chat")) send(form, event);
  });
})();
