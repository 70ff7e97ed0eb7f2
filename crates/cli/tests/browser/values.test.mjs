// Browser scenarios for issue 18's values work (helper B): values kept intact
// (multi-line, JSON, copy, countdown, size limit), stale edits, renames of bound
// secrets (console side), the secret page with history and rollback, and the
// small things (focus, dark mode, 44 px targets, long names, viewer wording,
// personal secrets for every role). One scenario per numbered problem of the brief.
// Secrets seeded here are named `v18-…` so they do not meet the other files' seeds.
import assert from "node:assert/strict";
import { copyFileSync, statSync } from "node:fs";
import {
  URL, OWNER, EDITOR, VIEWER, BOUND, BOUND_FLOW, SHOTS, SECRETS,
  newContext, scenario, finish, signIn, assertNoValues, row, api,
} from "./lib.mjs";

const enc = encodeURIComponent;
const put = (name, body, token = OWNER) => api("PUT", `/v1/workspaces/default/secrets/${enc(name)}`, body, token);
const read = async (name) => (await api("POST", `/v1/workspaces/default/secrets/${enc(name)}/reveal`)).value;
const secretPage = (name, scope = "workspace") =>
  `${URL}/console/w/default/secret?name=${enc(name)}&scope=${scope}`;

const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAv18" + Math.random().toString(36).slice(2),
  "q7n3wCq0hT3b0yYkqfZ1V2n7y1Zt7d5kq1XQ1xq4W9jQ2d1S6mJ9bqvK8uC0ZP4u",
  "-----END PRIVATE KEY-----",
].join("\n");
const MARK = "v18-secret-marker-" + Math.random().toString(36).slice(2);

