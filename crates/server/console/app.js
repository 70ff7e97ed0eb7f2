// Lockbox console: progressive enhancement only. Pages and forms work from the
// server; this script opens panels and dialogs, filters the table as you type,
// and reveals masked values on request (POST with the CSRF token), hiding them
// again after 30 seconds. It stores nothing in localStorage or sessionStorage.
(function () {
  "use strict";
  var DOTS = "\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022";
  var REVEAL_MS = 30000;
  document.documentElement.classList.add("js");

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  // ---- overlays (side panels and dialogs)
  var opener = null;
  function focusables(el) {
    return Array.prototype.filter.call(
      el.querySelectorAll("a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"),
      function (e) { return !e.disabled && e.getAttribute("tabindex") !== "-1" && e.offsetParent !== null; }
    );
  }
  function openOverlay(overlay, from) {
    closeAll();
    opener = from || document.activeElement;
    overlay.hidden = false;
    var first = overlay.querySelector("input:not([type=hidden]):not([readonly]), textarea, select") ||
      overlay.querySelector("[data-close]");
    var list = focusables(overlay);
    if (overlay.querySelector('[role="dialog"]').classList.contains("dialog")) {
      first = overlay.querySelector("[data-close]") || list[0];
    }
    if (first) { first.focus(); }
  }
  function closeOverlay(overlay) {
    overlay.hidden = true;
    if (opener && document.body.contains(opener)) { opener.focus(); }
    opener = null;
  }
  function closeAll() {
    document.querySelectorAll("[data-overlay]").forEach(function (o) { o.hidden = true; });
  }
  function overlayOf(id) {
    var el = document.getElementById(id);
    return el ? el.closest("[data-overlay]") : null;
  }
  function fill(overlay, data) {
    overlay.querySelectorAll("[data-fill-value]").forEach(function (el) {
      el.value = data[el.getAttribute("data-fill-value")] || "";
    });
    overlay.querySelectorAll("[data-fill-text]").forEach(function (el) {
      el.textContent = data[el.getAttribute("data-fill-text")] || "";
    });
    overlay.querySelectorAll("[data-dialog-error], .alert, .field-error").forEach(function (el) { el.remove(); });
    overlay.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    overlay.querySelectorAll("input[type=password]").forEach(function (el) { el.value = ""; });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("button, [data-overlay]");
    if (!t) { return; }
    if (t.hasAttribute("data-overlay")) {
      if (ev.target === t) { closeOverlay(t); }
      return;
    }
    if (t.hasAttribute("data-open")) {
      var o = overlayOf(t.getAttribute("data-open"));
      if (o) { openOverlay(o, t); }
    } else if (t.hasAttribute("data-close")) {
      closeOverlay(t.closest("[data-overlay]"));
    } else if (t.hasAttribute("data-edit")) {
      var e = overlayOf("panel-edit");
      fill(e, {
        name: t.getAttribute("data-edit"),
        scope: t.getAttribute("data-scope"),
        description: t.getAttribute("data-description"),
        visibility: t.getAttribute("data-visibility"),
        version: t.getAttribute("data-version")
      });
      openOverlay(e, t);
    } else if (t.hasAttribute("data-delete")) {
      var d = overlayOf("dialog-delete");
      fill(d, { name: t.getAttribute("data-delete"), scope: t.getAttribute("data-scope") });
      openOverlay(d, t);
    } else if (t.hasAttribute("data-reveal")) {
      reveal(t);
    }
  });

  document.addEventListener("keydown", function (ev) {
    var open = document.querySelector("[data-overlay]:not([hidden])");
    if (!open) { return; }
    if (ev.key === "Escape") {
      ev.preventDefault();
      closeOverlay(open);
    } else if (ev.key === "Tab") {
      var list = focusables(open);
      if (!list.length) { return; }
      var first = list[0], last = list[list.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    }
  });

  // ---- reveal: fetched on click, shown for 30 s, then dots again
  var timers = new WeakMap();
  function hide(btn, cell) {
    var was = cell.classList.contains("revealed");
    cell.textContent = DOTS;
    cell.classList.remove("revealed");
    btn.textContent = "Reveal";
    btn.setAttribute("aria-label", "Reveal " + btn.getAttribute("data-reveal"));
    btn.removeAttribute("aria-pressed");
    var id = timers.get(btn);
    if (id) { clearTimeout(id); timers.delete(btn); }
    revealExtras(btn, cell, false);
    if (was) { announce("The value of " + btn.getAttribute("data-reveal") + " is hidden again."); }
  }
  function reveal(btn) {
    var name = btn.getAttribute("data-reveal");
    var scope = btn.getAttribute("data-scope") || "workspace";
    var row = btn.closest("tr, [data-reveal-box]");
    var cell = row && row.querySelector(".value");
    if (!cell) { return; }
    if (btn.getAttribute("aria-pressed") === "true") { hide(btn, cell); return; }
    var ws = location.pathname.split("/")[3];
    // Busy, not disabled: a disabled button drops the keyboard focus to the body.
    if (btn.getAttribute("aria-busy") === "true") { return; }
    btn.setAttribute("aria-busy", "true");
    fetch("/console/w/" + ws + "/secrets/reveal", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ name: name, scope: scope })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      btn.removeAttribute("aria-busy");
      if (!res.ok) {
        // In words (the service's message never holds a value), not a bare code.
        cell.textContent = (res.body && (res.body.message || res.body.error)) || "The value could not be revealed.";
        cell.classList.add("error");
        setTimeout(function () { cell.textContent = DOTS; cell.classList.remove("error"); }, 4000);
        return;
      }
      var v = res.body.value;
      // Line breaks kept (pre-wrap); JSON shown pretty-printed.
      cell.textContent = typeof v === "string" ? v : JSON.stringify(v, null, 2);
      res.body = null;
      cell.classList.add("revealed");
      btn.textContent = "Hide";
      btn.setAttribute("aria-label", "Hide " + name);
      btn.setAttribute("aria-pressed", "true");
      timers.set(btn, setTimeout(function () { hide(btn, cell); }, REVEAL_MS));
      revealExtras(btn, cell, true);
      announce("The value of " + name + " is shown; it hides in " + (REVEAL_MS / 1000) + " seconds.");
    }).catch(function () {
      btn.removeAttribute("aria-busy");
      cell.textContent = DOTS;
    });
  }

  // ---- search: filter rows as you type (the server filters on submit)
  document.querySelectorAll("[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      document.querySelectorAll("table[data-filterable] tbody tr[data-name]").forEach(function (tr) {
        tr.hidden = q !== "" && tr.getAttribute("data-name").toLowerCase().indexOf(q) === -1;
      });
    });
  });

  // ---- workspace switcher
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  // A panel or dialog the server rendered open (a failed action): focus into it.
  var open = document.querySelector("[data-overlay]:not([hidden])");
  if (open) {
    var target = open.querySelector("[aria-invalid=true]") || open.querySelector(".alert") && open.querySelector("[data-close]") ||
      open.querySelector("input:not([type=hidden]):not([readonly]), textarea, select, button");
    if (target) { target.focus(); }
  }

  // ==== values (issue 18): announcements, copy, reveal countdown, value forms,
  // rollback dialog, new personal secret. Appended; nothing above depends on
  // order except the hoisted functions announce() and revealExtras().

  // One polite live region for changes a screen reader should hear (never a value).
  var live = document.createElement("div");
  live.id = "live";
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  document.body.appendChild(live);
  function announce(text) {
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 50);
  }

  // After a reveal: a Copy button and a visible countdown beside the value;
  // removed again when it hides.
  var countdowns = new WeakMap();
  var valueIds = 0;
  function revealExtras(btn, cell, on) {
    var box = cell.parentNode;
    var old = countdowns.get(btn);
    if (old) { clearInterval(old.timer); old.extras.remove(); countdowns.delete(btn); }
    if (!on) { return; }
    if (!cell.id) { cell.id = "revealed-value-" + (++valueIds); }
    var extras = document.createElement("span");
    extras.className = "reveal-extras";
    var copy = document.createElement("button");
    copy.type = "button";
    copy.className = "btn small";
    copy.setAttribute("data-copy", cell.id);
    copy.setAttribute("aria-label", "Copy the value of " + btn.getAttribute("data-reveal"));
    copy.textContent = "Copy";
    var left = document.createElement("span");
    left.className = "countdown";
    var until = Date.now() + REVEAL_MS;
    function tick() {
      var s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      left.textContent = "Hides in " + s + " s";
    }
    tick();
    extras.appendChild(copy);
    extras.appendChild(left);
    box.insertBefore(extras, cell.nextSibling);
    countdowns.set(btn, { timer: setInterval(tick, 1000), extras: extras });
  }

  // Copy: any button with data-copy="ID" copies that element's text (or value).
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) { return; }
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) { return; }
    var text = "value" in el && el.tagName !== "PRE" && el.tagName !== "CODE" ? el.value : el.textContent;
    var done = function () {
      b.textContent = "Copied";
      announce("Copied to the clipboard.");
      setTimeout(function () { b.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () {
        announce("Copying was refused by the browser; select the text and copy it.");
      });
    } else {
      var r = document.createRange();
      r.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      announce("Selected; press Control+C to copy.");
    }
  });

  // Value fields: masked while typing (a Show toggle), JSON checked and
  // pretty-printed, the size limit checked before the form is sent. The server
  // checks everything again; no value is ever put into the page by the server.
  function utf8Len(s) { return new TextEncoder().encode(s).length; }
  function kindOf(form) {
    var k = form.querySelector("[data-kind]");
    return k ? k.value : "text";
  }
  function fieldError(input, text) {
    var id = input.id + "-error";
    var p = document.getElementById(id);
    if (!text) {
      if (p) { p.remove(); }
      input.removeAttribute("aria-invalid");
      var d = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (x) { return x && x !== id; });
      if (d.length) { input.setAttribute("aria-describedby", d.join(" ")); } else { input.removeAttribute("aria-describedby"); }
      return;
    }
    if (!p) {
      p = document.createElement("p");
      p.className = "field-error";
      p.id = id;
      var after = input.parentNode.querySelector(".value-tools") || input;
      after.parentNode.insertBefore(p, after.nextSibling);
    }
    p.textContent = text;
    input.setAttribute("aria-invalid", "true");
    var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (ids.indexOf(id) === -1) { ids.unshift(id); }
    input.setAttribute("aria-describedby", ids.join(" "));
  }
  function jsonProblem(text, err) {
    var m = /position (\d+)/.exec(String(err && err.message));
    if (!m) { return "This is not valid JSON. Check the quotes, commas and brackets, or choose the type Text."; }
    var before = text.slice(0, Number(m[1])).split("\n");
    return "This is not valid JSON (line " + before.length + ", column " + (before[before.length - 1].length + 1) +
      "). Check the quotes, commas and brackets, or choose the type Text.";
  }
  // Checks one value field; returns false (with the error shown) when it may not be sent.
  function checkValue(form, input, pretty) {
    var v = input.value;
    if (v === "") { fieldError(input, null); return true; }
    var stored;
    if (kindOf(form) === "json") {
      var parsed;
      try { parsed = JSON.parse(v); } catch (e) { fieldError(input, jsonProblem(v, e)); return false; }
      if (pretty) { input.value = JSON.stringify(parsed, null, 2); }
      stored = JSON.stringify(parsed);
    } else {
      stored = JSON.stringify(v.replace(/\r\n/g, "\n"));
    }
    var max = Number(input.getAttribute("data-max-bytes"));
    var size = utf8Len(stored);
    if (max && size > max) {
      fieldError(input, "This value is " + Math.ceil(size / 1024) + " KB as stored; the limit is " +
        Math.floor(max / 1024) + " KB (" + max + " bytes). Shorten it; nothing was sent.");
      return false;
    }
    fieldError(input, null);
    return true;
  }
  document.querySelectorAll("form[data-value-form]").forEach(function (form) {
    var input = form.querySelector("textarea.secret-input");
    if (!input) { return; }
    var tools = document.createElement("div");
    tools.className = "value-tools";
    var show = document.createElement("button");
    show.type = "button";
    show.className = "btn small ghost";
    show.setAttribute("aria-pressed", "false");
    show.setAttribute("aria-controls", input.id);
    show.textContent = "Show value";
    show.addEventListener("click", function () {
      var on = show.getAttribute("aria-pressed") !== "true";
      show.setAttribute("aria-pressed", on ? "true" : "false");
      input.classList.toggle("shown", on);
    });
    tools.appendChild(show);
    input.parentNode.insertBefore(tools, input.nextSibling);
    input.addEventListener("blur", function () { if (kindOf(form) === "json") { checkValue(form, input, true); } });
    var kind = form.querySelector("[data-kind]");
    if (kind) { kind.addEventListener("change", function () { checkValue(form, input, true); }); }
    form.addEventListener("submit", function (ev) {
      if (!checkValue(form, input, true)) {
        ev.preventDefault();
        input.focus();
      }
    });
  });

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("button");
    if (!t) { return; }
    // A new personal secret: the New secret panel set to the user scope.
    if (t.hasAttribute("data-new-scope")) {
      var sel = document.getElementById("new-scope");
      if (sel) { sel.value = t.getAttribute("data-new-scope"); }
    }
    // Opening an edit: the value field starts empty, the type as the current value.
    if (t.hasAttribute("data-edit")) {
      var panel = document.getElementById("panel-edit");
      if (panel) {
        panel.querySelectorAll("textarea.secret-input").forEach(function (x) { x.value = ""; });
        var k = panel.querySelector("[data-kind]");
        if (k) { k.value = ""; }
      }
    }
    // Rollback: a confirmation dialog, then a POST (the server redirects back).
    if (t.hasAttribute("data-rollback")) {
      var o = overlayOf("dialog-rollback");
      if (o) {
        fill(o, { version: t.getAttribute("data-rollback") });
        openOverlay(o, t);
      }
    }
  });

  // A stale edit or a refused rename rendered by the server: focus its message.
  var stale = document.getElementById("edit-alert");
  if (stale && !document.querySelector("[data-overlay]:not([hidden])")) {
    stale.setAttribute("tabindex", "-1");
    stale.focus();
  }
})();
