// Shared pieces of the console's browser tests: the environment that
// crates/cli/tests/console_browser.rs passes, one Chromium per file, a scenario
// runner that stops at the first failure, sign-in, and API calls for seeding.
//
// A test file: `import { ... } from "./lib.mjs"`, await scenario(...) calls, then
// `await finish()`.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

export const URL = process.env.LOCKBOX_URL;
export const OWNER = process.env.OWNER_TOKEN;
export const EDITOR = process.env.EDITOR_TOKEN;
export const VIEWER = process.env.VIEWER_TOKEN;
export const BOUND = process.env.BOUND_SECRET;
export const BOUND_FLOW = process.env.BOUND_FLOW;
export const SCREENSHOT = process.env.SCREENSHOT;
/** Directory for screenshots (the cargo target dir). */
export const SHOTS = process.env.SHOTS;
for (const [k, v] of Object.entries({ URL, OWNER, EDITOR, VIEWER, BOUND, BOUND_FLOW, SCREENSHOT, SHOTS })) {
  if (!v) { console.error(`missing ${k}`); process.exit(2); }
}
export const SECRETS = `${URL}/console/w/default/secrets`;
export const COOKIE = "lockbox_session";

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

export async function newContext(opts = {}) {
  const ctx = await browser.newContext(opts);
  ctx.setDefaultTimeout(10_000);
  return ctx;
}

let failures = 0;
export async function scenario(name, fn) {
  if (failures) { console.log(`skip ${name}`); return; }
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e && e.stack || e}`);
  }
}

/** Closes the browser and exits non-zero when a scenario failed. */
export async function finish() {
  await browser.close();
  if (failures) {
    console.log(`${failures} scenario(s) failed`);
    process.exit(1);
  }
  console.log("all scenarios passed");
}

export async function signIn(page, token, workspace = "default") {
  await page.goto(`${URL}/`);
  await page.waitForURL(/\/console\/sign-in$/);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(new RegExp(`/console/w/${workspace}/secrets`));
}

export async function csrfOf(page) {
  return page.locator('meta[name="csrf-token"]').getAttribute("content");
}

/** Neither value anywhere: page source (as served), serialized DOM, form fields. */
export async function assertNoValues(page, values) {
  const source = await (await page.request.get(page.url())).text();
  const dom = await page.content();
  const fields = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input, textarea")).map((e) => e.value).join("\n"));
  const text = await page.evaluate(() => document.body.innerText);
  for (const v of values) {
    for (const [where, s] of [["source", source], ["DOM", dom], ["fields", fields], ["text", text]]) {
      assert.ok(!s.includes(v), `a value is in the page ${where}`);
    }
  }
}

export function row(page, name) {
  return page.locator(`table#workspace-secrets tr[data-name="${name}"]`);
}

/** A /v1 call with a bearer token; returns the parsed JSON body (or null), throws on a non-2xx. */
export async function api(method, path, body, token = OWNER) {
  const r = await fetch(`${URL}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
