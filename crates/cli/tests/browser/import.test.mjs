// Import and export in the console (issue 18, item 3): paste or upload a .env
// file, preview (new / exists, values masked, a per-row show of what was pasted),
// import the chosen keys (existing ones only when overwrite is chosen), one
// audited change per secret; export names and metadata for everyone who may list,
// values only for roles that may reveal, after a confirmation, audited as reveals.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { URL, OWNER, VIEWER, SECRETS, SHOTS, scenario, finish, newContext, signIn, api } from "./lib.mjs";

const IMPORT = `${URL}/console/w/default/import`;
const V1 = "/v1/workspaces/default/secrets";
const ONE = "import-alpha-value-123456";
const TWO = "multi\nline import value";
const OVER = "import-overwritten-999999";

async function reveal(name) {
  return (await api("POST", `${V1}/${encodeURIComponent(name)}/reveal`)).value;
}

await scenario("import: paste, preview (masked, show per row, exists marked), import new keys, then overwrite on request", async () => {
  await api("PUT", `${V1}/import-exists`, { value: "import-original-555555", description: "was here" });
  const ctx = await newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.getByRole("link", { name: "Import and export" }).click();
  await page.waitForURL(/\/import$/);
  const previews = [];
  page.on("response", async (r) => { if (r.url().endsWith("/import/preview")) previews.push(await r.text()); });
  const text = `# pasted\nIMPORT_ONE=${ONE}\nIMPORT_TWO="multi\\nline import value"\nimport-exists=${OVER}\n`;
  await page.getByLabel(".env text").fill(text);
  await page.getByRole("button", { name: "Preview" }).click();
  const table = page.locator("#import-preview");
  await table.locator("tbody tr").nth(2).waitFor();
  const rows = await table.locator("tbody tr").evaluateAll((trs) => trs.map((t) => [
    t.getAttribute("data-key"), t.cells[2].innerText, t.cells[3].innerText, t.querySelector("input").checked, t.querySelector(".value").innerText,
  ]));
  assert.deepEqual(rows.map((r) => r.slice(0, 4)), [
    ["IMPORT_ONE", "2", "New", true],
    ["IMPORT_TWO", "3", "New", true],
    ["import-exists", "4", "Exists", false],
  ]);
  for (const r of rows) assert.doesNotMatch(r[4], /[a-z0-9]/i, "values masked by default");
  assert.match(await page.locator("[data-import-summary]").innerText(), /2 new, 1 already exist/);
  // The preview answer and the page as served hold no value.
  assert.equal(previews.length, 1);
  for (const v of [ONE, OVER, "import value"]) {
    assert.ok(!previews[0].includes(v), "no value in the preview answer");
    assert.ok(!(await (await page.request.get(IMPORT)).text()).includes(v));
  }
  // Show what was pasted, for one row; hide again.
  await page.getByRole("button", { name: "Show the pasted value of IMPORT_ONE" }).click();
  assert.equal(await table.locator('tr[data-key="IMPORT_ONE"] .value').innerText(), ONE);
  await page.getByRole("button", { name: "Hide the pasted value of IMPORT_ONE" }).click();
  assert.doesNotMatch(await table.locator('tr[data-key="IMPORT_ONE"] .value').innerText(), /alpha/);
  await page.screenshot({ path: `${SHOTS}/console-import.png` });

  await page.getByRole("button", { name: "Import chosen keys" }).click();
  const result = page.locator("[data-import-result]");
  await result.waitFor();
  assert.match(await result.innerText(), /Created 2: IMPORT_ONE, IMPORT_TWO\. Left alone 1: import-exists\./);
  assert.equal(await page.getByLabel(".env text").inputValue(), "", "the pasted text is cleared");
  assert.equal(await reveal("IMPORT_ONE"), ONE);
  assert.equal(await reveal("IMPORT_TWO"), TWO);
  assert.equal(await reveal("import-exists"), "import-original-555555", "not overwritten unasked");
  // One audited change per secret.
  const audit = (await api("GET", "/v1/workspaces/default/audit?limit=200")).events;
  for (const k of ["IMPORT_ONE", "IMPORT_TWO"]) {
    assert.equal(audit.filter((e) => e.target && e.target.endsWith(k) && e.outcome === "ok" && /put|create|write/.test(e.action)).length, 1, k);
  }

  // Again, choosing to overwrite.
  await page.getByLabel(".env text").fill(`import-exists=${OVER}\n`);
  await page.getByRole("button", { name: "Preview" }).click();
  await table.locator('tr[data-key="import-exists"]').waitFor();
  await page.getByLabel("Overwrite existing secrets").check();
  assert.ok(await page.getByRole("checkbox", { name: "Import import-exists" }).isChecked());
  await page.getByRole("button", { name: "Import chosen keys" }).click();
  await page.locator("[data-import-result]", { hasText: "Updated 1: import-exists." }).waitFor();
  assert.equal(await reveal("import-exists"), OVER);

  // A broken file: an error in words with the line, never the value.
  await page.getByLabel(".env text").fill(`GOOD=1\nBROKEN="never-closed-secret-4242\n`);
  await page.getByRole("button", { name: "Preview" }).click();
  const err = page.locator("[data-import-error]");
  await err.waitFor();
  assert.match(await err.innerText(), /line 2/);
  assert.doesNotMatch(await err.innerText(), /never-closed/);
  await ctx.close();
});

