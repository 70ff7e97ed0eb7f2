// Forms (issue 18, item 7): post/redirect/get, one token per "Create token" even
// when double-clicked, reloaded or replayed (the new token shown exactly once),
// confirmations before revoke and remove (with a warning on your own session), a
// session that ends mid-edit keeps the form (never the value) and returns there
// after signing in, and errors in words.
import assert from "node:assert/strict";
import { URL, OWNER, SECRETS, scenario, finish, newContext, signIn, api, assertNoValues } from "./lib.mjs";

const TOKENS = `${URL}/console/w/default/tokens`;
const MEMBERS = `${URL}/console/w/default/members`;

async function tokensNamed(name) {
  const all = await api("GET", "/v1/tokens");
  return all.tokens.filter((t) => t.name === name);
}

await scenario("forms: double-clicking Create token makes one token, shown once; reload and replay make none", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(TOKENS);
  let posted = null;
  page.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/tokens/create")) posted = posted || r.postData(); });
  await page.getByLabel("Token name").fill("dbl-click");
  const shownPage = page.waitForResponse((r) => r.request().method() === "GET" && r.url() === TOKENS);
  await page.getByRole("button", { name: "Create token" }).dblclick();
  await page.waitForURL(/\/tokens$/);
  // The page holding the fresh token is never compressed (BREACH).
  assert.equal((await (await shownPage).allHeaders())["content-encoding"], undefined);
  const flash = page.locator(".flash", { hasText: "dbl-click" });
  await flash.waitFor();
  const shown = (await flash.locator("code.once").innerText()).trim();
  assert.match(shown, /^lbx_/);
  // Whatever the double click sent, one token exists.
  await page.waitForTimeout(300);
  assert.equal((await tokensNamed("dbl-click")).length, 1, "one token");
  // The answer to the POST was a redirect: reloading shows the page, not the token again.
  const again = await page.reload();
  assert.equal(await page.locator("code.once").count(), 0, "the token is shown once");
  assert.equal((await again.allHeaders())["content-encoding"], "gzip", "pages without one are");
  assert.ok(!(await page.content()).includes(shown));
  assert.equal((await tokensNamed("dbl-click")).length, 1);
  // Replaying the very same POST (same session, same nonce) is refused, in words.
  assert.ok(posted && posted.includes("nonce="), "the form carries a nonce");
  const replay = await page.request.post(`${TOKENS}/create`, {
    headers: { "content-type": "application/x-www-form-urlencoded", origin: URL },
    data: posted,
    maxRedirects: 0,
  });
  assert.equal(replay.status(), 303);
  await page.goto(TOKENS);
  assert.match(await page.locator(".alert").innerText(), /already sent[\s\S]*nothing was done a second time/);
  assert.equal((await tokensNamed("dbl-click")).length, 1, "still one token");
  // A failed create keeps the typed fields after the redirect.
  await page.getByLabel("Token name").fill("x".repeat(130));
  await page.getByLabel("Expires after (days)").fill("7");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.waitForURL(/\/tokens$/);
  await page.locator(".alert").waitFor();
  assert.equal(await page.getByLabel("Token name").inputValue(), "x".repeat(130));
  assert.equal(await page.getByLabel("Expires after (days)").inputValue(), "7");
  await page.reload();
  assert.equal(await page.locator(".alert").count(), 0, "a reload does not send it again");
  await ctx.close();
});