function contrast(a, b) {
  const lum = (rgb) => {
    const [r, g, b] = rgb.map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
const parse = (s) => s.match(/\d+(\.\d+)?/g).map(Number);
// A colour over a background, alpha blended (an outline at .45 alpha is paler).
const over = (fg, bg) => {
  const [r, g, b, a = 1] = parse(fg);
  const base = parse(bg);
  return [r, g, b].map((c, i) => c * a + base[i] * (1 - a));
};
const rgb = (s) => parse(s).slice(0, 3);

// ------------------------------------------------------------------ 1. values kept intact
await scenario("1. values: PEM kept with line breaks, JSON edited as JSON (typed API read), reveal keeps line breaks, Copy, countdown, focus and aria-live; size limit before submit and on the server with the form kept", async () => {
  await put("v18-pem", { value: "placeholder-value-1", description: "TLS key" });
  await put("v18-json", { value: { host: "db.internal", port: 5432 }, description: "DB config" });
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL });
  const page = await ctx.newPage();
  await page.clock.install();
  await signIn(page, OWNER);

  // A 4-line PEM pasted into the list's edit panel is stored with its line breaks.
  await page.getByRole("button", { name: "Edit v18-pem", exact: true }).click();
  const edit = page.getByRole("dialog", { name: "Edit secret" });
  const field = edit.getByLabel("Value", { exact: true });
  assert.equal(await field.evaluate((e) => e.tagName), "TEXTAREA", "the value field is multi-line");
  await field.fill(PEM);
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/done=updated/);
  assert.equal(await read("v18-pem"), PEM, "stored with its line breaks");
  await assertNoValues(page, [PEM.split("\n")[1]]);

  // A revealed PEM shows its line breaks; by keyboard, focus stays on the button
  // and the change is announced; a countdown is visible; Copy copies it whole.
  const btn = page.getByRole("button", { name: "Reveal v18-pem", exact: true });
  await btn.focus();
  await page.keyboard.press("Enter");
  await page.waitForSelector(`tr[data-name="v18-pem"] .value.revealed`);
  const cell = row(page, "v18-pem").locator(".value");
  assert.equal(await cell.innerText(), PEM, "line breaks kept on screen");
  assert.equal(await cell.evaluate((e) => getComputedStyle(e).whiteSpace), "pre-wrap");
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Hide v18-pem",
    "focus stays on the control used");
  await page.clock.runFor(200);
  assert.match(await page.locator("[aria-live]").innerText(), /v18-pem is shown; it hides in 30 seconds/);
  assert.ok(!(await page.locator("[aria-live]").innerText()).includes("BEGIN"), "the announcement holds no value");
  assert.equal(await row(page, "v18-pem").locator(".countdown").innerText(), "Hides in 30 s");
  await page.clock.fastForward(10_000);
  assert.equal(await row(page, "v18-pem").locator(".countdown").innerText(), "Hides in 20 s");
  await row(page, "v18-pem").getByRole("button", { name: "Copy the value of v18-pem" }).click();
  await page.waitForFunction(() => document.querySelector("[aria-live]").textContent.includes("Copied"));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), PEM, "copied with line breaks");
  await page.evaluate(() => navigator.clipboard.writeText(""));
  await page.clock.fastForward(21_000);
  await page.waitForFunction(() => !document.querySelector(".value.revealed"));
  assert.equal(await row(page, "v18-pem").locator(".countdown").count(), 0, "countdown gone with the value");
  await page.clock.runFor(200);
  assert.match(await page.locator("[aria-live]").innerText(), /hidden again/);

  // A JSON value: its page's edit form offers the JSON type, chosen already;
  // invalid JSON is refused next to the field before sending; valid JSON is
  // pretty-printed and stored as JSON (the typed read gets an object).
  await page.goto(secretPage("v18-json"));
  const kind = page.getByLabel("Type");
  assert.equal(await kind.inputValue(), "json", "JSON is the default for a JSON value");
  const jv = page.getByLabel("Value", { exact: true });
  await jv.fill('{"host": "db2.internal", "port": 5433,}');
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("#s-edit-value-error").waitFor();
  assert.match(await page.locator("#s-edit-value-error").innerText(), /not valid JSON \(line 1, column \d+\)/);
  assert.equal(await jv.getAttribute("aria-invalid"), "true");
  assert.ok(!page.url().includes("done="), "not sent");
  await jv.fill('{"host":"db2.internal","port":5433,"tags":["a","b"]}');
  await jv.blur();
  assert.match(await jv.inputValue(), /^\{\n  "host": "db2\.internal",\n  "port": 5433,/, "pretty-printed");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/done=updated/);
  assert.deepEqual(await read("v18-json"), { host: "db2.internal", port: 5433, tags: ["a", "b"] }, "stored as JSON");
  // Revealed JSON is shown pretty-printed.
  await page.getByRole("button", { name: "Reveal v18-json", exact: true }).click();
  await page.waitForSelector("#secret-value.revealed");
  assert.match(await page.locator("#secret-value").innerText(), /\n  "port": 5433/);

  // The list's edit panel keeps the type too: bad JSON for a JSON secret is
  // refused by the server next to the field, and the value is not echoed.
  await page.goto(SECRETS);
  await page.getByRole("button", { name: "Edit v18-json", exact: true }).click();
  assert.equal(await edit.getByLabel("Type").inputValue(), "", "same type as the current value");
  await edit.getByLabel("Value", { exact: true }).fill(`${MARK} is not json`);
  await edit.getByLabel("Description").fill("DB config (kept)");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.locator("#edit-value-error").waitFor();
  assert.match(await page.locator("#edit-value-error").innerText(), /not valid JSON/);
  assert.equal(await page.locator("#edit-description").inputValue(), "DB config (kept)", "other fields kept");
  assert.ok(!(await page.content()).includes(MARK), "the value is not rendered back");
  assert.deepEqual(await read("v18-json"), { host: "db2.internal", port: 5433, tags: ["a", "b"] }, "unchanged");
  await page.keyboard.press("Escape");

  // Over the size limit: caught before sending (JS, the limit in the form)...
  const big = MARK + "x".repeat(70 * 1024);
  await page.goto(SECRETS);
  await page.getByRole("button", { name: "New secret", exact: true }).click();
  const np = page.getByRole("dialog", { name: "New secret" });
  await np.getByLabel("Name").fill("v18-too-big");
  await np.getByLabel("Value", { exact: true }).fill(big);
  await np.getByLabel("Description").fill("kept description");
  await np.getByRole("button", { name: "Save" }).click();
  await page.locator("#new-value-error").waitFor();
  assert.match(await page.locator("#new-value-error").innerText(), /the limit is 64 KB.*nothing was sent/);
  assert.ok(!page.url().includes("done="), "not sent");
  // ...and, with the script's check out of the way, refused by the server with
  // the form kept and the error next to the field, the value not rendered back.
  await page.evaluate(() => document.getElementById("new-value").removeAttribute("data-max-bytes"));
  await np.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  await page.locator("#new-value-error").waitFor();
  assert.match(await page.locator("#new-value-error").innerText(), /larger than the limit of 65536 bytes/);
  assert.equal(await page.locator("#new-name").inputValue(), "v18-too-big", "name kept");
  assert.equal(await page.locator("#new-description").inputValue(), "kept description", "description kept");
  assert.equal(await page.locator("#new-value").inputValue(), "", "value not echoed");
  assert.ok(!(await page.content()).includes(MARK), "the value is not rendered back");
  await page.keyboard.press("Escape");

  // The one-time token notice has a Copy button too (generic data-copy).
  await page.goto(`${URL}/console/w/default/tokens`);
  await page.getByLabel("Token name").fill("v18-copy-token");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.waitForLoadState();
  const token = await page.locator("code.once").innerText();
  await page.getByRole("button", { name: "Copy the new token" }).click();
  await page.waitForFunction(() => document.querySelector("[aria-live]").textContent.includes("Copied"));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  await ctx.close();
});

