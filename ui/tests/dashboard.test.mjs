// The dashboard in Debian's headless Chromium, driven by Playwright (playwright-core with
// the system browser: nothing is downloaded), against a real dbaasd with real database
// servers: a wrong token is refused, then log in, create a PostgreSQL instance, see it
// listed and running, back it up, see the backup in the table and on the chart, reveal the
// password, run a restore drill and see its RTO, restore to a time picked on the recovery
// window into a new instance and see it running, add a standby and switch over to it, see
// the repository's sizes and history, and delete both. A screenshot of each page is kept (UI_ARTIFACTS).
//
//   DBAASD=build/release/apps/dbaasd/dbaasd node --test ui/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const dbaasd = process.env.DBAASD ?? join(repo, "build/release/apps/dbaasd/dbaasd");
const artifacts = process.env.UI_ARTIFACTS ?? join(repo, "build/ui-artifacts");
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

// dbaasd on a free port; resolves once its log says where it listens.
async function startDaemon(dataRoot) {
  const daemon = spawn(dbaasd, ["--data-root", dataRoot, "--listen", "127.0.0.1:0", "--ui-dir", join(repo, "ui/dist")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dbaasd did not start:\n${log}`)), 60000);
    const onData = (chunk) => {
      log += chunk;
      const m = /event=listening address=127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    daemon.stdout.on("data", onData);
    daemon.stderr.on("data", onData);
    daemon.on("exit", (code) => reject(new Error(`dbaasd exited (${code}):\n${log}`)));
  });
  return { daemon, port, log: () => log };
}

// A daemon of its own and a page on it; `run(page, token)` does the rest. Screenshots the
// page when it fails; removes the daemon, its instances and their OS users after.
async function withDashboard(run) {
  mkdirSync(artifacts, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "dbaas-ui-test-"));
  chmodSync(work, 0o711); // each instance's OS user passes through to its own directory
  const dataRoot = join(work, "data");
  const { daemon, port } = await startDaemon(dataRoot);
  const token = readFileSync(join(dataRoot, "api-token"), "utf8").trim();
  const base = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const cspViolations = [];
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  try {
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("dialog", (d) => d.accept());
    await page.goto(`${base}/ui/`);
    await run(page, token);
    assert.deepEqual(cspViolations, []);
  } catch (e) {
    await page.screenshot({ path: join(artifacts, "failed.png"), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.on("exit", r));
    spawnSync(join(repo, "scripts/remove-instance-users.sh"), [dataRoot]);
    rmSync(work, { recursive: true, force: true });
  }
}

async function logIn(page, token) {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Instances" }).waitFor();
  assert.ok(!page.url().includes(token));
}

// Creates an instance from the instances page and waits until it runs.
async function createInstance(page, name, type) {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Type").selectOption(type);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("row").filter({ hasText: name }).filter({ hasText: "running" }).waitFor({ timeout: 120000 });
}

// The URI and password an instance's page reveals.
async function revealedLogin(page) {
  const connection = page.getByRole("region", { name: "Connection" });
  if (await connection.getByRole("button", { name: "Show secrets" }).count()) {
    await connection.getByRole("button", { name: "Show secrets" }).click();
    await connection.getByRole("button", { name: "Hide secrets" }).waitFor();
  }
  await connection.locator("code").nth(1).waitFor(); // the password, once the daemon sent it
  const uri = new URL((await connection.locator("code").first().innerText()).trim());
  const password = decodeURIComponent(uri.password);
  uri.password = "";
  return { uri, password };
}

// On an instance's page: a commit through the URI the page reveals, a restore point (which
// archives the log), then a restore to the recovery window's latest end, picked on its
// slider by keyboard, into `copy`; waits until the copy runs and finds the commit in it.
// `sql(uri, password, statement)` runs the engine's client (the password in the
// environment, not on argv, where every local user reads it).
async function restoreToLatestTime(page, copy, sql, { wholeSeconds = false } = {}) {
  const restore = page.getByRole("form", { name: "Restore" });
  // MariaDB's binlog stamps events in whole seconds: a commit in the second the backup
  // ended does not move the window's end past it.
  if (wholeSeconds) await new Promise((r) => setTimeout(r, 1100));
  const { uri, password } = await revealedLogin(page);
  const wrote = sql(uri, password, "create table orders (id int primary key); insert into orders values (42)");
  assert.equal(wrote.status, 0, wrote.stderr);
  await restore.getByRole("button", { name: "Mark a restore point" }).click();
  await restore.getByLabel("a time").and(page.locator(":enabled")).waitFor({ timeout: 60000 });
  await restore.getByLabel("a time").check();
  const slider = restore.getByLabel("Time, on the recovery window");
  await slider.focus();
  await slider.press("End");
  // (The window's end moves on as the log is archived: at or past the start is what holds.)
  assert.ok(Number(await slider.inputValue()) >= Number(await slider.getAttribute("min")));
  await restore.getByLabel("New instance's name").fill(copy);
  await restore.getByRole("button", { name: "Restore", exact: true }).click();
  await page.getByRole("heading", { name: new RegExp(copy) }).filter({ hasText: "running" }).waitFor({ timeout: 180000 });
  // A new page: its secrets hidden until asked.
  assert.match(await page.getByRole("region", { name: "Connection" }).innerText(), /Password\s*hidden/);
  const restored = await revealedLogin(page);
  const read = sql(restored.uri, restored.password, "select id from orders");
  assert.equal(read.status, 0, read.stderr);
  assert.match(read.stdout, /\b42\b/, "the restored copy has the commit made before the time picked");
}

async function deleteFromItsPage(page, name) {
  await page.getByRole("link", { name: "Instances", exact: true }).click();
  await page.getByRole("heading", { name: "Instances" }).waitFor();
  await page.getByRole("link", { name, exact: true }).first().click();
  await page.getByRole("heading", { name: new RegExp(name) }).waitFor();
  await page.getByRole("button", { name: "Delete instance" }).click();
  await page.getByRole("heading", { name: "Instances" }).waitFor();
  await page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) }).waitFor({ state: "detached", timeout: 60000 });
}

test("the dashboard manages an instance end to end", { timeout: 300000 }, async () => {
  await withDashboard(async (page, token) => {

    // A wrong token: refused, with where the right one is.
    await page.getByLabel("API token").fill("0".repeat(64));
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
    assert.match(await page.getByRole("alert").innerText(), /api-token/);
    await page.screenshot({ path: join(artifacts, "login-refused.png"), fullPage: true });
    // The token never appears in a URL.
    assert.ok(!page.url().includes("0000"));

    await logIn(page, token);

    // Bad input: a clear error, nothing made.
    await page.getByLabel("Name").fill("UPPER");
    await page.getByRole("button", { name: "Create" }).click();
    assert.equal(await page.locator("#new-name:invalid").count(), 1, "the form refuses the name");

    await page.getByLabel("Name").fill("webshop");
    await page.getByLabel("Type").selectOption("postgresql");
    await page.getByRole("button", { name: "Create" }).click();
    const row = page.getByRole("row").filter({ hasText: "webshop" });
    await row.filter({ hasText: "running" }).waitFor({ timeout: 120000 });
    await page.screenshot({ path: join(artifacts, "instances.png"), fullPage: true });
    // The daemon's own refusal is shown as it says it: what failed and what to do.
    await page.getByLabel("Name").fill("webshop");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("alert").filter({ hasText: "already exists" }).waitFor();
    assert.equal(await page.getByRole("row").filter({ hasText: "webshop" }).count(), 1);

    await row.getByRole("link", { name: "webshop" }).click();
    await page.getByRole("heading", { name: /webshop/ }).waitFor();
    assert.match(await page.getByRole("region", { name: "Connection" }).innerText(), /Password\s*hidden/);
    await page.getByRole("button", { name: "Show secrets" }).click();
    await page.getByRole("button", { name: "Hide secrets" }).waitFor();
    const shown = await page.getByRole("region", { name: "Connection" }).innerText();
    assert.doesNotMatch(shown, /Password\s*hidden/);

    await page.getByRole("button", { name: "Back up now" }).click();
    const backups = page.getByRole("region", { name: "Backups" });
    await backups.getByRole("row").filter({ hasText: "completed" }).first().waitFor({ timeout: 120000 });
    // The chart draws the backup (uPlot: a canvas and its legend).
    await backups.locator(".chart canvas").waitFor();
    assert.match(await backups.locator(".chart").innerText(), /duration/);
    await page.screenshot({ path: join(artifacts, "instance.png"), fullPage: true });

    // A restore drill: the backup restored in a scratch instance and checked; its RTO shown.
    await backups.getByRole("button", { name: /Run a restore drill of/ }).first().click();
    await backups.getByRole("row").filter({ hasText: /passed, RTO [0-9.]+ s/ }).first().waitFor({ timeout: 120000 });

    // Pin, then unpin.
    await backups.getByRole("button", { name: /^Pin / }).first().click();
    await backups.getByRole("row").filter({ hasText: "(pinned)" }).first().waitFor();
    await backups.getByRole("button", { name: /^Unpin / }).first().click();
    await backups.getByRole("button", { name: /^Pin / }).first().waitFor();
    assert.equal(await backups.getByRole("row").filter({ hasText: "(pinned)" }).count(), 0);

    // A schedule added, listed, removed; a bad one refused with the daemon's reason.
    const schedules = page.getByRole("region", { name: "Schedules" });
    await schedules.getByLabel("Cron").fill("0 3 * * *");
    await schedules.getByRole("button", { name: "Add schedule" }).click();
    await schedules.getByRole("row").filter({ hasText: "0 3 * * *" }).waitFor();
    await schedules.getByLabel("Cron").fill("61 * * * *");
    await schedules.getByRole("button", { name: "Add schedule" }).click();
    await schedules.getByRole("alert").waitFor();
    await schedules.getByRole("button", { name: "Remove schedule 0 3 * * *" }).click();
    await schedules.getByText("No schedule").waitFor();

    // Phone width: the page still reads (no horizontal overflow of the page itself).
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
    await page.screenshot({ path: join(artifacts, "instance-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 900 });

    // Restore to a time picked on the recovery window's timeline (its latest end). Right
    // after the first backup the window is one instant: a commit and a restore point widen it.
    await restoreToLatestTime(page, "webshop-copy", (uri, password, statement) =>
      spawnSync("psql", [uri.toString(), "-X", "-v", "ON_ERROR_STOP=1", "-c", statement],
        { encoding: "utf8", env: { ...process.env, PGPASSWORD: password } }));
    await page.screenshot({ path: join(artifacts, "restored.png"), fullPage: true });

    // The jobs: the restore and the drill, finished, with their progress.
    await page.getByRole("link", { name: "Jobs" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await page.getByRole("row").filter({ hasText: "verify" }).filter({ hasText: "succeeded" }).first().waitFor();
    await page.getByRole("row").filter({ hasText: "restore" }).filter({ hasText: "100%" }).first().waitFor();
    await page.screenshot({ path: join(artifacts, "jobs.png"), fullPage: true });
    await page.getByRole("link", { name: "webshop-copy" }).first().click();
    await page.getByRole("heading", { name: /webshop-copy/ }).waitFor();

    // An alert: an instance whose server refuses its settings fails to be made (asked
    // through the API, as a script would); the alerts page shows why.
    const failed = await page.evaluate(async (t) => {
      const res = await fetch("/instances", {
        method: "POST",
        headers: { Authorization: `Bearer ${t}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "broken", type: "postgresql", config: { shared_buffers: "4TB" } }),
      });
      return res.status;
    }, token);
    assert.ok(failed >= 400, `the broken instance was made (${failed})`);
    await page.getByRole("link", { name: "Alerts" }).click();
    await page.getByRole("heading", { name: "Alerts" }).waitFor();
    await page.getByRole("row").filter({ hasText: "broken" }).filter({ hasText: "error" }).first().waitFor({ timeout: 30000 });
    await page.screenshot({ path: join(artifacts, "alerts.png"), fullPage: true });

    // The repository: what the backups hold against what is stored, and its history drawn.
    await page.getByRole("link", { name: "Repository" }).click();
    await page.getByRole("heading", { name: "Repository" }).waitFor();
    const local = page.getByRole("region", { name: "On this machine" });
    await local.locator(".chart canvas").waitFor();
    assert.match(await local.locator(".chart").innerText(), /logical/);
    assert.match(await local.getByTestId("logical").innerText(), /^[0-9.]+ (KiB|MiB|GiB)$/);
    assert.match(await local.getByTestId("saved").innerText(), /smaller/);
    await page.getByRole("region", { name: "Copies off this machine" }).getByText("No remote repository").waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    const repoOverflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    assert.ok(repoOverflow <= 1, `the repository page is ${repoOverflow}px wider than a phone`);
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.screenshot({ path: join(artifacts, "repository.png"), fullPage: true });

    // A standby added, streaming; a switchover makes it the primary, the old primary its
    // standby. (Last: with a standby the connection URI is a multi-host one.)
    await page.getByRole("link", { name: "Instances", exact: true }).click();
    await page.getByRole("link", { name: "webshop", exact: true }).click();
    await page.getByRole("heading", { name: /webshop/ }).waitFor();
    const members = page.getByRole("region", { name: "Members" });
    await members.getByRole("spinbutton", { name: "Standbys" }).fill("1");
    await members.getByRole("button", { name: "Apply" }).click();
    const standby = members.getByRole("row").filter({ hasText: "standby" }).filter({ hasText: "streaming" });
    await standby.waitFor({ timeout: 120000 });
    const standbyName = (await standby.getByRole("cell").first().innerText()).trim();
    await members.getByRole("button", { name: `Switch over to ${standbyName}` }).click();
    await members.getByRole("row").filter({ hasText: standbyName }).filter({ hasText: "primary" }).waitFor({ timeout: 120000 });
    await members.getByRole("row").filter({ hasText: "standby" }).filter({ hasText: "streaming" }).waitFor({ timeout: 120000 });
    await page.screenshot({ path: join(artifacts, "members.png"), fullPage: true });


    // Both deleted, from their pages.
    await deleteFromItsPage(page, "webshop-copy");
    await deleteFromItsPage(page, "webshop");
    await page.getByText("No instances yet").waitFor({ timeout: 60000 });
  });
});

