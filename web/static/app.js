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

  // The chat's message box: the form's own, or (for a starter button's form) the page's composer.
  function composer(form) {
    return form.querySelector("textarea") || document.querySelector("form[data-stream-chat] textarea");
  }

  async function send(form, event) {
    var list = document.getElementById("messages");
    if (!list || !window.fetch || !window.ReadableStream) return;
    var sender = event.submitter || document.activeElement;
    var data = new FormData(form);
    var content = String(data.get("content") || "").trim();
    // A blank message is posted as a plain form: the page comes back with the reason at the message box.
    if (!content) return;
    event.preventDefault();
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
      kit.refocus(composer(form), sender);
    }
  }

  kit.enterSends(function (form) { return form.hasAttribute("data-stream-chat"); });

  // "More results" (and every "More" link loaded in place by htmx): the link is replaced by the next items,
  // so the focus goes to the first of them instead of falling back to the page's body.
  var loading = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var more = event.target.closest && event.target.closest(".more");
    if (more) loading = { parent: more.parentNode, before: more.previousElementSibling };
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!loading) return;
    var first = loading.before ? loading.before.nextElementSibling : loading.parent.firstElementChild;
    loading = null;
    if (!first) return;
    var target = first.matches("a[href], button") ? first : first.querySelector("a[href], button, input, select, textarea");
    if (!target) { target = first; first.tabIndex = -1; }
    target.focus();
  });

  // A form sent without JavaScript and refused comes back with its field errors: the focus goes to the
  // first invalid field, or to the error summary, so a keyboard or screen reader user lands on the problem.
  function focusFirstError() {
    if (window.location.hash && window.location.hash.length > 1) return; // the address points elsewhere
    var field = Array.prototype.find.call(document.querySelectorAll('main [aria-invalid="true"]'), function (el) {
      return el.offsetParent !== null || el.getClientRects().length;
    });
    if (field) { field.focus(); return; }
    var summary = document.querySelector("main .error[role='alert'], main .error-summary");
    if (summary) { summary.tabIndex = -1; summary.focus(); }
  }
  focusFirstError();

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
