// End to end, the full-screen TUI of the REAL OpenCode 2.1.2 in a real terminal (tmux),
// logging in where an OpenCode 2 user does it in the TUI: /connect. The person types
// /connect, searches for our provider, sees our login methods, picks "Browser"; the
// TUI shows the URL (it opens no browser unless asked, and the plugin opens none in
// OpenCode 2: the host owns that), and the person signs in at that URL in the real
// headless Chromium. Then, in that running OpenCode: the TUI's model picker offers the
// provider's discovered models, the chosen one answers a message through the gateway
// with the user's token, and `opencode models` against the same background service
// lists them.
//
// As in e2e-opencode2.test.mjs: the plugin is given as a directory (stack.pluginDir()),
// the background service (which the TUI starts) gets a free port of its own
// ($XDG_CONFIG_HOME/opencode/service.json) and is always stopped. The terminal is a
// private tmux server (its socket in a temp dir), killed at the end. Every wait has a deadline.
// The build outputs must exist (`task test:shim` builds them); tmux comes from Debian.

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
const chromiumLogin = fileURLToPath(new URL("../../go/internal/oauth/testdata/chromium-login.mjs", import.meta.url));
const session = "opencode";
let socket; // a tmux server of this test's own, its socket in a temp dir
let as;
let gw;
let pluginDir;
let oc;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const tmux = (...args) => execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
const type = (text) => tmux("send-keys", "-t", session, "-l", text);
const press = (key) => tmux("send-keys", "-t", session, key);

/** Never show a login's one-time start URL in test output. */
const redact = (s) => s.replace(/\/start\/[A-Za-z0-9_-]+(\s+[A-Za-z0-9_-]+)?/g, "/start/<redacted>");

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
 * The URL the login dialog shows, wrapped over rows: from "http://127.0.0.1:" on, the
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

function killTerminal() {
  if (!socket) return;
  try {
    tmux("kill-server");
  } catch {
    /* not running */
  }
}

/** `opencode service stop` (the service the TUI started), once. */
let serviceStopped = false;
async function stopService() {
  if (!oc || serviceStopped) return { code: 0, stderr: "" };
  serviceStopped = true;
  return oc.run(["service", "stop"], { timeoutMs: 30_000 }).catch((e) => ({ code: -1, stderr: e.message }));
}

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode2"]);
  as = await stack.startAuthServer({ AUTO_LOGIN: "0" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["tui-model-one", "tui-model-two"] });
  pluginDir = await stack.pluginDir();
  socket = join(await stack.makeTmp("oc-oauth2-tmux-"), "tmux");
}, { timeout: 360_000 });

after(async () => {
  killTerminal();
  await stopService();
  await stack.stop();
}, { timeout: 60_000 });

