// End to end, the full-screen TUI of the REAL OpenCode 2.1.2 in a real terminal (tmux),
// logging in where an OpenCode 2 user does it in the TUI: /connect. The person types
// /connect, searches for our provider, sees our login methods and picks one:
// - "Browser": the TUI shows the URL (it opens no browser unless asked, and the plugin
//   opens none in OpenCode 2: the host owns that); the person signs in at that URL in
//   the real headless Chromium;
// - "Device code": the TUI shows the verification URL and the code; the person checks
//   the code and approves it in the real headless Chromium.
// Then, in that running OpenCode: the TUI's model picker offers the provider's
// discovered models, the chosen one answers a message through the gateway with the
// user's token, and `opencode models` against the same background service lists them.
//
// As in e2e-opencode2.test.mjs: the plugin is given as a directory (stack.pluginDir()),
// each test's background service (which its TUI starts) gets a free port of its own
// ($XDG_CONFIG_HOME/opencode/service.json) and is always stopped. Each terminal is a
// private tmux server (its socket in the test's temp dir), killed at the end. Every wait
// has a deadline. The build outputs must exist (`task test:shim` builds them); tmux
// comes from Debian, Chromium too (/usr/bin/chromium, driven by playwright-core).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const SCREEN_MS = 60_000; // deadline of one wait for the screen (a loaded 2-core machine)
const RUN_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 420_000;
const SCOPES = ["openid", "offline_access", "gateway"];
const METHODS = ["Browser", "Device code", "Browser on another machine"];
const chromiumLogin = fileURLToPath(new URL("../../go/internal/oauth/testdata/chromium-login.mjs", import.meta.url));
const session = "opencode";
let as;
let gw;
let pluginDir;
/** The running test's OpenCode and terminal: {oc, socket, serviceStopped}. */
let current;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const tmux = (...args) => execFileSync("tmux", ["-S", current.socket, ...args], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
const type = (text) => tmux("send-keys", "-t", session, "-l", text);
const press = (key) => tmux("send-keys", "-t", session, key);

/** Never show a login's one-time start URL or device code in test output. */
const redact = (s) =>
  s.replace(/\/start\/[A-Za-z0-9_-]+(\s+[A-Za-z0-9_-]+)?/g, "/start/<redacted>").replace(/\b[A-Z0-9]{4}-[A-Z0-9]{4}\b/g, "<code>");

function screen() {
  try {
    return tmux("capture-pane", "-p", "-t", session);
  } catch (e) {
    return `(no screen: ${e.message})`;
  }
}

/**
 * The screen's text pieces, in reading order: each row split where 2+ spaces separate
 * things (a dialog's row and what shows of the screen behind it are apart).
 */
const cells = (text = screen()) => text.split("\n").flatMap((row) => row.trim().split(/\s{2,}/)).filter(Boolean);

/** The n pieces after the dialog's "Search" field: the first entries of its list. */
function listed(text, n) {
  const c = cells(text);
  const i = c.indexOf("Search");
  return i < 0 ? [] : c.slice(i + 1, i + 1 + n);
}

/** Resolves check(screen) once truthy; fails with the screen after ms. */
async function until(what, check, ms = SCREEN_MS) {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    const got = check(s);
    if (got) {
      console.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return got;
    }
    if (Date.now() - t0 > ms) assert.fail(`${what}: not on the screen within ${ms / 1000} s; the screen:\n${redact(s)}`);
    await delay(250);
  }
}

/**
 * The URL a login dialog shows, wrapped over rows: from "http://127.0.0.1:" on, the
 * rows below at the same column, up to an empty one.
 */
