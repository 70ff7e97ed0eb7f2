// Browser tests of the Lockbox web console, in one Chromium (speed), driven by
// playwright-core against a real `lockbox server` that
// crates/cli/tests/console_browser.rs started and seeded. Each scenario gets its
// own browser context (its own cookies). Exits non-zero on the first failure.
//
// Environment: LOCKBOX_URL, OWNER_TOKEN, EDITOR_TOKEN, VIEWER_TOKEN,
// BOUND_SECRET, BOUND_FLOW, SCREENSHOT (path of the PNG to write).
import assert from "node:assert/strict";
import {
  URL, OWNER, EDITOR, VIEWER, BOUND, BOUND_FLOW, SCREENSHOT, SECRETS, COOKIE,
  newContext, scenario, finish, signIn, csrfOf, assertNoValues, row,
} from "./lib.mjs";

const MASKED_VALUE = "masked-Value-7Hq2-" + Math.random().toString(36).slice(2);
const RESTRICTED_VALUE = "restricted-Value-Zp9-" + Math.random().toString(36).slice(2);

// ---------------------------------------------------------------- owner
await scenario("owner: headers, sign-in, cookie flags, create masked and restricted, reveal, hide after 30 s", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  await page.clock.install();
  const first = await page.goto(`${URL}/console/sign-in`);
  const h = first.headers();
  assert.match(h["content-security-policy"], /default-src 'none'/);
  assert.match(h["content-security-policy"], /script-src 'self'/);
  assert.match(h["content-security-policy"], /frame-ancestors 'none'/);
  assert.equal(h["x-frame-options"], "DENY");
  assert.equal(h["cache-control"], "no-store");
  assert.equal(h["referrer-policy"], "same-origin");

  await signIn(page, OWNER);
  const cookies = await ctx.cookies();
  const c = cookies.find((c) => c.name === COOKIE);
  assert.ok(c, "session cookie set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, "Strict");
  assert.equal(c.path, "/");
  assert.ok(c.expires > Date.now() / 1000 + 3600, "cookie expires (not a browser-session cookie)");
  assert.ok(c.expires < Date.now() / 1000 + 13 * 3600, "cookie expires within 13 hours");
  assert.ok(!c.value.startsWith("lbx_") && !c.value.includes(OWNER.slice(4)), "cookie is not the token");
  const storage = await page.evaluate(() => JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage)]));
  assert.equal(storage, "[[],[]]", "nothing in browser storage");

  // Validation errors appear next to the field; the typed value is not echoed back.
  await page.getByRole("button", { name: "New secret" }).click();
  const panel = page.getByRole("dialog", { name: "New secret" });
  await assert.doesNotReject(panel.waitFor({ state: "visible" }));
  assert.equal(await page.evaluate(() => document.activeElement.id), "new-name", "focus moves into the panel");
  await panel.getByLabel("Name").fill("bad\u0001name");
  await panel.getByLabel("Value").fill(MASKED_VALUE);
  await panel.getByRole("button", { name: "Save" }).click();
  await page.waitForLoadState();
  const again = page.getByRole("dialog", { name: "New secret" });
  await again.waitFor({ state: "visible" });
  assert.match(await page.locator("#new-name-error").innerText(), /invalid/);
  assert.equal(await page.locator("#new-name").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#new-value").inputValue(), "", "value not echoed");
  await assertNoValues(page, [MASKED_VALUE]);
  // Escape closes the panel.
  await page.keyboard.press("Escape");
  await again.waitFor({ state: "hidden" });

  for (const [name, value, vis, desc] of [
    ["stripe-key", MASKED_VALUE, "Masked", "Stripe live API key"],
    ["signing-key", RESTRICTED_VALUE, "Restricted", "Webhook signing secret"],
  ]) {
    await page.getByRole("button", { name: "New secret" }).click();
    const p = page.getByRole("dialog", { name: "New secret" });
    await p.getByLabel("Name").fill(name);
    const valueInput = p.getByLabel("Value");
    // Multi-line (issue 18): a textarea, masked while typing.
    assert.equal(await valueInput.evaluate((e) => e.tagName), "TEXTAREA");
    assert.equal(await valueInput.getAttribute("autocomplete"), "off");
    await valueInput.fill(value);
    await p.getByLabel("Description").fill(desc);
    await p.getByLabel("Visibility").selectOption({ label: vis });
    await p.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/done=created/);
    await row(page, name).waitFor();
  }
  assert.match(await row(page, "stripe-key").innerText(), /Masked/);
  assert.match(await row(page, "signing-key").innerText(), /Restricted/);
  assert.match(await row(page, "stripe-key").locator(".value").innerText(), /^•{8}$/);
  await assertNoValues(page, [MASKED_VALUE, RESTRICTED_VALUE]);

  // The restricted row has no reveal button; the masked one does.
  assert.equal(await page.getByRole("button", { name: "Reveal signing-key", exact: true }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Reveal stripe-key", exact: true }).count(), 1);

  // Screenshot for review (and the README).
  await page.goto(SECRETS);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Reveal: shown, then hidden again after 30 seconds.
  await page.getByRole("button", { name: "Reveal stripe-key", exact: true }).click();
  const cell = row(page, "stripe-key").locator(".value");
  await page.waitForFunction((v) => document.body.innerText.includes(v), MASKED_VALUE);
  assert.equal(await cell.innerText(), MASKED_VALUE);
  await page.clock.fastForward(20_000);
  assert.equal(await cell.innerText(), MASKED_VALUE, "still shown at 20 s");
  await page.clock.fastForward(11_000);
  await page.waitForFunction(() => !document.querySelector(".value.revealed"));
  assert.match(await cell.innerText(), /^•{8}$/);
  const dom = await page.content();
  assert.ok(!dom.includes(MASKED_VALUE), "value gone from the DOM after the timer");

  // A direct reveal of the restricted secret is refused by the service.
  const csrf = await csrfOf(page);
  const r = await page.request.post(`${SECRETS}/reveal`, {
    headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    data: { name: "signing-key" },
  });
  assert.equal(r.status(), 403);
  assert.equal((await r.json()).error, "forbidden");
  assert.ok(!(await r.text()).includes(RESTRICTED_VALUE));
  await ctx.close();
});