test("/connect in the TUI: our provider and its login methods are listed; Browser signs in with the real Chromium; the models appear in the running OpenCode and answer", { timeout: 420_000 }, async () => {
  oc = await stack.isolatedOpenCode({
    opencodeBin: stack.paths.opencode2,
    pluginSpec: pluginDir,
    config: {
      provider: {
        corp: {
          name: "Corp",
          options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId: "code-public", authFlow: "authorization_code", scopes: ["openid", "offline_access", "gateway"] } },
        },
      },
    },
    // A person at a terminal (the plugin tells by itself).
    env: { OPENCODE_OAUTH2_INTERACTIVE: "" },
  });
  await writeFile(join(oc.dirs.opencodeConfig, "service.json"), JSON.stringify({ port: await freePort() }));
  const env = Object.entries({ ...oc.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${v}`);
  // remain-on-exit: a TUI that dies leaves its last screen for the failure message.
  tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", "-c", oc.dirs.project, "env", "-u", "CI", ...env, stack.paths.opencode2, ";", "set-option", "-t", session, "remain-on-exit", "on");

  try {
    // OpenCode's prompt.
    await until("the TUI's prompt", (s) => /Ask anything/.test(s) && /ctrl\+p commands/.test(s));

    // /connect, as its command (the prompt offers it while typed).
    type("/connect");
    await until("the /connect command offered", (s) => /\/connect\s+Connect an integration/.test(s));
    press("Enter");
    await until("the /connect dialog", (s) => cells(s).includes("Connect an integration") && cells(s).includes("Popular"));

    // Our provider, found by its name.
    type("Corp");
    await until("Corp alone in the dialog's list", (s) => {
      const c = cells(s);
      return !c.includes("Popular") && c.indexOf("Services") >= 0 && c[c.indexOf("Services") + 1] === "Corp" && c[c.indexOf("Services") + 2] !== "Corp";
    });
    press("Enter");

    // Our login methods, the first (selected) one Browser.
    const methods = ["Browser", "Device code", "Browser on another machine"];
    await until("Corp's login methods", (s) => cells(s).includes("Connect Corp") && methods.every((m) => cells(s).includes(m)));
    const c = cells();
    assert.deepEqual(c.slice(c.indexOf("Search") + 1, c.indexOf("Search") + 4), methods, `the login methods, in order; the screen:\n${screen()}`);
    press("Enter");

    // The Browser login: the dialog shows the URL and the plugin's instructions.
    const s = await until("the Browser login's URL, waiting", (t) => /Waiting for authorization/.test(t) && shownURL(t) && t);
    const url = shownURL(s);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/start\/[A-Za-z0-9_-]{20,}$/, redact(`the URL as shown: ${url}\n${s}`));
    assert.ok(cells(s).includes("Browser"), `the dialog is the Browser login's:\n${redact(s)}`);
    assert.match(s.replace(/\s+/g, " "), /To log in to Corp, open this URL in a browser on this machine/, redact(s));

    // Somebody signs in at that URL, in the real headless Chromium.
    const resultFile = join(oc.dirs.root, "chromium-result.json");
    const browser = await stack.runCommand(process.execPath, [chromiumLogin, resultFile, url], { timeoutMs: 100_000 });
    const result = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, "utf8")) : { ok: false };
    assert.equal(result.ok, true, `Chromium: ${JSON.stringify(result)} ${browser.stderr.slice(-1000)}`);

    // The TUI goes on by itself to the provider's models: the discovered ones, nothing
    // else (no entry that says how to log in).
    const picker = await until("Corp's models after the login", (t) => cells(t).includes("Tui Model One") && cells(t).includes("Tui Model Two") && t);
    assert.ok(!/Waiting for authorization|log in with/i.test(picker), `the login dialog is gone and no sign-in entry is left:\n${redact(picker)}`);
    const shown = cells(picker);
    assert.deepEqual(shown.slice(shown.indexOf("Search") + 1, shown.indexOf("Search") + 4), ["Corp", "Tui Model One", "Tui Model Two"], `the picker:\n${picker}`);

    // The first is chosen; a message gets the gateway's answer for alice.
    await gw.resetStats();
    press("Enter");
    await until("Tui Model One chosen", (t) => /Build · Tui Model One Corp/.test(t) && !cells(t).includes("Tui Model Two"));
    type("say hello");
    await until("the message typed", (t) => /say hello/.test(t));
    press("Enter");
    await until("the gateway's answer", (t) => /Hello from the OAuth gateway, alice!/.test(t), 90_000);
    const stats = await gw.stats();
    assert.equal(stats.last_client_id, "code-public", JSON.stringify(stats));
    assert.equal(stats.last_subject, "alice", JSON.stringify(stats));
    assert.equal(stats.last_model, "tui-model-one", JSON.stringify(stats));

    // The same background service lists them to `opencode models`.
    const models = await oc.run(["models"], { timeoutMs: RUN_TIMEOUT_MS });
    assert.equal(models.code, 0, `opencode models: exit ${models.code}\n${models.stderr.slice(-2000)}`);
    const corp = models.stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("corp/")).sort();
    assert.deepEqual(corp, ["corp/tui-model-one", "corp/tui-model-two"], models.stdout);
  } finally {
    killTerminal();
    const stop = await stopService();
    assert.equal(stop.code, 0, `opencode service stop: ${stop.stderr}`);
  }

  // Nothing of this environment outlives it: no OpenCode, no service, no sidecar.
  const deadline = Date.now() + 15_000;
  while (oc.processes().length > 0 && Date.now() < deadline) await delay(200);
  assert.deepEqual(oc.processes().map((pid) => `${pid} ${cmdline(pid)}`), [], "nothing left running after `opencode service stop`");
});