function shownURL(text) {
  const rows = text.split("\n");
  const i = rows.findIndex((r) => r.includes("http://127.0.0.1:"));
  if (i < 0) return null;
  const col = rows[i].indexOf("http://127.0.0.1:");
  let url = rows[i].slice(col).split(" ")[0];
  for (const row of rows.slice(i + 1)) {
    const part = row.slice(col).split(" ")[0];
    if (!part) break;
    url += part;
  }
  return url;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/**
 * An isolated OpenCode 2 with one provider of ours, its TUI running in a tmux terminal
 * of 160x45 (a person at it: CI unset, the plugin tells by itself), at its prompt.
 */
async function startTUI(providerID, provider) {
  const oc = await stack.isolatedOpenCode({
    opencodeBin: stack.paths.opencode2,
    pluginSpec: pluginDir,
    config: { provider: { [providerID]: provider } },
    env: { OPENCODE_OAUTH2_INTERACTIVE: "" },
  });
  await writeFile(join(oc.dirs.opencodeConfig, "service.json"), JSON.stringify({ port: await freePort() }));
  current = { oc, socket: join(oc.dirs.root, "tmux"), serviceStopped: false };
  const env = Object.entries({ ...oc.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${v}`);
  // remain-on-exit: a TUI that dies leaves its last screen for the failure message.
  tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", "-c", oc.dirs.project, "env", "-u", "CI", ...env, stack.paths.opencode2, ";", "set-option", "-t", session, "remain-on-exit", "on");
  await until("the TUI's prompt", (s) => /Ask anything/.test(s) && /ctrl\+p commands/.test(s));
  return oc;
}

/** /connect, the provider searched for by its name and chosen: its login methods are listed. */
async function connect(name) {
  type("/connect");
  await until("the /connect command offered", (s) => /\/connect\s+Connect an integration/.test(s));
  press("Enter");
  await until("the /connect dialog", (s) => cells(s).includes("Connect an integration") && cells(s).includes("Popular"));
  type(name);
  await until(`${name} alone in the dialog's list`, (s) => {
    const c = cells(s);
    const i = c.indexOf("Services");
    return !c.includes("Popular") && i >= 0 && c[i + 1] === name && c[i + 2] !== name;
  });
  press("Enter");
  await until(`${name}'s login methods`, (s) => cells(s).includes(`Connect ${name}`) && METHODS.every((m) => cells(s).includes(m)));
  assert.deepEqual(listed(screen(), METHODS.length), METHODS, `${name}'s login methods, in order; the screen:\n${screen()}`);
}

/**
 * After a login, the TUI goes on by itself to the provider's models: the discovered
 * ones, nothing else (no entry that says how to log in). The first is chosen, a message
 * gets the gateway's answer for alice, and `opencode models` (the same service) lists them.
 */
async function assertModelsInTheRunningOpenCode(name, providerID, clientID) {
  const picker = await until(`${name}'s models after the login`, (t) => cells(t).includes("Tui Model One") && cells(t).includes("Tui Model Two") && t);
  assert.ok(!/Waiting for authorization|Sign in to|log in with/i.test(picker), `the login dialog is gone and no sign-in entry is left:\n${redact(picker)}`);
  assert.deepEqual(listed(picker, 3), [name, "Tui Model One", "Tui Model Two"], `the model picker:\n${picker}`);

  await gw.resetStats();
  press("Enter");
  await until("Tui Model One chosen", (t) => t.includes(`Build · Tui Model One ${name}`) && !cells(t).includes("Tui Model Two"));
  type("say hello");
  await until("the message typed", (t) => /say hello/.test(t));
  press("Enter");
  await until("the gateway's answer", (t) => /Hello from the OAuth gateway, alice!/.test(t), 90_000);
  const stats = await gw.stats();
  assert.equal(stats.last_client_id, clientID, JSON.stringify(stats));
  assert.equal(stats.last_subject, "alice", JSON.stringify(stats));
  assert.equal(stats.last_model, "tui-model-one", JSON.stringify(stats));

  const models = await current.oc.run(["models"], { timeoutMs: RUN_TIMEOUT_MS });
  assert.equal(models.code, 0, `opencode models: exit ${models.code}\n${models.stderr.slice(-2000)}`);
  const ids = models.stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith(`${providerID}/`)).sort();
  assert.deepEqual(ids, [`${providerID}/tui-model-one`, `${providerID}/tui-model-two`], models.stdout);
}

/** Kills the terminal and stops the service (once); returns `opencode service stop`'s result. */
async function finish() {
  if (!current || current.serviceStopped) return { code: 0, stderr: "" };
  current.serviceStopped = true;
  try {
    tmux("kill-server");
  } catch {
    /* not running */
  }
  return current.oc.run(["service", "stop"], { timeoutMs: 30_000 }).catch((e) => ({ code: -1, stderr: e.message }));
}

/** After finish(): it stopped the service, and nothing of the test's environment remains: no OpenCode, no service, no sidecar. */
async function assertNothingLeft(stop) {
  assert.equal(stop.code, 0, `opencode service stop: ${stop.stderr}`);
  const { oc } = current;
  const deadline = Date.now() + 15_000;
  while (oc.processes().length > 0 && Date.now() < deadline) await delay(200);
  assert.deepEqual(oc.processes().map((pid) => `${pid} ${cmdline(pid)}`), [], "nothing left running after `opencode service stop`");
}