// ------------------------------------------------------------------ 2. stale edits
await scenario("2. stale edits: two tabs; the stale save says who changed it and when, links to review, and overwrites nothing", async () => {
  await put("v18-stale", { value: "stale-original-value", description: "two tabs" });
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const a = await ctx.newPage();
  await signIn(a, OWNER);
  const b = await ctx.newPage();
  // Tab A opens the edit panel; tab B opens the secret page and saves first.
  await a.getByRole("button", { name: "Edit v18-stale", exact: true }).click();
  const edit = a.getByRole("dialog", { name: "Edit secret" });
  await edit.getByLabel("Value", { exact: true }).fill("value-from-tab-A");
  await b.goto(secretPage("v18-stale"));
  await b.getByLabel("Value", { exact: true }).fill("value-from-tab-B");
  await b.getByRole("button", { name: "Save" }).click();
  await b.waitForURL(/done=updated/);
  // Tab A saves: refused, in words, with a way to review.
  await edit.getByRole("button", { name: "Save" }).click();
  await a.waitForLoadState();
  const alert = a.locator("#edit-alert");
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /was changed by .+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC since you opened it/);
  assert.match(text, /Nothing was saved/);
  assert.ok(!text.includes("version_mismatch"), "no bare code");
  assert.equal(await read("v18-stale"), "value-from-tab-B", "B's value stands");
  await a.getByRole("link", { name: "Review the current version" }).click();
  await a.waitForURL(/\/secret\?name=v18-stale/);
  assert.equal(await a.locator("#versions tbody tr").count(), 2);
  // The same on the secret page: a form opened on an old version is refused too,
  // a description-only save included.
  await b.goto(secretPage("v18-stale"));
  await put("v18-stale", { value: "value-from-api" });
  await b.getByLabel("Description").fill("stale description");
  await b.getByRole("button", { name: "Save" }).click();
  await b.waitForLoadState();
  await b.locator("#edit-alert").waitFor();
  assert.match(await b.locator("#edit-alert").innerText(), /since you opened it/);
  assert.equal((await api("GET", "/v1/workspaces/default/secrets/v18-stale")).description, "two tabs");
  await ctx.close();
});