await scenario("export: names for a viewer (no values, no value button); values for the owner after a confirmation, audited", async () => {
  const vctx = await newContext();
  const vp = await vctx.newPage();
  await signIn(vp, VIEWER);
  await vp.goto(IMPORT);
  assert.equal(await vp.getByRole("heading", { name: "Import a .env file" }).count(), 0, "viewers cannot import");
  assert.equal(await vp.getByRole("button", { name: "Export with values" }).count(), 0);
  const names = await vp.request.get(`${IMPORT.replace("/import", "/export")}?format=env`);
  assert.equal(names.status(), 200);
  assert.match(names.headers()["content-disposition"], /attachment; filename="lockbox-default.env.example"/);
  const body = await names.text();
  assert.match(body, /^IMPORT_ONE=$/m);
  assert.match(body, /^# Orders service API key$/m, "descriptions as comments");
  assert.ok(!body.includes(ONE) && !body.includes("seed-value-of"), "no values");
  const json = JSON.parse(await (await vp.request.get(`${IMPORT.replace("/import", "/export")}?format=json`)).text());
  assert.ok(json.secrets.some((s) => s.name === "db/primary-password" && s.visibility === "restricted" && !("value" in s)));
  const csrf = await vp.locator('meta[name="csrf-token"]').getAttribute("content");
  const forced = await vp.request.post(IMPORT.replace("/import", "/export"), { form: { csrf, format: "env" }, headers: { origin: URL } });
  assert.equal(forced.status(), 403, "a viewer may not export values");
  assert.ok(!(await forced.text()).includes(ONE));
  await vctx.close();

  const ctx = await newContext({ acceptDownloads: true });
  const page = await ctx.newPage();
  await signIn(page, OWNER);
  await page.goto(IMPORT);
  await page.getByLabel("Format").selectOption("env");
  await page.getByRole("button", { name: "Export with values" }).click();
  const dlg = page.getByRole("alertdialog");
  assert.match(await dlg.innerText(), /recorded as a reveal/);
  const [dl] = await Promise.all([
    page.waitForEvent("download"),
    dlg.getByRole("button", { name: "Export values" }).click(),
  ]);
  assert.equal(dl.suggestedFilename(), "lockbox-default.env");
  const file = readFileSync(await dl.path(), "utf8");
  assert.match(file, new RegExp(`^IMPORT_ONE=${ONE}$`, "m"));
  assert.match(file, /^IMPORT_TWO="multi\\nline import value"$/m);
  assert.ok(!file.includes("seed-value-of-db/primary-password"), "restricted values never exported");
  assert.match(file, /# skipped "db\/primary-password"|restricted/);
  const audit = (await api("GET", "/v1/workspaces/default/audit?limit=300")).events;
  assert.ok(audit.some((e) => e.target && e.target.endsWith("IMPORT_ONE") && /reveal/.test(e.action)), "each value exported is an audited reveal");
  await ctx.close();
});

await finish();
