// Lists that scale (issue 18, item 5): a workspace of 2,000 secrets, paged by the
// server (every secret reachable), sortable by name and by update (the sort in
// the URL), searched over names, descriptions and labels (as you type: only the
// list is fetched and swapped in; and without JavaScript, by form GET), hashed
// assets cacheable forever, pages compressed, the reveal answer never compressed.
//
// Load and keystroke times are MEASURED and printed as `bench:` lines (written to
// docs/benchmarks.md by hand), not asserted: the assertions are about correctness.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { URL, OWNER, SHOTS, scenario, finish, newContext, signIn, api } from "./lib.mjs";

// Named to sort after "default", which sign-in opens first.
const WS = "scale";
const N = 2000;
const BIG = `${URL}/console/w/${WS}/secrets`;
const pad = (i) => String(i).padStart(4, "0");
const bench = {};

async function seed() {
  try {
    await api("POST", "/v1/workspaces", { name: WS });
  } catch (e) {
    if (!/409|conflict|exists/.test(String(e))) throw e;
  }
  const t0 = Date.now();
  const names = Array.from({ length: N }, (_, i) => i);
  // Parallel batches of 32 requests.
  for (let b = 0; b < names.length; b += 32) {
    await Promise.all(names.slice(b, b + 32).map((i) =>
      api("PUT", `/v1/workspaces/${WS}/secrets/svc-${pad(i)}`, {
        value: `big-value-${pad(i)}-${"x".repeat(12)}`,
        description: `Service ${pad(i)} credentials`,
        ...(i === 42 ? { labels: { team: "billing-squad" } } : {}),
      })));
  }
  bench.seed_ms = Date.now() - t0;
  // One secret updated after all others (in a later millisecond): the newest under "Updated".
  await new Promise((r) => setTimeout(r, 20));
  await api("PUT", `/v1/workspaces/${WS}/secrets/svc-${pad(7)}`, {
    value: `big-value-${pad(7)}-updated-${"y".repeat(8)}`,
    description: `Service ${pad(7)} credentials`,
  });
}

/** HTML attribute text → text (minijinja escapes `/`, `&`, quotes). */
function unescape(s) {
  return s.replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCharCode(Number(d)))
    .replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

function names(page) {
  return page.locator("table#workspace-secrets tbody tr[data-name]").evaluateAll(
    (trs) => trs.map((t) => t.getAttribute("data-name")));
}

await scenario("lists: 2,000 secrets load paged (timed), the pager reaches every secret without JS", async () => {
  await seed();
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  // Cold and warm loads of the big list, as the browser measures them.
  const loads = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await page.goto(BIG, { waitUntil: "load" });
    const wall = Date.now() - t0;
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      return { load: n.loadEventEnd - n.startTime, bytes: n.encodedBodySize, decoded: n.decodedBodySize, ttfb: n.responseStart - n.requestStart };
    });
    loads.push({ wall, ...nav });
  }
  bench.load = loads;
  assert.deepEqual(await names(page), Array.from({ length: 50 }, (_, i) => `svc-${pad(i)}`));
  assert.match(await page.locator("#workspace-secrets-count").innerText(), /1–50 of 2000/);
  assert.match(await page.locator(`#workspace-secrets th[aria-sort="ascending"]`).innerText(), /^name/i);

  // Every secret is reachable by following "Next" (plain GETs, as without JS).
  const seen = [];
  let next = `/console/w/${WS}/secrets`;
  let pages = 0;
  while (next) {
    const html = await (await page.request.get(`${URL}${unescape(next)}`)).text();
    for (const m of html.matchAll(/<tr data-name="([^"]+)"/g)) seen.push(m[1]);
    const n = html.match(/<a class="btn small" href="([^"]+)" rel="next"/);
    next = n ? n[1] : null;
    pages++;
    assert.ok(pages <= 41, "the pager ends");
  }
  assert.equal(pages, 40);
  assert.equal(new Set(seen).size, N);
  assert.deepEqual(seen, [...seen].sort(), "name order across pages");
  await ctx.close();
});

