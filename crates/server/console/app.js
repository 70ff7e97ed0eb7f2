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
        // In words (the service's message never holds a value), never a bare code
        // such as "unauthenticated".
        cell.textContent = (res.body && (res.body.error === "unauthenticated"
          ? "Your session ended: reload the page to sign in again."
          : res.body.message)) || "The value could not be revealed.";
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

// ==== Lists (issue 18, item 5): the secrets list is paged, sorted and searched
// by the server. A keystroke in the search box fetches only the list
// part of the page (?fragment=1) and swaps it in; sort headers and pager links do
// the same. Without this script the search form and the links load whole pages.
(function () {
  "use strict";
  var list = document.querySelector("[data-list]");
  var form = document.querySelector("form[data-search]");
  if (!list || !form) { return; }
  var SETTLE_MS = 5;
  var input = form.querySelector("[data-filter]");
  var seq = 0;
  var pending = null;
  var timer = null;

  // The search as typed, in the sort the list is shown in now, from page 1.
  function formUrl() {
    var state = list.querySelector(".list-state");
    var now = state ? state.getAttribute("data-url") : "";
    var params = new URLSearchParams(now.indexOf("?") === -1 ? "" : now.slice(now.indexOf("?") + 1));
    params.delete("page");
    params.delete("mpage");
    var q = input ? input.value : "";
    if (q) { params.set("q", q); } else { params.delete("q"); }
    var qs = params.toString();
    return form.getAttribute("action") + (qs ? "?" + qs : "");
  }
  function withFragment(url) {
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "fragment=1";
  }
  function load(url, push) {
    var mine = ++seq;
    if (pending) { pending.abort(); }
    pending = typeof AbortController === "function" ? new AbortController() : null;
    list.setAttribute("aria-busy", "true");
    return fetch(withFragment(url), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
      signal: pending ? pending.signal : undefined
    }).then(function (r) {
      if (!r.ok || r.redirected) { throw new Error("page"); }
      return r.text();
    }).then(function (html) {
      if (mine !== seq) { return; }
      list.innerHTML = html;
      list.removeAttribute("aria-busy");
      var state = list.querySelector(".list-state");
      var shown = state ? state.getAttribute("data-url") : url;
      if (push) { history.pushState({ list: shown }, "", shown); }
      else { history.replaceState({ list: shown }, "", shown); }
      list.setAttribute("data-list-url", shown);
      // Say what the new list holds (the table itself is not a live region), in
      // the page's one live region (#live, made by the values section below).
      var status = document.getElementById("live");
      var count = list.querySelector("#workspace-secrets-count");
      if (status && count) { status.textContent = count.textContent; }
      list.dispatchEvent(new CustomEvent("lockbox:list", { bubbles: true }));
    }).catch(function (e) {
      if (e && e.name === "AbortError") { return; }
      // The session ended or the server failed: let the whole page say why.
      location.assign(url);
    });
  }

  // A keystroke when no search is on its way is sent at once (the answer comes
  // in one round trip); keystrokes while one is on its way are folded into one
  // more request, sent when it has answered.
  var inflight = false, queued = false;
  function runSearch() {
    inflight = true;
    queued = false;
    load(formUrl(), false).then(searchDone, searchDone);
  }
  function searchDone() {
    inflight = false;
    if (queued) { runSearch(); }
  }
  if (input) {
    input.addEventListener("input", function () {
      clearTimeout(timer);
      if (inflight) { queued = true; return; }
      // A burst of keys within a few ms (paste, autofill) is one search.
      timer = setTimeout(runSearch, SETTLE_MS);
    });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearTimeout(timer);
    load(formUrl(), true);
  });
  list.addEventListener("click", function (ev) {
    var a = ev.target.closest("a[data-list-link]");
    if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }
    ev.preventDefault();
    load(a.getAttribute("href"), true).then(function () {
      // Keep keyboard users where they were: on the same control, redrawn.
      var same = list.querySelector('a[data-list-link][rel="' + (a.getAttribute("rel") || "") + '"]') ||
        list.querySelector("th[aria-sort] a");
      if (same) { same.focus(); }
    });
  });
  window.addEventListener("popstate", function () {
    var params = new URLSearchParams(location.search);
    if (input) { input.value = params.get("q") || ""; }
    load(location.pathname + location.search, false);
  });
})();

