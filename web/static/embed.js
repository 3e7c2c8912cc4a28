// gptstore's embed snippet, loaded by other websites:
//   <script src="https://HOST/static/embed.js" data-gpt="GPT_ID" async></script>
// It adds a chat button that opens the GPT's chat window (HOST/embed/GPT_ID) in a frame. Optional
// attributes: data-label (the button's text, default "Chat"), data-position ("left" or "right").
// Nothing here reads or writes the host page beyond the button and the frame. docs/embed.md.
(function () {
  "use strict";

  var ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  var counter = 0;
  var current = document.currentScript; // null once this script has finished running

  function css(element, styles) {
    Object.keys(styles).forEach(function (name) { element.style.setProperty(name, styles[name]); });
  }

  function mount(script) {
    if (script.hasAttribute("data-gptstore-mounted")) return;
    script.setAttribute("data-gptstore-mounted", "");
    var gpt = script.getAttribute("data-gpt") || "";
    if (!ID.test(gpt)) {
      console.warn("gptstore embed: data-gpt must be a GPT id, got " + JSON.stringify(gpt));
      return;
    }
    var origin = new URL(script.src, window.location.href).origin;
    var label = script.getAttribute("data-label") || "Chat";
    var side = script.getAttribute("data-position") === "left" ? "left" : "right";
    var frameId = "gptstore-chat-" + (++counter);

    var button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", frameId);
    button.setAttribute("data-gptstore-launcher", gpt);
    css(button, {
      "position": "fixed", "bottom": "16px", "z-index": "2147483000", "min-height": "44px",
      "padding": "10px 18px", "border": "1px solid #0b57d0", "border-radius": "999px",
      "background": "#0b57d0", "color": "#ffffff", "font": "600 16px/1.2 system-ui, sans-serif",
      "cursor": "pointer", "box-shadow": "0 2px 8px rgba(0,0,0,.25)",
    });
    button.style.setProperty(side, "16px");

    var frame = null;

    function open() {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = frameId;
        frame.src = origin + "/embed/" + gpt;
        frame.title = label + " (gptstore)";
        frame.setAttribute("referrerpolicy", "origin");
        css(frame, {
          "position": "fixed", "bottom": "76px", "z-index": "2147483000",
          "width": "min(400px, calc(100vw - 32px))", "height": "min(600px, calc(100vh - 96px))",
          "border": "1px solid #767676", "border-radius": "12px", "background": "#ffffff",
          "box-shadow": "0 4px 24px rgba(0,0,0,.3)", "color-scheme": "normal",
        });
        frame.style.setProperty(side, "16px");
        frame.addEventListener("load", function () { frame.contentWindow.postMessage("gptstore:focus", origin); });
        document.body.appendChild(frame);
      } else {
        frame.style.display = "block";
        frame.contentWindow.postMessage("gptstore:focus", origin);
      }
      button.setAttribute("aria-expanded", "true");
    }

    function close() {
      if (frame) frame.style.display = "none";
      button.setAttribute("aria-expanded", "false");
    }

    button.addEventListener("click", function () {
      if (button.getAttribute("aria-expanded") === "true") close();
      else open();
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        close();
        button.focus();
      }
    });
    document.body.appendChild(button);
  }

  function mountAll() {
    if (current) mount(current);
    document.querySelectorAll('script[data-gpt][src$="/static/embed.js"]').forEach(mount);
  }

  if (document.body) mountAll();
  else document.addEventListener("DOMContentLoaded", mountAll);
})();
