// The console's audit page (issue 18): paging with Older/Newer cursors reaches the
// oldest row (over 600 rows seeded through the API, beyond the old newest-500
// limit), the outcome filter splits allowed from denied, and the CSV and JSON
// downloads hold exactly the filtered rows and parse, with no value in them.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import {
  URL, OWNER, VIEWER, newContext, scenario, finish, signIn, assertNoValues, api,
} from "./lib.mjs";

const NAME = "audit18-pager-" + Math.random().toString(36).slice(2, 8);
const VALUE = "audit18-Value-" + Math.random().toString(36).slice(2);
const SEEDED = 620;

/** RFC 4180 CSV: rows of fields (quoted fields may hold commas, quotes, line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", i = 0, quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (ch === '"') { quoted = false; i++; continue; }
      field += ch; i++; continue;
    }
    if (ch === '"' && field === "") { quoted = true; i++; continue; }
    if (ch === ",") { row.push(field); field = ""; i++; continue; }
    if (ch === "\r" && text[i + 1] === "\n") { row.push(field); rows.push(row); row = []; field = ""; i += 2; continue; }
    field += ch; i++;
  }
  assert.ok(!quoted, "CSV ends inside a quoted field");
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** Every audit row of the default workspace through /v1, newest first. */
async function allRows() {
  const out = [];
  let before = null;
  for (;;) {
    const q = before === null ? "limit=1000" : `limit=1000&before=${before}`;
    const page = await api("GET", `/v1/workspaces/default/audit?${q}`);
    out.push(...page.events);
    if (page.next_before == null) return out;
    before = page.next_before;
  }
}

async function seqsOnPage(page) {
  const cells = await page.locator("table.audit tbody tr td[data-label='#']").allInnerTexts();
  return cells.map((c) => Number(c.trim()));
}

/** Walks Older from the current page to the end; returns every seq seen, in order. */
async function walkOlder(page) {
  const seen = await seqsOnPage(page);
  for (let n = 0; n < 50; n++) {
    const older = page.getByRole("link", { name: "Older", exact: true });
    if (await older.count() === 0) return seen;
    await older.click();
    await page.waitForLoadState();
    seen.push(...await seqsOnPage(page));
  }
  throw new Error("Older never ended");
}

await scenario("audit: seed over 600 rows through the API", async () => {
  for (let i = 0; i < SEEDED; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, SEEDED - i) }, (_, k) =>
      api("PUT", `/v1/workspaces/default/secrets/${NAME}`, { value: `${VALUE}-${i + k}` })));
  }
  // Refusals for the outcome filter: a viewer may not write.
  const r = await fetch(`${URL}/v1/workspaces/default/secrets/${NAME}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${VIEWER}`, "content-type": "application/json" },
    body: JSON.stringify({ value: `${VALUE}-viewer` }),
  });
  assert.equal(r.status, 403);
  await api("DELETE", `/v1/workspaces/default/secrets/${NAME}`);
  const rows = await allRows();
  assert.ok(rows.length > 600, `${rows.length} rows`);
});

await scenario("audit: Older pages reach the oldest row, Newer comes back", async () => {
  const rows = await allRows();
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${URL}/console/w/default/audit`);
  const first = await seqsOnPage(page);
  assert.equal(first.length, 100, "100 rows to a page");
  assert.equal(await page.getByRole("link", { name: "Newer", exact: true }).count(), 0);
  assert.match(await page.locator("#audit-range").innerText(), new RegExp(`#${first[0]} to #${first[99]}`));

  // Two pages down, then Newer shows the page before again.
  await page.getByRole("link", { name: "Older", exact: true }).click();
  await page.waitForLoadState();
  const second = await seqsOnPage(page);
  await page.getByRole("link", { name: "Older", exact: true }).click();
  await page.waitForLoadState();
  await page.getByRole("link", { name: "Newer", exact: true }).click();
  await page.waitForLoadState();
  assert.deepEqual(await seqsOnPage(page), second, "Newer returns to the page before");
  await page.getByRole("link", { name: "Newer", exact: true }).click();
  await page.waitForLoadState();
  const back = await seqsOnPage(page);
  // New rows (sign-in) may have arrived meanwhile; the page holds the newest 100.
  assert.ok(back.includes(first[99]), "Newer reaches the first page again");

  await page.getByRole("link", { name: "Newest" }).click();
  await page.waitForLoadState();
  const all = await walkOlder(page);
  for (let i = 1; i < all.length; i++) assert.ok(all[i] < all[i - 1], `newest first, no repeats at ${i}`);
  const oldest = rows[rows.length - 1].seq;
  assert.equal(all[all.length - 1], oldest, "the last page ends with the oldest row");
  for (const r of rows) assert.ok(all.includes(r.seq), `row ${r.seq} is on some page`);
  await assertNoValues(page, [VALUE]);
  await ctx.close();
});