await scenario("owner: search, edit, delete with confirmation, cancel keeps, bound secret shows its flows", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);

  // Search: substring filtering (as you type, and on the server).
  await page.getByLabel("Search").fill("ripe");
  assert.ok(await row(page, "stripe-key").isVisible());
  assert.ok(!(await row(page, "signing-key").isVisible()));
  await page.getByLabel("Search").press("Enter");
  await page.waitForURL(/q=ripe/);
  assert.equal(await page.locator("table#workspace-secrets tbody tr[data-name]").count(), 1);
  await page.goto(`${SECRETS}?q=sig`);
  assert.equal(await row(page, "signing-key").count(), 1);
  assert.equal(await row(page, "stripe-key").count(), 0);
  await page.goto(SECRETS);

  // Edit: the name is read-only (renames are off by default); visibility is shown.
  await page.getByRole("button", { name: "Edit stripe-key", exact: true }).click();
  const edit = page.getByRole("dialog", { name: "Edit secret" });
  await edit.waitFor({ state: "visible" });
  assert.equal(await edit.getByLabel("Name").inputValue(), "stripe-key");
  assert.notEqual(await edit.getByLabel("Name").getAttribute("readonly"), null);
  assert.match(await edit.innerText(), /masked/);
  await edit.getByLabel("Value").fill(MASKED_VALUE + "-v2");
  await edit.getByLabel("Description").fill("Stripe live API key (rotated)");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/done=updated/);
  assert.match(await row(page, "stripe-key").innerText(), /rotated/);
  await assertNoValues(page, [MASKED_VALUE]);

  // Delete → Cancel keeps the secret; Escape also closes the dialog.
  await page.getByRole("button", { name: "Delete stripe-key", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Delete secret" });
  await dialog.waitFor({ state: "visible" });
  assert.match(await dialog.innerText(), /stripe-key/);
  await dialog.getByRole("button", { name: "Cancel", exact: true }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.reload();
  assert.equal(await row(page, "stripe-key").count(), 1, "cancel keeps the secret");
  await page.getByRole("button", { name: "Delete stripe-key", exact: true }).click();
  await dialog.waitFor({ state: "visible" });
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });

  // Delete → Delete removes it.
  await page.getByRole("button", { name: "Delete stripe-key", exact: true }).click();
  await dialog.getByRole("button", { name: "Delete", exact: true }).click();
  await page.waitForURL(/done=deleted/);
  assert.equal(await row(page, "stripe-key").count(), 0);

  // A secret bound to a flow is not deleted; the dialog shows the code and the flow.
  await page.getByRole("button", { name: `Delete ${BOUND}`, exact: true }).click();
  await dialog.getByRole("button", { name: "Delete", exact: true }).click();
  await page.waitForLoadState();
  const refused = page.getByRole("dialog", { name: "Delete secret" });
  await refused.waitFor({ state: "visible" });
  const text = await refused.innerText();
  assert.match(text, /secret_in_use/);
  assert.ok(text.includes(BOUND_FLOW), "the dialog names the flow");
  await page.goto(SECRETS);
  assert.equal(await row(page, BOUND).count(), 1, "bound secret kept");
  await ctx.close();
});