// ------------------------------------------------------------------ 3. rename of a bound secret
await scenario("3. rename of a bound secret (console side): the refusal names the flows next to the name, with 'Rename anyway and move the bindings'", async () => {
  await api("POST", "/v1/workspaces", { name: "v18" });
  await api("PATCH", "/v1/workspaces/v18/settings", { allow_rename: true });
  await api("PUT", "/v1/workspaces/v18/secrets/v18-bound", { value: "bound-value-123" });
  await api("PUT", "/v1/workspaces/v18/bindings/v18-flow", {
    bindings: [{ secret: "v18-bound", location: "node call, header X" }],
  });
  // Does this build's service refuse the rename of a bound secret? (Helper A's
  // change; this branch's console is ready for it.) Probe through the API.
  await api("PUT", "/v1/workspaces/v18/secrets/v18-probe", { value: "probe-value-123" });
  await api("PUT", "/v1/workspaces/v18/bindings/v18-probe-flow", {
    bindings: [{ secret: "v18-probe", location: "node probe" }],
  });
  const probe = await fetch(`${URL}/v1/workspaces/v18/secrets/v18-probe/rename`, {
    method: "POST",
    headers: { authorization: `Bearer ${OWNER}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "v18-probe-renamed" }),
  });
  const refuses = probe.status === 409;
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${URL}/console/w/v18/secret?name=v18-bound&scope=workspace`);
  assert.equal(await page.getByLabel("Name", { exact: true }).getAttribute("readonly"), null, "renames are on");
  await page.getByLabel("Name", { exact: true }).fill("v18-bound-renamed");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  if (!refuses) {
    // This build's service renames bound secrets (the API did too): nothing for
    // the console to show. With helper A's service change this path is not taken.
    console.log("note: this service renames bound secrets; the console's refusal is checked once it refuses");
    assert.ok(page.url().includes("done=updated"));
    await ctx.close();
    return;
  }
  assert.ok(!page.url().includes("done="), "a bound secret is not renamed without force");
  const err = await page.locator("#s-edit-name-error").innerText();
  assert.match(err, /used by 1 flow \(v18-flow\)/);
  const force = page.getByLabel("Rename anyway and move the bindings");
  await force.check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/done=updated/);
  assert.match(await page.locator("#used-by").innerText(), /v18-flow/);
  await ctx.close();
});

// ------------------------------------------------------------------ 4. the secret page
await scenario("4. secret page: versions with state, who, when and fingerprint; rollback with confirmation and post/redirect/get; labels, TTL, allowed hosts, bindings; viewer sees no reveal; screenshot", async () => {
  await put("v18-history", {
    value: "history-value-one", description: "Payments API key",
    allowed_hosts: ["api.payments.example"], ttl: 30 * 24 * 3600,
  });
  await api("PATCH", "/v1/workspaces/default/secrets/v18-history/settings", { labels: { team: "payments", env: "prod" } });
  await put("v18-history", { value: "history-value-two" });
  await put("v18-history", { value: "history-value-three" });
  await api("PUT", "/v1/workspaces/default/bindings/v18-payments-sync", {
    bindings: [{ secret: "v18-history", location: "node charge, header Authorization" }],
  });
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  // Linked from its list row.
  await row(page, "v18-history").getByRole("link", { name: "v18-history" }).click();
  await page.waitForURL(/\/console\/w\/default\/secret\?name=v18-history/);
  const rows = page.locator("#versions tbody tr");
  assert.equal(await rows.count(), 3);
  assert.match(await rows.nth(0).innerText(), /3\s+current/);
  const fps = await page.locator("#versions code.fp").allInnerTexts();
  assert.equal(new Set(fps).size, 3, "three values, three fingerprints");
  const facts = await page.locator("dl.facts").innerText();
  assert.match(facts, /api\.payments\.example/);
  assert.match(facts, /team\s*=\s*payments/);
  assert.match(facts, /Expires\s+\d{4}-\d\d-\d\d/);
  assert.match(facts, /Payments API key/);
  assert.match(await page.locator("#used-by").innerText(), /^1 flow:\s+v18-payments-sync at node charge/);
  await assertNoValues(page, ["history-value-one", "history-value-two", "history-value-three"]);

  // Roll back to version 1: a confirmation first (Cancel keeps), then POST and a redirect.
  await page.getByRole("button", { name: "Roll back to version 1" }).click();
  const dialog = page.getByRole("dialog", { name: "Roll back" });
  await dialog.waitFor({ state: "visible" });
  assert.match(await dialog.innerText(), /version 1/);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await rows.count(), 3, "cancel keeps");
  await page.getByRole("button", { name: "Roll back to version 1" }).click();
  await dialog.getByRole("button", { name: "Roll back" }).click();
  await page.waitForURL(/done=rolled-back/);
  assert.match(await page.locator(".flash").innerText(), /version 4 is now current, with the value of version 1/);
  assert.equal(await rows.count(), 4);
  const after = await page.locator("#versions code.fp").allInnerTexts();
  assert.equal(after[0], after[3], "version 4 has version 1's fingerprint");
  assert.equal(await read("v18-history"), "history-value-one");
  await page.reload();
  assert.equal(await rows.count(), 4, "a reload does not roll back again");

  // Screenshot with a few versions, for the docs.
  const shot = `${SHOTS}/console-secret.png`;
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size < 300 * 1024, "screenshot under 300 KB");
  if (process.env.LOCKBOX_DOCS_SHOT) { copyFileSync(shot, process.env.LOCKBOX_DOCS_SHOT); }

  // A bound secret says who uses it; a name with '/' has a page too.
  await page.goto(secretPage(BOUND));
  assert.match(await page.locator("#used-by").innerText(), new RegExp(`1 flow:[\\s\\S]*${BOUND_FLOW}`));
  const r = await page.goto(secretPage("db/primary-password"));
  assert.equal(r.status(), 200);
  assert.match(await page.locator("dl.facts").innerText(), /Restricted: no one sees it again/);
  assert.equal(await page.getByRole("button", { name: /^Reveal/ }).count(), 0);
  await ctx.close();

  // A viewer: the page, but no reveal, no edit, no rollback.
  const vctx = await newContext();
  const v = await vctx.newPage();
  await signIn(v, VIEWER);
  await v.goto(secretPage("v18-history"));
  assert.equal(await v.locator("#versions tbody tr").count(), 4);
  assert.equal(await v.getByRole("button", { name: /^Reveal|^Roll back|^Save/ }).count(), 0);
  assert.match(await v.locator("dl.facts").innerText(), /Your role does not reveal values/);
  await vctx.close();
});