await scenario("audit: filter by outcome and by secret, across pages", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${URL}/console/w/default/audit`);
  await page.getByLabel("Outcome").selectOption("denied");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/outcome=denied/);
  let outcomes = await page.locator("table.audit tbody td[data-label='Outcome']").allInnerTexts();
  assert.ok(outcomes.length >= 1 && outcomes.every((o) => o.startsWith("denied")), outcomes.join());
  await page.getByLabel("Outcome").selectOption("allowed");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/outcome=allowed/);
  outcomes = await page.locator("table.audit tbody td[data-label='Outcome']").allInnerTexts();
  assert.equal(outcomes.length, 100);
  assert.ok(outcomes.every((o) => o === "ok"), outcomes.join());

  await page.goto(`${URL}/console/w/default/audit?secret=${NAME}&outcome=allowed`);
  const seqs = await walkOlder(page);
  // SEEDED writes and the delete; the filters stay on every page.
  assert.equal(seqs.length, SEEDED + 1);
  assert.match(page.url(), new RegExp(`secret=${NAME}`));
  assert.match(page.url(), /outcome=allowed/);
  await ctx.close();
});

await scenario("audit: CSV and JSON downloads hold the filtered rows, no values", async () => {
  const ctx = await newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(`${URL}/console/w/default/audit?secret=${NAME}`);
  const expected = (await allRows()).filter((r) => (r.target || "").includes(NAME));
  assert.ok(expected.length >= SEEDED + 1, "the writes and the delete");

  const [csvDl] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "CSV" }).click(),
  ]);
  assert.match(csvDl.suggestedFilename(), /^audit-default\.csv$/);
  const csv = await readFile(await csvDl.path(), "utf8");
  const table = parseCsv(csv);
  assert.deepEqual(table[0], ["seq", "at", "actor", "action", "target", "outcome", "request_id", "detail"]);
  const body = table.slice(1);
  assert.equal(body.length, expected.length);
  assert.deepEqual(body.map((r) => Number(r[0])), expected.map((r) => r.seq));
  assert.ok(body.every((r) => r.length === 8 && r[4] === NAME));
  for (const r of body) JSON.parse(r[7]);

  const [jsonDl] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "JSON" }).click(),
  ]);
  assert.match(jsonDl.suggestedFilename(), /^audit-default\.json$/);
  const json = JSON.parse(await readFile(await jsonDl.path(), "utf8"));
  assert.ok(Array.isArray(json));
  assert.deepEqual(json.map((e) => e.seq), expected.map((r) => r.seq));
  assert.deepEqual(json[0], expected[0]);

  for (const text of [csv, JSON.stringify(json)]) {
    assert.ok(!text.includes(VALUE), "no value in an export");
  }
  // The outcome filter applies to exports too.
  const deniedRows = (await allRows()).filter((r) => r.outcome.startsWith("denied"));
  assert.ok(deniedRows.length >= 1, "the viewer's refused write is audited");
  const denied = await page.request.get(`${URL}/console/w/default/audit/export?outcome=denied&format=json`);
  assert.equal(denied.status(), 200);
  assert.match(denied.headers()["content-type"], /application\/json/);
  const d = await denied.json();
  assert.deepEqual(d.map((e) => e.seq), deniedRows.map((e) => e.seq));
  // A bad format is refused in words.
  const bad = await page.request.get(`${URL}/console/w/default/audit/export?format=xml`);
  assert.equal(bad.status(), 400);
  assert.match(await bad.text(), /csv.*json/);
  await ctx.close();
});

await scenario("audit: a viewer gets neither the page nor the export", async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await signIn(page, VIEWER);
  const r = await page.request.get(`${URL}/console/w/default/audit/export?format=csv`);
  assert.equal(r.status(), 403);
  assert.ok(!(await r.text()).includes(NAME));
  const p = await page.goto(`${URL}/console/w/default/audit`);
  assert.equal(p.status(), 403);
  await ctx.close();
});

await finish();
