// gptstore's embed snippet, loaded by other websites:
//   <script src="https://HOST/static/embed.js" data-gpt="GPT_ID" async></script>
// It adds a chat button that opens the GPT's chat window (HOST/embed/GPT_ID) in a frame. Optional
// attributes: data-label (the button's text, default "Chat"), data-position ("left" or "right").
// Several snippets on one page share a dock per side (their buttons side by side, never on top of each
// other) and one window is open at a time. Nothing here reads or writes the host page beyond the dock,
// the buttons and the frames. docs/embed.md.
(function () {
  "use strict";

  var ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  var OPENING = "gptstore:opening"; // a DOM event: each copy of this script (one per snippet) hears it
  var current = document.currentScript; // null once this script has finished running

  function css(element, styles) {
    Object.keys(styles).forEach(function (name) { element.style.setProperty(name, styles[name]); });
  }

  // The fixed dock of one side, shared by every snippet on the page (whichever copy of the script made it).
  function dock(side) {
    var found = document.querySelector('[data-gptstore-dock="' + side + '"]');
    if (found) return found;
    var element = document.createElement("div");
    element.setAttribute("data-gptstore-dock", side);
    css(element, {
      "position": "fixed", "bottom": "16px", "z-index": "2147483000", "display": "flex",
      "flex-direction": side === "left" ? "row" : "row-reverse", "flex-wrap": "wrap-reverse",
      "gap": "8px", "max-width": "calc(100vw - 32px)", "align-items": "flex-end",
    });
    element.style.setProperty(side, "16px");
    document.body.appendChild(element);
    return element;
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
    // unique on the page even when several copies of this script each count their own snippets
    var frameId = "gptstore-chat-" + (document.querySelectorAll("[data-gptstore-launcher]").length + 1);
    while (document.getElementById(frameId)) frameId += "-";
    var launchers = dock(side);

    var button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", frameId);
    button.setAttribute("data-gptstore-launcher", gpt);
    css(button, {
      "min-height": "44px",
      "padding": "10px 18px", "border": "1px solid #0b57d0", "border-radius": "999px",
      "background": "#0b57d0", "color": "#ffffff", "font": "600 16px/1.2 system-ui, sans-serif",
      "cursor": "pointer", "box-shadow": "0 2px 8px rgba(0,0,0,.25)",
    });

    var frame = null;

    function open() {
      document.dispatchEvent(new CustomEvent(OPENING, { detail: frameId })); // the others close
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = frameId;
        frame.src = origin + "/embed/" + gpt;
        frame.title = label + " (gptstore)";
        frame.setAttribute("referrerpolicy", "origin");
        css(frame, {
          "position": "fixed", "z-index": "2147483000", "width": "min(400px, calc(100vw - 32px))",
          "border": "1px solid #767676", "border-radius": "12px", "background": "#ffffff",
          "box-shadow": "0 4px 24px rgba(0,0,0,.3)", "color-scheme": "normal",
        });
        frame.style.setProperty(side, "16px");
        frame.addEventListener("load", function () { frame.contentWindow.postMessage("gptstore:focus", origin); });
        place();
        document.body.appendChild(frame);
      } else {
        place();
        frame.style.display = "block";
        frame.contentWindow.postMessage("gptstore:focus", origin);
      }
      button.setAttribute("aria-expanded", "true");
    }

    // above the dock, however many rows of buttons it has
    function place() {
      var above = Math.round(window.innerHeight - launchers.getBoundingClientRect().top) + 12;
      frame.style.setProperty("bottom", above + "px");
      frame.style.setProperty("height", "min(600px, calc(100vh - " + (above + 20) + "px))");
    }

    function close() {
      if (frame) frame.style.display = "none";
      button.setAttribute("aria-expanded", "false");
    }

    button.addEventListener("click", function () {
      if (button.getAttribute("aria-expanded") === "true") close();
      else open();
    });
    document.addEventListener(OPENING, function (event) {
      if (event.detail !== frameId && button.getAttribute("aria-expanded") === "true") close();
    });
    window.addEventListener("message", function (event) {
      if (frame && event.source === frame.contentWindow && event.origin === origin &&
          event.data === "gptstore:close") {
        close();
        button.focus();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        close();
        button.focus();
      }
    });
    launchers.appendChild(button);
  }

  function mountAll() {
    if (current) mount(current);
    document.querySelectorAll('script[data-gpt][src$="/static/embed.js"]').forEach(mount);
  }

  if (document.body) mountAll();
  else document.addEventListener("DOMContentLoaded", mountAll);
})();