// ==== Forms (issue 18, item 7): a form that changes something is sent once (its
// submit buttons are disabled while it is sent; the server also refuses a spent
// one-time nonce), and revoking a token or removing a member asks first, in an
// accessible dialog, with a warning when it would end your own session.
(function () {
  "use strict";
  var overlay = null, dialog, desc, warn, yes, pendingForm = null, returnTo = null;

  function build() {
    overlay = document.createElement("div");
    overlay.className = "overlay center";
    overlay.setAttribute("data-overlay", "");
    overlay.setAttribute("data-confirm-overlay", "");
    overlay.hidden = true;
    dialog = document.createElement("div");
    dialog.className = "dialog";
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.setAttribute("aria-describedby", "confirm-desc confirm-warn");
    var h = document.createElement("h2");
    h.id = "confirm-title";
    h.textContent = "Are you sure?";
    desc = document.createElement("p");
    desc.id = "confirm-desc";
    warn = document.createElement("p");
    warn.id = "confirm-warn";
    warn.className = "alert";
    var actions = document.createElement("div");
    actions.className = "dialog-actions";
    var no = document.createElement("button");
    no.type = "button";
    no.className = "btn ghost";
    no.textContent = "Cancel";
    no.addEventListener("click", close);
    yes = document.createElement("button");
    yes.type = "button";
    yes.className = "btn danger";
    yes.addEventListener("click", function () {
      var f = pendingForm;
      close();
      if (!f) { return; }
      f.setAttribute("data-confirmed", "");
      if (f.requestSubmit) { f.requestSubmit(); } else { f.submit(); }
    });
    actions.appendChild(no);
    actions.appendChild(yes);
    dialog.appendChild(h);
    dialog.appendChild(desc);
    dialog.appendChild(warn);
    dialog.appendChild(actions);
    overlay.appendChild(dialog);
    overlay.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); close(); }
    });
    overlay.addEventListener("click", function (ev) { if (ev.target === overlay) { close(); } });
    document.body.appendChild(overlay);
  }
  function open(form, from) {
    if (!overlay) { build(); }
    pendingForm = form;
    returnTo = from || document.activeElement;
    desc.textContent = form.getAttribute("data-confirm");
    var w = form.getAttribute("data-confirm-warn");
    warn.textContent = w || "";
    warn.hidden = !w;
    yes.textContent = form.getAttribute("data-confirm-action") || "Confirm";
    overlay.hidden = false;
    dialog.querySelector(".btn.ghost").focus();
  }
  function close() {
    if (overlay) { overlay.hidden = true; }
    pendingForm = null;
    if (returnTo && document.body.contains(returnTo)) { returnTo.focus(); }
    returnTo = null;
  }

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (ev.defaultPrevented || !f || (f.getAttribute("method") || "").toLowerCase() !== "post") { return; }
    // Secret forms return to the list as it is now (search, sort, page).
    f.querySelectorAll("input[data-list-state]").forEach(function (i) {
      i.value = location.search.replace(/^\?/, "");
    });
    if (f.hasAttribute("data-confirm") && !f.hasAttribute("data-confirmed")) {
      ev.preventDefault();
      open(f, ev.submitter);
      return;
    }
    if (f.hasAttribute("data-sending")) { ev.preventDefault(); return; }
    f.setAttribute("data-sending", "");
    if (f.hasAttribute("data-download")) {
      // A download leaves the page as it is: usable again shortly.
      setTimeout(function () {
        f.removeAttribute("data-sending");
        f.removeAttribute("data-confirmed");
        f.querySelectorAll("button").forEach(function (b) { b.disabled = false; b.removeAttribute("aria-disabled"); });
      }, 1500);
    }
    // After the browser has taken the form's data: disable its buttons.
    setTimeout(function () {
      f.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
        b.disabled = true;
        b.setAttribute("aria-disabled", "true");
      });
    }, 0);
  });
  // Back/forward cache: a page shown again may be used again.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) { return; }
    document.querySelectorAll("form[data-sending]").forEach(function (f) {
      f.removeAttribute("data-sending");
      f.removeAttribute("data-confirmed");
      f.querySelectorAll("button").forEach(function (b) { b.disabled = false; b.removeAttribute("aria-disabled"); });
    });
  });
})();