await scenario("forms: revoke and remove ask first (Cancel and Escape keep), with a warning on your own session", async () => {
  const made = await api("POST", "/v1/tokens", { name: "confirm-me" });
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, made.token);
  await page.goto(TOKENS);
  // The token this session stands on: the dialog warns that it signs you out.
  const own = page.getByRole("button", { name: "Revoke confirm-me" });
  await own.click();
  const dlg = page.getByRole("alertdialog");
  await dlg.waitFor();
  assert.match(await dlg.innerText(), /Revoke token “confirm-me”\?/);
  assert.match(await dlg.innerText(), /signs you out/);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Cancel", "focus starts on Cancel");
  await page.keyboard.press("Escape");
  await dlg.waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Revoke confirm-me", "focus back on the button");
  // Cancel keeps it too.
  await own.click();
  await dlg.getByRole("button", { name: "Cancel" }).click();
  await page.reload();
  assert.equal((await tokensNamed("confirm-me"))[0].revoked_at ?? null, null, "not revoked");

  // Another token: confirm revokes it.
  await api("POST", "/v1/tokens", { name: "confirm-other", workspace: "default", role: "viewer" });
  await page.reload();
  await page.getByRole("button", { name: "Revoke confirm-other" }).click();
  assert.doesNotMatch(await dlg.innerText(), /signs you out/);
  await dlg.getByRole("button", { name: "Revoke" }).click();
  await page.locator(".flash", { hasText: "revoked" }).waitFor();
  assert.ok((await tokensNamed("confirm-other"))[0].revoked_at, "revoked");
  await ctx.close();

  // Members: remove asks; yourself is warned.
  await api("POST", "/v1/workspaces/default/members", { user: "dora", role: "viewer" });
  const c2 = await newContext();
  const p2 = await c2.newPage();
  await signIn(p2, OWNER);
  await p2.goto(MEMBERS);
  await p2.getByRole("button", { name: "Remove dora" }).click();
  const d2 = p2.getByRole("alertdialog");
  assert.match(await d2.innerText(), /Remove dora from workspace default\?/);
  await d2.getByRole("button", { name: "Cancel" }).click();
  await p2.reload();
  assert.equal(await p2.getByRole("button", { name: "Remove dora" }).count(), 1, "still a member");
  await p2.getByRole("button", { name: "Remove owner" }).click();
  assert.match(await d2.innerText(), /This is you/);
  await p2.keyboard.press("Escape");
  await c2.close();
});

await scenario("forms: a session that ends mid-edit keeps the form (not the value) and returns there after signing in", async () => {
  const made = await api("POST", "/v1/tokens", { name: "ends-mid-edit" });
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, made.token);
  await page.goto(`${SECRETS}?q=kept`);
  await page.getByRole("button", { name: "New secret" }).click();
  const panel = page.getByRole("dialog", { name: "New secret" });
  const VALUE = "kept-form-value-never-kept-1234";
  await panel.getByLabel("Name").fill("kept-across-sign-in");
  await panel.getByLabel("Value").fill(VALUE);
  await panel.getByLabel("Description").fill("Typed before the session ended");
  // The session ends (its token is revoked elsewhere).
  const del = await fetch(`${URL}/v1/tokens/${made.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${OWNER}` } });
  assert.ok(del.ok);
  await panel.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/console\/sign-in\?next=/);
  const body = await page.locator("main").innerText();
  assert.match(body, /session ended/i);
  assert.doesNotMatch(body, /\bunauthenticated\b/, "in words, not a code");
  await page.getByLabel("Token").fill(OWNER);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Back where the user was (with the search), the form open and refilled.
  await page.waitForURL((u) => u.pathname === "/console/w/default/secrets" && u.search === "?q=kept");
  const again = page.getByRole("dialog", { name: "New secret" });
  await again.waitFor({ state: "visible" });
  assert.equal(await again.getByLabel("Name").inputValue(), "kept-across-sign-in");
  assert.equal(await again.getByLabel("Description").inputValue(), "Typed before the session ended");
  assert.equal(await again.getByLabel("Value").inputValue(), "", "the value is never kept");
  assert.match(await again.innerText(), /except any secret value/);
  await assertNoValues(page, [VALUE]);
  // Taken once: a reload shows the plain page.
  await page.reload();
  assert.ok(await page.getByRole("dialog", { name: "New secret" }).isHidden());
  // A `next` that leaves the console is ignored.
  const c2 = await newContext();
  const p2 = await c2.newPage();
  await p2.goto(`${URL}/console/sign-in?next=//evil.example/x`);
  await p2.getByLabel("Token").fill(OWNER);
  await p2.getByRole("button", { name: "Sign in" }).click();
  await p2.waitForURL(/\/console\/w\/default\/secrets/);
  await c2.close();
  await ctx.close();
});