await scenario("CSRF: missing token, wrong token and foreign Origin are refused; unknown pages are 404", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  const csrf = await csrfOf(page);
  const form = (extra) => ({ name: "signing-key", ...extra });
  for (const [what, opts] of [
    ["no token", { form: form({}) }],
    ["wrong token", { form: form({ csrf: "0".repeat(64) }) }],
    ["wrong header", { form: form({}), headers: { "X-CSRF-Token": "nope" } }],
    ["foreign origin", { form: form({ csrf }), headers: { Origin: "http://evil.example" } }],
  ]) {
    const r = await page.request.post(`${SECRETS}/delete`, { ...opts, maxRedirects: 0 });
    assert.equal(r.status(), 403, what);
    assert.match(await r.text(), /forbidden/, what);
  }
  const reveal = await page.request.post(`${SECRETS}/reveal`, {
    headers: { Accept: "application/json" }, data: { name: "signing-key" },
  });
  assert.equal(reveal.status(), 403);
  await page.goto(SECRETS);
  assert.equal(await row(page, "signing-key").count(), 1, "still there after the forged requests");

  const nf = await page.goto(`${URL}/console/no/such/page`);
  assert.equal(nf.status(), 404);
  assert.match(await page.content(), /not_found/);
  assert.equal(nf.headers()["x-frame-options"], "DENY");

  // The /v1 API never accepts the cookie.
  const c = (await ctx.cookies()).find((c) => c.name === COOKIE);
  const api = await fetch(`${URL}/v1/workspaces/default/secrets`, { headers: { Cookie: `${COOKIE}=${c.value}` } });
  assert.equal(api.status, 401);
  const bearer = await fetch(`${URL}/v1/workspaces/default/secrets`, { headers: { Authorization: `Bearer ${c.value}` } });
  assert.equal(bearer.status, 401, "the session secret is not a bearer token");
  await ctx.close();
});

await scenario("sign out ends the session on the server", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  const old = (await ctx.cookies()).find((c) => c.name === COOKIE).value;
  const csrf = await csrfOf(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/console\/sign-in$/);
  assert.equal((await ctx.cookies()).filter((c) => c.name === COOKIE).length, 0, "cookie cleared");
  // Replay the old cookie: signed out.
  const r = await fetch(SECRETS, { headers: { Cookie: `${COOKIE}=${old}` }, redirect: "manual" });
  assert.equal(r.status, 303);
  // Back to the page after signing in again (issue 18, item 7).
  assert.equal(r.headers.get("location"), "/console/sign-in?next=%2Fconsole%2Fw%2Fdefault%2Fsecrets");
  const post = await fetch(`${SECRETS}/reveal`, {
    method: "POST",
    headers: { Cookie: `${COOKIE}=${old}`, "X-CSRF-Token": csrf, "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ name: "signing-key" }),
  });
  assert.equal(post.status, 401);
  assert.equal((await post.json()).error, "unauthenticated");
  await ctx.close();
});