await scenario("lists: sort by name and by update, the sort kept in the URL and by the pager", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(BIG);
  await page.locator("#workspace-secrets th a.sort", { hasText: "Updated" }).click();
  await page.waitForURL(/sort=updated&dir=desc/);
  await page.locator(`#workspace-secrets th[aria-sort="descending"]`, { hasText: "Updated" }).waitFor();
  assert.equal((await names(page))[0], "svc-0007", "the newest first");
  // Reloading the URL shows the same order (the sort lives in the URL).
  await page.reload();
  assert.equal((await names(page))[0], "svc-0007");
  const stamps = await page.locator("table#workspace-secrets tbody time").evaluateAll(
    (ts) => ts.map((t) => Date.parse(t.getAttribute("datetime"))));
  assert.deepEqual(stamps, [...stamps].sort((a, b) => b - a), "newest to oldest");
  // The pager keeps the sort.
  await page.getByRole("navigation", { name: "Workspace secrets pages" }).getByRole("link", { name: "Next" }).click();
  await page.waitForURL(/sort=updated&dir=desc&page=2/);
  // Name, then name descending.
  await page.locator("#workspace-secrets th a.sort", { hasText: "Name" }).click();
  await page.waitForURL((u) => !u.search.includes("sort="));
  assert.equal((await names(page))[0], "svc-0000");
  await page.locator("#workspace-secrets th a.sort", { hasText: "Name" }).click();
  await page.waitForURL(/dir=desc/);
  await page.locator(`#workspace-secrets th[aria-sort="descending"]`, { hasText: "Name" }).waitFor();
  assert.equal((await names(page))[0], "svc-1999");
  await ctx.close();
});

await scenario("lists: search over names, descriptions and labels, as you type (timed) and by form GET", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(BIG);
  // A keystroke: time from the input event to the new list in the page, and the
  // fragment's own round trip (request start to response end).
  const keystroke = (text) => page.evaluate((text) => new Promise((resolve) => {
    const instant = (window.__instant = window.__instant || []);
    const input = document.getElementById("q");
    const list = document.querySelector("[data-list]");
    performance.clearResourceTimings();
    list.addEventListener("lockbox:list", () => {
      const total = performance.now() - t0;
      const r = performance.getEntriesByType("resource").filter((e) => e.name.includes("fragment=1")).pop();
      resolve({ total, fetch: r ? r.responseEnd - r.startTime : null, bytes: r ? r.encodedBodySize : null });
    }, { once: true });
    input.value = text;
    const t0 = performance.now();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    // The rows already shown are filtered at once, in the input handler.
    instant.push(performance.now() - t0);
  }), text);
  const typed = [];
  for (const t of ["s", "sv", "svc", "svc-", "svc-1", "svc-12", "svc-123"]) typed.push(await keystroke(t));
  bench.keystroke = typed;
  bench.instant_filter_ms = await page.evaluate(() => window.__instant);
  assert.deepEqual(await names(page), ["svc-1230", "svc-1231", "svc-1232", "svc-1233", "svc-1234", "svc-1235", "svc-1236", "svc-1237", "svc-1238", "svc-1239"]);
  assert.match(page.url(), /q=svc-123/);
  // Description.
  await keystroke("Service 0999 cred");
  assert.deepEqual(await names(page), ["svc-0999"]);
  // The new count is announced (a live region outside the swapped list).
  assert.match(await page.locator("#live").innerText(), /^1 secret matching “Service 0999 cred”\.$/);
  // Label value and key.
  await keystroke("billing-sq");
  assert.deepEqual(await names(page), ["svc-0042"]);
  assert.match(await page.locator('tr[data-name="svc-0042"]').innerText(), /team=billing-squad/);
  // Name prefix through the store's prefix scan.
  await keystroke("name:svc-19");
  assert.equal((await names(page)).length, 50);
  assert.match(await page.locator("#workspace-secrets-count").innerText(), /of 100 /);
  // Nothing.
  await keystroke("no-such-thing");
  assert.match(await page.locator("table#workspace-secrets tbody").innerText(), /No secret matches/);

  // Without JavaScript: the form is a GET.
  const nojs = await browserNoJs();
  const p2 = await nojs.newPage();
  await signIn(p2, OWNER);
  await p2.goto(BIG);
  await p2.getByLabel("Search").fill("billing");
  await p2.getByRole("button", { name: "Filter" }).click();
  await p2.waitForURL(/q=billing/);
  assert.deepEqual(await names(p2), ["svc-0042"]);
  await nojs.close();
  await page.screenshot({ path: `${SHOTS}/console-list-search.png` });
  await ctx.close();
});