/** A person approving a device login in the real headless Chromium: the code checked, signed in as alice. */
async function approveDeviceInChromium(url, userCode) {
  const { chromium } = await import("playwright-core");
  const profile = await stack.makeTmp("oc-oauth2-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    await page.goto(url, { waitUntil: "domcontentloaded" });
    // The complete verification URL's page submits itself; the confirmation shows the code.
    await page.locator("#user-code").waitFor();
    assert.equal((await page.locator("#user-code").innerText()).trim(), userCode, "the confirmation page shows the code the TUI showed");
    await page.click("#confirm");
    await page.locator("#login-form").waitFor();
    await page.fill("#login", "alice");
    await page.fill("#password", "demo");
    await page.click("#submit");
    await page.locator("#device-success").waitFor();
  } finally {
    await context.close().catch(() => {});
  }
}

const userProvider = (name, clientId, authFlow) => ({
  name,
  options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId, authFlow, scopes: SCOPES } },
});

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode2"]);
  as = await stack.startAuthServer({ AUTO_LOGIN: "0", DEVICE_INTERVAL: "1" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["tui-model-one", "tui-model-two"] });
  pluginDir = await stack.pluginDir();
}, { timeout: 360_000 });

after(async () => {
  await finish();
  await stack.stop();
}, { timeout: 60_000 });

test("/connect, Browser: our methods are listed; the URL the TUI shows signs in with the real Chromium; the models appear in the running OpenCode and answer", { timeout: TEST_TIMEOUT_MS }, async () => {
  let stop;
  await startTUI("corp", userProvider("Corp", "code-public", "authorization_code"));
  try {
    await connect("Corp");
    press("Enter"); // the first method, selected: Browser

    const s = await until("the Browser login's URL, waiting", (t) => /Waiting for authorization/.test(t) && shownURL(t) && t);
    const url = shownURL(s);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/start\/[A-Za-z0-9_-]{20,}$/, redact(`the URL as shown: ${url}\n${s}`));
    assert.ok(cells(s).includes("Browser"), `the dialog is the Browser login's:\n${redact(s)}`);
    assert.match(s.replace(/\s+/g, " "), /To log in to Corp, open this URL in a browser on this machine \(it leads to [^)]*\)(?!:)/, redact(s)); // no colon pointing at the wrong line

    const resultFile = join(current.oc.dirs.root, "chromium-result.json");
    const browser = await stack.runCommand(process.execPath, [chromiumLogin, resultFile, url], { timeoutMs: 100_000 });
    const result = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, "utf8")) : { ok: false };
    assert.equal(result.ok, true, `Chromium: ${JSON.stringify(result)} ${browser.stderr.slice(-1000)}`);

    await assertModelsInTheRunningOpenCode("Corp", "corp", "code-public");
  } finally {
    stop = await finish();
  }
  await assertNothingLeft(stop);
});

test("/connect, Device code: the TUI shows the URL and the code; approving it in the real Chromium connects; the models appear in the running OpenCode and answer", { timeout: TEST_TIMEOUT_MS }, async () => {
  let stop;
  await startTUI("corp-device", userProvider("Corp Device", "device-public", "device_code"));
  try {
    await connect("Corp Device");
    press("Down"); // the second method: Device code
    press("Enter");

    const s = await until("the device login's URL and code, waiting", (t) => /Waiting for authorization/.test(t) && shownURL(t) && /shows this code: [A-Z0-9]{4}-[A-Z0-9]{4}/.test(t.replace(/\s+/g, " ")) && t);
    const flat = s.replace(/\s+/g, " ");
    assert.ok(cells(s).includes("Device code"), `the dialog is the Device code login's:\n${redact(s)}`);
    assert.match(flat, /To log in to Corp Device, visit this URL and check that it shows this code:/, redact(s));
    const [, userCode] = /shows this code: ([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(flat);
    const url = shownURL(s);
    assert.ok(url.startsWith(`${as.issuer}/device`), redact(`the verification URL is the authorization server's: ${url}`));

    await approveDeviceInChromium(url, userCode);

    await assertModelsInTheRunningOpenCode("Corp Device", "corp-device", "device-public");
  } finally {
    stop = await finish();
  }
  await assertNothingLeft(stop);
});