// ==== Import and export (issue 18, item 3): the pasted .env text stays in this
// page. The server's preview answers keys, lines and new/existing (no value); a
// row's Show button shows that entry's text as it was pasted, from the text area,
// and the import re-posts the text once (JSON, CSRF header) and gets keys back.
(function () {
  "use strict";
  var root = document.querySelector("[data-import]");
  if (!root) { return; }
  var ws = location.pathname.split("/")[3];
  var text = root.querySelector("[data-import-text]");
  var file = root.querySelector("[data-import-file]");
  var area = root.querySelector("[data-import-preview-area]");
  var tbody = root.querySelector("#import-preview tbody");
  var errBox = root.querySelector("[data-import-error]");
  var result = root.querySelector("[data-import-result]");
  var summary = root.querySelector("[data-import-summary]");
  var overwrite = root.querySelector("[data-import-overwrite]");
  var DOTS = "\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022";
  var rows = [];

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function post(path, body) {
    return fetch("/console/w/" + ws + path, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        if (!r.ok) {
          var msg = b.error === "unauthenticated"
            ? "Your session ended: sign in again in another tab, then try again (your text is still here)."
            : (b.message || "That did not work; try again.");
          throw new Error(msg);
        }
        return b;
      });
    });
  }
  function showError(msg) {
    errBox.textContent = msg || "";
    errBox.hidden = !msg;
    if (msg) { errBox.focus && errBox.setAttribute("tabindex", "-1"); }
  }
  // The pasted text of the entry on `line` (up to the next entry), after `=`.
  function pastedValue(line) {
    var lines = text.value.split(/\r?\n/);
    var next = lines.length + 1;
    rows.forEach(function (r) { if (r.line > line && r.line < next) { next = r.line; } });
    var chunk = lines.slice(line - 1, next - 1).join("\n");
    var eq = chunk.indexOf("=");
    return (eq === -1 ? chunk : chunk.slice(eq + 1)).replace(/\s+$/, "");
  }
  function render() {
    tbody.textContent = "";
    var fresh = 0, existing = 0;
    rows.forEach(function (r, i) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-key", r.key);
      var c0 = document.createElement("td");
      var cb = document.createElement("input");
      cb.type = "checkbox";
      cb.id = "import-row-" + i;
      cb.disabled = !!r.problem;
      cb.checked = !r.problem && (!r.exists || overwrite.checked);
      cb.setAttribute("aria-label", "Import " + r.key);
      cb.setAttribute("data-import-key", r.key);
      c0.appendChild(cb);
      var c1 = document.createElement("td");
      c1.className = "mono";
      c1.textContent = r.key;
      var c2 = document.createElement("td");
      c2.textContent = String(r.line);
      var c3 = document.createElement("td");
      var badge = document.createElement("span");
      badge.className = "badge " + (r.problem ? "warn" : r.exists ? "warn" : "ok");
      badge.textContent = r.problem ? "Cannot import: " + r.problem : r.exists ? "Exists" : "New";
      if (r.exists) { existing++; } else if (!r.problem) { fresh++; }
      c3.appendChild(badge);
      var c4 = document.createElement("td");
      var v = document.createElement("span");
      v.className = "value mono";
      v.textContent = DOTS;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "btn small";
      b.textContent = "Show";
      b.setAttribute("aria-label", "Show the pasted value of " + r.key);
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", function () {
        var on = b.getAttribute("aria-pressed") !== "true";
        v.textContent = on ? pastedValue(r.line) : DOTS;
        v.classList.toggle("revealed", on);
        b.textContent = on ? "Hide" : "Show";
        b.setAttribute("aria-pressed", on ? "true" : "false");
        b.setAttribute("aria-label", (on ? "Hide" : "Show") + " the pasted value of " + r.key);
      });
      c4.appendChild(v);
      c4.appendChild(document.createTextNode(" "));
      c4.appendChild(b);
      [c0, c1, c2, c3, c4].forEach(function (c) { tr.appendChild(c); });
      tbody.appendChild(tr);
    });
    summary.textContent = rows.length + " key" + (rows.length === 1 ? "" : "s") + ": " + fresh + " new, " +
      existing + " already exist" + (existing ? " (left alone unless you choose to overwrite them)" : "") + ".";
    area.hidden = false;
  }

  if (file) {
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) { return; }
      f.text().then(function (t) { text.value = t; file.value = ""; preview(); });
    });
  }
  function preview() {
    showError("");
    result.hidden = true;
    return post("/import/preview", { text: text.value }).then(function (b) {
      rows = b.rows || [];
      render();
    }).catch(function (e) { area.hidden = true; showError(e.message); });
  }
  root.querySelector("[data-import-preview]").addEventListener("click", preview);
  overwrite.addEventListener("change", function () {
    tbody.querySelectorAll("input[data-import-key]").forEach(function (cb) {
      var r = rows.filter(function (x) { return x.key === cb.getAttribute("data-import-key"); })[0];
      if (r && r.exists && !r.problem) { cb.checked = overwrite.checked; }
    });
  });
  function clear() {
    text.value = "";
    rows = [];
    tbody.textContent = "";
    area.hidden = true;
  }
  root.querySelector("[data-import-clear]").addEventListener("click", function () { clear(); showError(""); text.focus(); });
  var go = root.querySelector("[data-import-go]");
  go.addEventListener("click", function () {
    var keys = [];
    tbody.querySelectorAll("input[data-import-key]:checked").forEach(function (cb) { keys.push(cb.getAttribute("data-import-key")); });
    if (!keys.length) { showError("Choose at least one key to import."); return; }
    go.disabled = true;
    showError("");
    post("/import", { text: text.value, keys: keys, overwrite: overwrite.checked }).then(function (b) {
      go.disabled = false;
      clear();
      var parts = [];
      if (b.created.length) { parts.push("Created " + b.created.length + ": " + b.created.join(", ") + "."); }
      if (b.updated.length) { parts.push("Updated " + b.updated.length + ": " + b.updated.join(", ") + "."); }
      if (b.skipped.length) { parts.push("Left alone " + b.skipped.length + ": " + b.skipped.join(", ") + "."); }
      b.failed.forEach(function (f) { parts.push("Not imported " + f.key + ": " + f.message); });
      result.textContent = parts.join(" ") || "Nothing to import.";
      result.hidden = false;
    }).catch(function (e) { go.disabled = false; showError(e.message); });
  });
})();