async function browserNoJs() {
  return newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
}

await scenario("lists: after an edit or a delete the list comes back as it was (search, sort, page)", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${BIG}?sort=name&dir=desc&page=3`);
  const shown = await names(page);
  const target = shown[1];
  await page.getByRole("button", { name: `Edit ${target}`, exact: true }).click();
  const edit = page.getByRole("dialog", { name: "Edit secret" });
  await edit.waitFor({ state: "visible" });
  await edit.getByLabel("Description").fill("Kept the list state");
  await edit.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/done=updated/);
  const url = new globalThis.URL(page.url());
  assert.equal(url.searchParams.get("page"), "3");
  assert.equal(url.searchParams.get("sort"), "name");
  assert.equal(url.searchParams.get("dir"), "desc");
  assert.deepEqual(await names(page), shown, "the same page of the same sort");
  // A search typed into the box (the URL follows it) is kept too.
  await page.getByLabel("Search").fill("Kept the list");
  await page.waitForURL(/q=Kept/);
  await page.getByRole("button", { name: `Delete ${target}`, exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Delete secret" });
  await dialog.getByRole("button", { name: "Delete", exact: true }).click();
  await page.waitForURL(/done=deleted/);
  assert.equal(new globalThis.URL(page.url()).searchParams.get("q"), "Kept the list");
  await ctx.close();
});

await scenario("lists: hashed assets cached forever, pages compressed, the reveal answer never", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(BIG);
  const css = await page.locator('link[rel="stylesheet"]').getAttribute("href");
  const js = await page.locator("script[src]").getAttribute("src");
  for (const a of [css, js]) {
    const r = await page.request.get(`${URL}${a}`);
    assert.equal(r.headers()["cache-control"], "public, max-age=31536000, immutable", a);
  }
  const missing = await page.request.get(`${URL}/console/assets/app.000000000000.js`);
  assert.equal(missing.status(), 404);
  assert.equal(missing.headers()["cache-control"], "no-store");
  // The page itself: compressed, never cached.
  const r = await page.request.get(BIG, { headers: { "accept-encoding": "gzip" } });
  assert.equal(r.headers()["content-encoding"], "gzip");
  assert.equal(r.headers()["cache-control"], "no-store");
  // The reveal answer (a value beside text others chose): never compressed.
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  const rv = await page.request.post(`${URL}/console/w/${WS}/secrets/reveal`, {
    headers: { "accept-encoding": "gzip", "x-csrf-token": csrf, "content-type": "application/json", accept: "application/json", origin: URL },
    data: { name: "svc-0001" },
  });
  assert.equal(rv.status(), 200);
  assert.equal(rv.headers()["content-encoding"], undefined);
  assert.equal(rv.headers()["cache-control"], "no-store");
  // The /v1 API is not compressed at all.
  const v1 = await page.request.get(`${URL}/v1/workspaces/${WS}/secrets?limit=1000`, {
    headers: { authorization: `Bearer ${OWNER}`, "accept-encoding": "gzip" },
  });
  assert.equal(v1.headers()["content-encoding"], undefined);

  await page.goto(BIG);
  await page.screenshot({ path: `${SHOTS}/console-list.png` });
  await ctx.close();
});

console.log(`bench: ${JSON.stringify(bench)}`);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(bench, null, 2));
await finish();