await scenario("forms: a failed secret form answers with a redirect; the panel opens again and a reload sends nothing", async () => {
  await api("PUT", "/v1/workspaces/default/secrets/prg-taken", { value: "prg-seed-value-123456", description: "taken" });
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  let posts = 0;
  page.on("request", (r) => { if (r.method() === "POST") posts++; });
  await page.getByRole("button", { name: "New secret" }).click();
  const panel = page.getByRole("dialog", { name: "New secret" });
  const VALUE = "prg-typed-value-never-shown-99";
  await panel.getByLabel("Name").fill("prg-taken");
  await panel.getByLabel("Value").fill(VALUE);
  await panel.getByLabel("Description").fill("second try");
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST"),
    panel.getByRole("button", { name: "Save" }).click(),
  ]);
  assert.equal(resp.status(), 303, "the POST answers with a redirect");
  await panel.waitFor({ state: "visible" });
  assert.match(await panel.innerText(), /already exists/);
  assert.equal(await panel.getByLabel("Name").inputValue(), "prg-taken");
  assert.equal(await panel.getByLabel("Description").inputValue(), "second try");
  await assertNoValues(page, [VALUE]);
  assert.equal(posts, 1);
  await page.reload();
  assert.equal(posts, 1, "a reload sends no form");
  assert.ok(await page.getByRole("dialog", { name: "New secret" }).isHidden());
  await ctx.close();
});

await scenario("forms: a refused sign-in answers with a redirect and words; a reload sends nothing", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  let posts = 0;
  page.on("request", (r) => { if (r.method() === "POST") posts++; });
  await page.goto(`${URL}/console/sign-in`);
  await page.getByLabel("Token").fill("lbx_not-a-real-token-at-all");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/console\/sign-in\?failed=unauthenticated$/);
  assert.match(await page.locator("#token-error").innerText(), /was not accepted/);
  assert.ok(!(await page.content()).includes("lbx_not-a-real-token-at-all"), "the token is not echoed");
  await page.reload();
  assert.equal(posts, 1, "a reload sends no token again");
  await ctx.close();
});

await scenario("forms: a failed form on a secret's page answers with a redirect back to it; the error shows once", async () => {
  await api("PUT", "/v1/workspaces/default/secrets/prg-page", { value: "prg-page-value-123456", description: "on its page" });
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${URL}/console/w/default/secret?name=prg-page&scope=workspace`);
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  // A rollback to a version that does not exist: refused, as a redirect to the page.
  const r = await page.request.post(`${URL}/console/w/default/secret/rollback`, {
    form: { csrf, name: "prg-page", scope: "workspace", version: "99" },
    headers: { origin: URL },
    maxRedirects: 0,
  });
  assert.equal(r.status(), 303);
  assert.equal(r.headers()["location"], "/console/w/default/secret?name=prg-page&scope=workspace");
  await page.goto(`${URL}${r.headers()["location"]}`);
  assert.match(await page.locator("main").innerText(), /version 99|not found|no version/i);
  await page.reload();
  assert.doesNotMatch(await page.locator("main").innerText(), /version 99/i, "shown once");
  await ctx.close();
});

await scenario("forms: a session that ends while a secret's page is edited returns there with the form kept (not the value)", async () => {
  await api("PUT", "/v1/workspaces/default/secrets/kept-on-page", { value: "kept-page-original-1234", description: "before" });
  const made = await api("POST", "/v1/tokens", { name: "ends-on-page" });
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, made.token);
  const PAGE = `${URL}/console/w/default/secret?name=kept-on-page&scope=workspace`;
  await page.goto(PAGE);
  const VALUE = "kept-page-typed-value-5678";
  await page.locator("#s-edit-value").fill(VALUE);
  await page.locator("#s-edit-description").fill("typed on the page");
  const del = await fetch(`${URL}/v1/tokens/${made.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${OWNER}` } });
  assert.ok(del.ok);
  await page.locator("#s-edit-description").locator("xpath=ancestor::form").getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/\/console\/sign-in\?next=/);
  await page.getByLabel("Token").fill(OWNER);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === "/console/w/default/secret" && u.searchParams.get("name") === "kept-on-page");
  assert.equal(await page.locator("#s-edit-description").inputValue(), "typed on the page");
  assert.equal(await page.locator("#s-edit-value").inputValue(), "", "never the value");
  assert.match(await page.locator("main").innerText(), /except any secret value/);
  await assertNoValues(page, [VALUE]);
  assert.equal((await api("GET", "/v1/workspaces/default/secrets/kept-on-page")).description, "before", "nothing saved");
  await ctx.close();
});

await finish();