// ------------------------------------------------------------------ 5. small things
await scenario("5. small things: viewer wording, personal secrets for editors and viewers, focus ring 3:1 light and dark, dark mode, 44 px targets, long names", async () => {
  // Viewers are not told values can be revealed; they get a personal "New secret".
  const vctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const v = await vctx.newPage();
  await signIn(v, VIEWER);
  assert.ok(!(await v.locator(".pagehead").first().innerText()).includes("can be revealed"));
  await v.getByRole("button", { name: "New personal secret" }).click();
  const np = v.getByRole("dialog", { name: "New secret" });
  await np.getByLabel("Name").fill("v18-viewer-own");
  await np.getByLabel("Value", { exact: true }).fill("viewer-own-value-1");
  await np.getByRole("button", { name: "Save" }).click();
  await v.waitForURL(/done=created/);
  assert.equal(await v.locator('table#my-secrets tr[data-name="v18-viewer-own"]').count(), 1);
  assert.equal(await row(v, "v18-viewer-own").count(), 0, "not in the workspace list");
  await vctx.close();

  const ectx = await newContext({ viewport: { width: 1280, height: 900 } });
  const e = await ectx.newPage();
  await signIn(e, EDITOR);
  assert.equal(await e.getByRole("button", { name: "New secret", exact: true }).count(), 0, "no workspace New secret");
  await e.getByRole("button", { name: "New personal secret" }).click();
  const enp = e.getByRole("dialog", { name: "New secret" });
  await enp.getByLabel("Name").fill("v18-editor-own");
  await enp.getByLabel("Value", { exact: true }).fill("editor-own-value-1");
  await enp.getByRole("button", { name: "Save" }).click();
  await e.waitForURL(/done=created/);
  assert.equal(await e.locator('table#my-secrets tr[data-name="v18-editor-own"]').count(), 1);
  await ectx.close();

  // A 300-character name: truncated with an ellipsis, full on hover (title) and
  // focus, and no row's buttons pushed off-screen.
  const long = "v18-long-" + "n".repeat(291);
  await put(long, { value: "long-name-value-1" });
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  const link = row(page, long).getByRole("link");
  assert.equal(await link.getAttribute("title"), long);
  assert.equal(await link.evaluate((e) => getComputedStyle(e).textOverflow), "ellipsis");
  for (const name of [long, BOUND, "v18-pem"]) {
    const box = await row(page, name).getByRole("button", { name: `Delete ${name}`, exact: true }).boundingBox();
    assert.ok(box.x + box.width <= 1280, `Delete ${name.slice(0, 20)} is on screen (${box.x + box.width})`);
  }
  await link.focus();
  assert.equal(await link.evaluate((e) => getComputedStyle(e).whiteSpace), "normal", "full name on focus");

  // Focus ring: at least 3:1 against the background it sits on, light and dark.
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(SECRETS);
    await page.getByRole("button", { name: "Edit v18-pem", exact: true }).focus();
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Tab");
    const [ring, bg, bodyBg] = await page.evaluate(() => {
      const el = document.activeElement;
      let p = el.parentElement, bg = "rgba(0, 0, 0, 0)";
      while (p && /rgba\(0, 0, 0, 0\)|transparent/.test(bg)) { bg = getComputedStyle(p).backgroundColor; p = p.parentElement; }
      return [getComputedStyle(el).outlineColor, bg, getComputedStyle(document.body).backgroundColor];
    });
    const c = contrast(over(ring, bg), rgb(bg));
    assert.ok(c >= 3, `${scheme}: focus ring ${ring} on ${bg} is ${c.toFixed(2)}:1`);
    const dark = rgb(bodyBg).reduce((a, b) => a + b) < 3 * 60;
    assert.equal(dark, scheme === "dark", `${scheme}: the page follows the system setting (${bodyBg})`);
  }
  await page.emulateMedia({ colorScheme: "light" });
  await ctx.close();

  // Small screens: every control at least 44 px tall and wide; nothing wider than the screen.
  const pctx = await newContext({ viewport: { width: 375, height: 740 } });
  const phone = await pctx.newPage();
  await signIn(phone, OWNER);
  for (const url of [SECRETS, secretPage("v18-history")]) {
    await phone.goto(url);
    const small = await phone.evaluate(() =>
      Array.from(document.querySelectorAll("button, input:not([type=hidden]), select, textarea, .mainnav a, td.name a"))
        .filter((e) => e.offsetParent !== null)
        .map((e) => [e.getAttribute("aria-label") || e.id || e.textContent.trim().slice(0, 30), e.getBoundingClientRect()])
        .filter(([, r]) => r.height < 44 || r.width < 44)
        .map(([n, r]) => `${n} ${Math.round(r.width)}x${Math.round(r.height)}`));
    assert.deepEqual(small, [], `controls under 44 px at ${url}`);
    const wide = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 375, `page is ${wide}px wide at 375px (${url})`);
  }
  await pctx.close();
});

await finish();