// MariaDB's recovery window (its archived binlogs) on the same timeline: a time picked on
// it restores into a new instance that runs.
test("the dashboard restores a MariaDB instance to a time on its recovery window", { timeout: 300000 }, async () => {
  await withDashboard(async (page, token) => {
    await logIn(page, token);
    await createInstance(page, "shop", "mariadb");
    await page.getByRole("link", { name: "shop", exact: true }).click();
    await page.getByRole("heading", { name: /shop/ }).waitFor();
    await page.getByRole("button", { name: "Back up now" }).click();
    const backups = page.getByRole("region", { name: "Backups" });
    await backups.getByRole("row").filter({ hasText: "completed" }).first().waitFor({ timeout: 120000 });
    await restoreToLatestTime(page, "shop-copy", (uri, password, statement) =>
      spawnSync("mariadb", ["-h", uri.hostname, "-P", uri.port, "-u", decodeURIComponent(uri.username),
        uri.pathname.slice(1), "-e", statement],
      { encoding: "utf8", env: { ...process.env, MYSQL_PWD: password } }), { wholeSeconds: true });
    await page.screenshot({ path: join(artifacts, "mariadb-restored.png"), fullPage: true });
    await deleteFromItsPage(page, "shop-copy");
    await deleteFromItsPage(page, "shop");
    await page.getByText("No instances yet").waitFor({ timeout: 60000 });
  });
});