await scenario("revoking the parent token ends its sessions", async () => {
  const made = await fetch(`${URL}/v1/tokens`, {
    method: "POST",
    headers: { Authorization: `Bearer ${OWNER}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "laptop" }),
  });
  assert.equal(made.status, 201);
  const tok = await made.json();
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, tok.token);
  const del = await fetch(`${URL}/v1/tokens/${tok.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${OWNER}` } });
  assert.ok(del.ok);
  await page.goto(SECRETS);
  await page.waitForURL(/\/console\/sign-in\?next=/);
  await ctx.close();
});

// ---------------------------------------------------------------- editor, viewer
await scenario("editor: sees the list and reveals masked values, but no New secret, Edit or Delete; direct delete is forbidden", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, EDITOR);
  await row(page, "signing-key").waitFor();
  assert.equal(await page.getByRole("button", { name: "New secret" }).count(), 0);
  assert.equal(await page.getByLabel("Workspace").count(), 0, "one workspace: no switcher");
  assert.equal(await page.getByRole("button", { name: /^Edit / }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /^Delete / }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Reveal signing-key", exact: true }).count(), 0);
  await page.getByRole("button", { name: `Reveal ${BOUND}`, exact: true }).click();
  await page.waitForSelector(".value.revealed");
  assert.ok((await row(page, BOUND).locator(".value").innerText()).length > 0);

  const csrf = await csrfOf(page);
  const r = await page.request.post(`${SECRETS}/delete`, { form: { name: "signing-key", csrf }, maxRedirects: 0 });
  assert.equal(r.status(), 403);
  assert.match(await r.text(), /forbidden/);
  const c = await page.request.post(SECRETS, {
    form: { name: "editor-made", value: "x", visibility: "masked", csrf }, maxRedirects: 0,
  });
  assert.equal(c.status(), 403);
  const m = await page.goto(`${URL}/console/w/default/members`);
  assert.equal(m.status(), 403);
  assert.match(await page.content(), /Not allowed/);
  await page.goto(SECRETS);
  assert.equal(await row(page, "signing-key").count(), 1);
  assert.equal(await row(page, "editor-made").count(), 0);
  await ctx.close();
});

await scenario("viewer: no reveal buttons; a direct reveal is forbidden", async () => {
  const ctx = await newContext({ viewport: { width: 375, height: 740 } });
  const page = await ctx.newPage();
  await signIn(page, VIEWER);
  await row(page, BOUND).waitFor();
  assert.equal(await page.getByRole("button", { name: /^Reveal / }).count(), 0);
  const csrf = await csrfOf(page);
  const r = await page.request.post(`${SECRETS}/reveal`, {
    headers: { "X-CSRF-Token": csrf, Accept: "application/json" }, data: { name: BOUND },
  });
  assert.equal(r.status(), 403);
  assert.equal((await r.json()).error, "forbidden");
  // Phone width: nothing wider than the screen.
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 375, `page is ${wide}px wide at 375px`);
  await ctx.close();
});

await scenario("owner: members, tokens and audit pages; workspace switcher", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  // Several workspaces: the switcher moves between them (the editor has one: no switcher).
  await page.getByLabel("Workspace").selectOption("staging");
  await page.waitForURL(/\/console\/w\/staging\/secrets$/);
  assert.equal(await page.locator('tr[data-name="staging-only"]').count(), 1);
  assert.equal(await page.locator(`tr[data-name="${BOUND}"]`).count(), 0);
  await page.getByLabel("Workspace").selectOption("default");
  await page.waitForURL(/\/console\/w\/default\/secrets$/);
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByLabel("User name").fill("carol");
  await page.getByLabel("Role", { exact: true }).selectOption("editor");
  await page.getByRole("button", { name: "Invite" }).click();
  await page.waitForLoadState();
  assert.match(await page.locator(".flash").innerText(), /carol[\s\S]*lbx_/);
  await page.getByLabel("Role of carol", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Change role of carol" }).click();
  await page.waitForLoadState();
  assert.match(await page.locator(".flash").innerText(), /carol' is now viewer/);
  // Removing asks first (issue 18, item 7).
  await page.getByRole("button", { name: "Remove carol" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Remove" }).click();
  await page.waitForURL(/\/members$/);
  await page.getByRole("button", { name: "Remove carol" }).waitFor({ state: "detached" });

  await page.getByRole("link", { name: "Tokens" }).click();
  await page.getByLabel("Token name").fill("ci-deploy");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.waitForLoadState();
  assert.match(await page.locator(".flash").innerText(), /ci-deploy[\s\S]*lbx_/);
  // Revoking asks first (issue 18, item 7).
  await page.getByRole("button", { name: "Revoke ci-deploy" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Revoke" }).click();
  await page.locator(".flash", { hasText: "revoked" }).waitFor();

  await page.getByRole("link", { name: "Audit" }).click();
  await page.getByLabel("Action").fill("secret.reveal");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/action=secret.reveal/);
  const rows = await page.locator("table.audit tbody tr").allInnerTexts();
  assert.ok(rows.length >= 2, "reveals are audited");
  assert.ok(rows.every((r) => r.includes("secret.reveal")));
  assert.ok(rows.some((r) => r.includes("denied:forbidden")), "refused reveals are audited");
  await page.goto(`${URL}/console/w/default/audit?secret=signing-key&actor=user%3Aowner`);
  const r2 = await page.locator("table.audit tbody tr").allInnerTexts();
  assert.ok(r2.length >= 1 && r2.every((r) => r.includes("signing-key") && r.includes("user:owner")));
  await assertNoValues(page, [MASKED_VALUE, RESTRICTED_VALUE]);
  await ctx.close();
});

await finish();
