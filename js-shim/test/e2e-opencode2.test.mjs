// End to end with OpenCode 2 (npm @opencode/cli, pinned in
// js-shim/test-support/opencode2; `task deps:opencode2` installs it): the REAL
// OpenCode 2.1.2 loads the built plugin through its `setup(ctx)` (js-shim/src/host2.ts)
// and the real sidecar (bin/opencode-oauth2); the real authorization server
// (examples/test-stack/authserver.mjs) issues the tokens and the test gateway
// (bin/test-gateway) accepts only those. OpenCode 1.18.33 (node_modules/.bin/opencode)
// runs the same opencode.json once, to show one config serves both hosts.
//
// OpenCode 2 wants a plugin given as a local path to be a DIRECTORY with index.js (or
// server.js) at its root: the tests give it a temp directory whose index.js re-exports
// js-shim/dist/index.js. Runs pass --standalone (a private server per command) except
// the service tests, which give the background service a free port of its own
// ($XDG_CONFIG_HOME/opencode/service.json; its default, 49374, is shared by every user
// of the machine), and always stop it.
//
// One authorization server, one gateway and the plugin directory are shared by the
// tests; each test has its own isolated OpenCode home unless noted. Every command has a
// deadline. The build outputs must exist (`task test:shim` builds them; the package
// test needs dist/npm-local from `task package:local`); this file builds nothing but
// bin/test-gateway (through the harness).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";
import { localTarget, MAIN_PACKAGE } from "../pack.mjs";
import { startRegistry } from "../test-support/npm-registry.mjs";

const RUN_TIMEOUT_MS = 90_000; // hard deadline of one OpenCode command (the harness kills it)
const LOGIN_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 240_000;
const MARKER = "opencode-oauth2-managed"; // what OpenCode 2 stores as the credential of a login
const CONFIGURED_NAME = "Corp M1, named in opencode.json";
const chromiumLogin = fileURLToPath(new URL("../../go/internal/oauth/testdata/chromium-login.mjs", import.meta.url));
const packedDir = resolve(stack.repoRoot, process.env.OPENCODE_OAUTH2_PACKED_DIR ?? join("dist", "npm-local"));

let as;
let gw;
let pluginDir;

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode", "opencode2"]);
  as = await stack.startAuthServer({ DEVICE_INTERVAL: "1" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1", "m2"], chunkDelay: "5ms" });
  pluginDir = await stack.pluginDir();
}, { timeout: 360_000 });

after(async () => {
  await stack.stop();
}, { timeout: 30_000 });

// ---------------------------------------------------------------------------
// helpers

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function ccProvider() {
  return {
    name: "Corp",
    models: { m1: { name: CONFIGURED_NAME } },
    options: {
      baseURL: gw.baseURL,
      oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials", scopes: ["gateway"] },
    },
  };
}

function userProvider(name, clientId, authFlow) {
  return {
    name,
    options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId, authFlow, scopes: ["openid", "offline_access", "gateway"] } },
  };
}

/** An isolated OpenCode 2 home with the plugin directory (unless config says otherwise). */
function openCode2({ config, env, pluginSpec = pluginDir } = {}) {
  return stack.isolatedOpenCode({ opencodeBin: stack.paths.opencode2, pluginSpec, config, env });
}

/** Never show a login's one-time start URL or device code in test output. */
const redact = (s) => s.replace(/\/start\/[A-Za-z0-9_-]+/g, "/start/<redacted>").replace(/user_code=[A-Z0-9-]+/g, "user_code=<redacted>");

function assertNoSecrets(text) {
  assert.ok(!text.includes(stack.clients.ccBasic.clientSecret), "the client secret reached OpenCode's output or log");
  assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./.test(text), "a JWT reached OpenCode's output or log");
}

function describeRun(r) {
  return redact(`exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr.slice(-3000)}${r.log ? `\nlog (tail):\n${r.log.slice(-3000)}` : ""}`);
}

/** opencode <args> (OpenCode 2 with --standalone: its log comes back as `log`). */
async function opencode(oc, args, { printLogs = args.includes("--standalone"), cwd } = {}) {
  const r = cwd
    ? await stack.runCommand(stack.paths.opencode2, args, { cwd, env: { ...oc.env, PWD: cwd }, timeoutMs: RUN_TIMEOUT_MS })
    : await oc.run(args, { timeoutMs: RUN_TIMEOUT_MS, printLogs });
  console.log(`# opencode ${args.filter((a) => !a.includes(" ")).slice(0, 4).join(" ")}: exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s`);
  return r;
}

/** The provider's model ids `opencode models` printed, sorted. */
const listed = (stdout, providerID) =>
  stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${providerID}/`))
    .sort();

async function assertAnswers(oc, model, subject, args = ["--standalone"]) {
  const r = await opencode(oc, ["run", ...args, "--model", model, "say hello"]);
  assert.equal(r.code, 0, describeRun(r));
  assert.match(r.stdout, new RegExp(`^Hello from the OAuth gateway, ${subject}!$`, "m"), describeRun(r));
  assertNoSecrets(`${r.stdout}\n${r.stderr}\n${r.log ?? ""}`);
  return r;
}

async function assertNothingLeftRunning(oc, what = "no OpenCode or sidecar process outlives the run") {
  const deadline = Date.now() + 10_000;
  while (oc.processes().length > 0 && Date.now() < deadline) await delay(100);
  assert.deepEqual(oc.processes().map((pid) => `${pid} ${cmdline(pid)}`), [], what);
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/** Pids of this environment's sidecars: `<...>/opencode-oauth2 serve`. */
function sidecars(oc) {
  return oc
    .processes()
    .filter((pid) => {
      const argv = cmdline(pid).split(" ");
      return argv.length === 2 && /(^|\/)opencode-oauth2(\.exe)?$/.test(argv[0]) && argv[1] === "serve";
    })
    .sort((a, b) => a - b);
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

/** The background service of this environment on a free port of its own (not the machine-wide default). */
async function ownServicePort(oc) {
  await writeFile(join(oc.dirs.opencodeConfig, "service.json"), JSON.stringify({ port: await freePort() }));
}

/** `opencode service stop`, then nothing of this environment may remain. */
async function stopService(oc) {
  const r = await oc.run(["service", "stop"], { timeoutMs: 30_000 }).catch((e) => ({ code: -1, stdout: "", stderr: e.message }));
  return r;
}

/**
 * Starts `opencode <args>` with stdin ignored and its output streamed: waitFor(re)
 * resolves the first match in stdout+stderr, done() the exit. Killed (process group)
 * at its deadline and by kill().
 */
function startOpenCode(oc, args, timeoutMs = LOGIN_TIMEOUT_MS) {
  const child = spawn(stack.paths.opencode2, args, { cwd: oc.dirs.project, env: oc.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const waiters = new Set();
  const kill = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  const timer = setTimeout(kill, timeoutMs);
  const onData = (c) => {
    out += c;
    for (const w of waiters) w();
  };
  child.stdout.setEncoding("utf8").on("data", onData);
  child.stderr.setEncoding("utf8").on("data", onData);
  const exit = new Promise((res) => child.once("close", (code, signal) => {
    clearTimeout(timer);
    for (const w of waiters) w();
    res({ code: code ?? 128, signal });
  }));
  let exited = false;
  void exit.then(() => (exited = true));
  return {
    output: () => out,
    kill,
    done: () => exit.then((r) => ({ ...r, output: out })),
    waitFor(re, ms = 30_000) {
      return new Promise((res, rej) => {
        const t = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`no ${re} within ${ms / 1000} s; output:\n${redact(out)}`));
        }, ms);
        function check() {
          const m = re.exec(out);
          if (m) {
            clearTimeout(t);
            waiters.delete(check);
            res(m);
          } else if (exited) {
            clearTimeout(t);
            waiters.delete(check);
            rej(new Error(`exited before ${re}; output:\n${redact(out)}`));
          }
        }
        waiters.add(check);
        check();
      });
    },
  };
}

/** OpenCode 2's credential rows (SQLite, read with the Bun inside the OpenCode 2 binary). */
async function credentials(oc) {
  const db = join(oc.dirs.data, "opencode", "opencode.db");
  const script = `import { Database } from "bun:sqlite";
const db = new Database(process.env.OC_DB, { readonly: true });
process.stdout.write(JSON.stringify(db.query("select integration_id, label, value from credential").all()));`;
  const r = await stack.runCommand(stack.paths.opencode2, ["-e", script], { env: { ...process.env, BUN_BE_BUN: "1", OC_DB: db }, timeoutMs: 30_000 });
  assert.equal(r.code, 0, `reading ${db}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The bytes of OpenCode 2's database files (the WAL included). */
function databaseBytes(oc) {
  const dir = join(oc.dirs.data, "opencode");
  return Buffer.concat(readdirSync(dir).filter((f) => f.startsWith("opencode.db")).map((f) => readFileSync(join(dir, f))));
}

/** The plugin's cached tokens of providerID (its cache files under OPENCODE_OAUTH2_CACHE_DIR). */
function cachedTokens(oc, providerID) {
  const files = readdirSync(oc.dirs.oauth2Cache).filter((f) => f.startsWith(`${providerID}-`) && /^[^.]+\.json$/.test(f));
  return files.map((f) => JSON.parse(readFileSync(join(oc.dirs.oauth2Cache, f), "utf8")).token).filter(Boolean);
}

/** A person approving a device login on the authorization server's pages (no JavaScript needed there). */
async function approveDevice(verificationURL, userCode) {
  const jar = new Map();
  async function go(url, init = {}) {
    for (let hop = 0; hop < 20; hop++) {
      const headers = { accept: "text/html", ...init.headers };
      if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
      const res = await fetch(url, { ...init, headers, redirect: "manual", signal: AbortSignal.timeout(10_000) });
      for (const c of res.headers.getSetCookie()) {
        const kv = c.split(";")[0];
        jar.set(kv.slice(0, kv.indexOf("=")).trim(), kv.slice(kv.indexOf("=") + 1));
      }
      const location = res.headers.get("location");
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url).href;
        init = {};
        continue;
      }
      return { url, status: res.status, body: await res.text() };
    }
    throw new Error("approve device: more than 20 redirects");
  }
  // form(page, id): the form with that id; form(page): the page's first form.
  const form = (page, id) => {
    const idPattern = id === undefined ? "" : `\\bid="${id.replace(".", "\\.")}"`;
    const m = new RegExp(`<form\\b([^>]*${idPattern}[^>]*)>([\\s\\S]*?)</form>`, "i").exec(page.body);
    if (!m) return null;
    const attr = (s, n) => new RegExp(`\\b${n}="([^"]*)"`, "i").exec(s)?.[1];
    const fields = new URLSearchParams();
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(input[1], "name");
      if (name) fields.set(name, attr(input[1], "value") ?? "");
    }
    return { action: new URL((attr(m[1], "action") ?? "").replaceAll("&amp;", "&"), page.url).href, fields };
  };
  const submit = (f) => go(f.action, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: f.fields.toString() });
  const text = (p) => p.body.replace(/<(style|script)\b[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").slice(0, 400);

  let page = await go(verificationURL);
  // The complete verification URL (with user_code) answers a page that submits itself
  // with JavaScript: submit it as a browser would.
  if (!form(page, "op.deviceInputForm") && !form(page, "op.deviceConfirmForm") && form(page)) page = await submit(form(page));
  const input = form(page, "op.deviceInputForm");
  if (input) {
    input.fields.set("user_code", userCode);
    page = await submit(input);
  }
  const confirm = form(page, "op.deviceConfirmForm");
  assert.ok(confirm, `approve device: no confirmation form: ${text(page)}`);
  assert.ok(page.body.includes(`id="user-code">${userCode}<`), "the confirmation page shows the code OpenCode printed");
  page = await submit(confirm);
  for (let i = 0; i < 3 && form(page, "login-form"); i++) {
    const login = form(page, "login-form");
    login.fields.set("login", "alice");
    login.fields.set("password", "demo");
    page = await submit(login);
  }
  assert.ok(page.body.includes('id="device-success"'), `approve device: no success page: ${text(page)}`);
}

// ---------------------------------------------------------------------------
// client_credentials, standalone

describe("OpenCode 2.1.2, client_credentials", () => {
  test("the first `opencode models` lists the discovered models with nothing cached; `opencode run` answers; a name in opencode.json wins", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ config: { provider: { corp: ccProvider() } } });
    assert.deepEqual(readdirSync(oc.dirs.oauth2Cache), [], "nothing cached before the first run");

    const models = await opencode(oc, ["models", "--standalone"]);
    assert.equal(models.code, 0, describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(models));
    assertNoSecrets(`${models.stdout}\n${models.stderr}\n${models.log}`);

    // The names OpenCode 2 holds (its API; `opencode models` prints ids only). The
    // answer carries the user's provider settings (the client secret): never printed.
    const api = await oc.run(["api", "--standalone", "model.list"], { timeoutMs: RUN_TIMEOUT_MS });
    assert.equal(api.code, 0, `opencode api model.list: exit ${api.code}: ${api.stderr.slice(-2000)}`);
    const corp = Object.fromEntries(JSON.parse(api.stdout).data.filter((m) => m.providerID === "corp").map((m) => [m.id, m.name]));
    assert.deepEqual(Object.keys(corp).sort(), ["m1", "m2"]);
    assert.equal(corp.m1, CONFIGURED_NAME, "the name in opencode.json wins over the discovered one");
    assert.ok(typeof corp.m2 === "string" && corp.m2.length > 0 && corp.m2 !== CONFIGURED_NAME, `m2 has its discovered name: ${corp.m2}`);

    await gw.resetStats();
    await assertAnswers(oc, "corp/m1", "cc-basic");
    const stats = await gw.stats();
    assert.equal(stats.last_client_id, "cc-basic", JSON.stringify(stats));
    assert.equal(stats.unauthorized, 0, JSON.stringify(stats));
    await assertNothingLeftRunning(oc);
    await oc.stop();
  });

  test("a token the gateway no longer accepts is renewed once and the run still answers", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ config: { provider: { corp: ccProvider() } } });
    await assertAnswers(oc, "corp/m1", "cc-basic"); // a token is cached now
    assert.equal(cachedTokens(oc, "corp").length, 1, "the plugin cached one token");

    // The gateway refuses every token it accepted so far (a revocation, a key rollover).
    const revoke = await fetch(`${gw.url}/_test/revoke`, { method: "POST", signal: AbortSignal.timeout(10_000) });
    assert.equal(revoke.status, 204);
    const before = await as.stats();
    const gwBefore = await gw.stats();
    await assertAnswers(oc, "corp/m1", "cc-basic");
    const afterStats = await as.stats();
    assert.equal(afterStats.total - before.total, 1, `exactly one token request: ${JSON.stringify({ before, after: afterStats })}`);
    assert.equal((afterStats.client_credentials ?? 0) - (before.client_credentials ?? 0), 1);
    const gwAfter = await gw.stats();
    assert.ok(gwAfter.revoked > gwBefore.revoked, `the cached token was sent and refused first: ${JSON.stringify(gwAfter)}`);
    await assertNothingLeftRunning(oc);
    await oc.stop();
  });

  test("the same opencode.json and plugin directory work in OpenCode 1.18.33", { timeout: TEST_TIMEOUT_MS }, async () => {
    const config = { provider: { corp: ccProvider() } };
    const v2 = await openCode2({ config });
    const v1 = await stack.isolatedOpenCode({ pluginSpec: pluginDir, config }); // node_modules/.bin/opencode
    const file = (oc) => readFileSync(join(oc.dirs.opencodeConfig, "opencode.json"), "utf8");
    assert.equal(file(v1), file(v2), "one opencode.json");
    assert.equal(JSON.parse(file(v1)).plugin[0], pluginDir);

    const version = await v1.run(["--version"], { timeoutMs: 30_000 });
    assert.match(version.stdout, /^1\.18\.33/m);
    const models = await opencode(v1, ["models", "corp"], { printLogs: true });
    assert.equal(models.code, 0, describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(models));
    await assertAnswers(v1, "corp/m1", "cc-basic", []);
    await assertAnswers(v2, "corp/m1", "cc-basic");
    await assertNothingLeftRunning(v1);
    await assertNothingLeftRunning(v2);
    await v1.stop();
    await v2.stop();
  });
});

// ---------------------------------------------------------------------------
// user logins through `opencode auth login`

describe("OpenCode 2.1.2, logins with `opencode auth login`", () => {
  let oc;
  before(async () => {
    oc = await openCode2({
      config: {
        provider: {
          corp: userProvider("Corp (browser)", "code-public", "authorization_code"),
          "corp-device": userProvider("Corp (device)", "device-public", "device_code"),
          // An oauth2 block with an error (no scopes for a user flow): its login says why.
          broken: { name: "Broken", options: { baseURL: "http://127.0.0.1:9/v1", oauth2: { issuer: "http://127.0.0.1:9", clientId: "c", authFlow: "authorization_code" } } },
        },
      },
    });
  });

  test("a provider whose oauth2 block has an error: its login names the provider, the field and what is expected", { timeout: TEST_TIMEOUT_MS }, async () => {
    const r = await opencode(oc, ["auth", "login", "broken", "--method", "Browser", "--standalone"], { printLogs: false });
    assert.notEqual(r.code, 0, describeRun(r));
    assert.match(r.stdout + r.stderr, /opencode-oauth2: provider "broken": provider\.broken\.options\.oauth2\.scopes is missing: expected at least one scope/, describeRun(r));
  });

  test("before a login: no models, but one entry that says how to log in, and using it says so too", { timeout: TEST_TIMEOUT_MS }, async () => {
    const models = await opencode(oc, ["models", "--standalone"]);
    assert.equal(models.code, 0, describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp"), ["corp/sign-in"], describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp-device"), ["corp-device/sign-in"], describeRun(models));
    const run = await opencode(oc, ["run", "--standalone", "--model", "corp/sign-in", "hello"]);
    assert.notEqual(run.code, 0, describeRun(run));
    assert.match(run.stdout + run.stderr + run.log, /\/connect in OpenCode, or opencode auth login corp\b/, describeRun(run));
  });

  test("Browser: the printed URL signs in with the real headless Chromium; then models are listed, run answers, OpenCode stores a marker and no token", { timeout: TEST_TIMEOUT_MS }, async () => {
    const login = startOpenCode(oc, ["auth", "login", "corp", "--method", "Browser", "--standalone"]);
    try {
      const [url] = await login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/start\/[A-Za-z0-9_-]+/);
      const resultFile = join(oc.dirs.root, "chromium-result.json");
      const browser = await stack.runCommand(process.execPath, [chromiumLogin, resultFile, url], { timeoutMs: 100_000 });
      const result = existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, "utf8")) : { ok: false };
      assert.equal(result.ok, true, `Chromium: ${JSON.stringify(result)} ${browser.stderr.slice(-1000)}`);
      const done = await login.done();
      assert.equal(done.code, 0, `opencode auth login: exit ${done.code}:\n${redact(done.output)}`);
      assert.match(done.output, /Connected to Corp \(browser\)/, redact(done.output));
      assertNoSecrets(done.output);
    } finally {
      login.kill();
    }

    const models = await opencode(oc, ["models", "--standalone"]);
    assert.equal(models.code, 0, describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(models));
    await assertAnswers(oc, "corp/m1", "alice");

    // OpenCode 2's credential store holds the plugin's marker, never a token.
    const rows = (await credentials(oc)).filter((r) => r.integration_id === "corp");
    assert.equal(rows.length, 1, `one credential for corp: ${rows.length}`);
    assert.ok(rows[0].value.includes(MARKER), "the credential is the plugin's marker");
    assert.ok(!rows[0].value.includes("eyJ"), "no JWT in the credential");
    const tokens = cachedTokens(oc, "corp");
    assert.equal(tokens.length, 1, "the plugin's cache holds the login's token");
    const db = databaseBytes(oc);
    for (const [what, value] of [["access token", tokens[0].accessToken], ["refresh token", tokens[0].refreshToken]]) {
      assert.ok(typeof value === "string" && value.length > 20, `the cache has a ${what}`);
      assert.ok(!db.includes(value), `the ${what} is not in OpenCode's database`);
    }
    await assertNothingLeftRunning(oc);
  });

  test("Device code: the printed code is approved on the authorization server's pages; then run answers", { timeout: TEST_TIMEOUT_MS }, async () => {
    const login = startOpenCode(oc, ["auth", "login", "corp-device", "--method", "Device code", "--standalone"]);
    try {
      const [, userCode] = await login.waitFor(/shows this code: ([A-Z0-9]{4}-[A-Z0-9]{4})/);
      const [url] = await login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/device\S*/);
      assert.ok(url.startsWith(`${as.issuer}/device`), "the verification URL is the authorization server's");
      await approveDevice(url, userCode);
      const done = await login.done();
      assert.equal(done.code, 0, `opencode auth login: exit ${done.code}:\n${redact(done.output)}`);
      assert.match(done.output, /Connected to Corp \(device\)/, redact(done.output));
    } finally {
      login.kill();
    }
    const models = await opencode(oc, ["models", "--standalone"]);
    assert.deepEqual(listed(models.stdout, "corp-device"), ["corp-device/m1", "corp-device/m2"], describeRun(models));
    await assertAnswers(oc, "corp-device/m2", "alice");
    const rows = (await credentials(oc)).filter((r) => r.integration_id === "corp-device");
    assert.equal(rows.length, 1);
    assert.ok(rows[0].value.includes(MARKER) && !rows[0].value.includes("eyJ"), "the credential is the plugin's marker, no token");
    await assertNothingLeftRunning(oc);
  });
});

// ---------------------------------------------------------------------------
// the background service

describe("OpenCode 2.1.2, the background service", () => {
  test("three projects, one service: one sidecar, kept across `opencode reload`, gone after `opencode service stop`", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ config: { provider: { corp: ccProvider() } } });
    await ownServicePort(oc);
    try {
      const projects = [];
      for (const name of ["alpha", "beta", "gamma"]) {
        const dir = join(oc.dirs.root, "projects", name);
        await mkdir(dir, { recursive: true });
        projects.push(dir);
      }
      for (const dir of projects) {
        const models = await opencode(oc, ["models"], { cwd: dir });
        assert.equal(models.code, 0, describeRun(models));
        assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], `in ${dir}: ${describeRun(models)}`);
      }
      const first = sidecars(oc);
      assert.equal(first.length, 1, `one sidecar serves the three projects: ${first.map((p) => `${p} ${cmdline(p)}`).join("; ")}`);

      const reload = await opencode(oc, ["reload"]);
      assert.equal(reload.code, 0, describeRun(reload));
      const again = await opencode(oc, ["models"], { cwd: projects[1] });
      assert.deepEqual(listed(again.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(again));
      assert.deepEqual(sidecars(oc), first, "the same sidecar after `opencode reload`");
      await assertAnswers(oc, "corp/m1", "cc-basic", []);
      assert.deepEqual(sidecars(oc), first);
    } finally {
      const stop = await stopService(oc);
      assert.equal(stop.code, 0, `opencode service stop: ${stop.stderr}`);
    }
    await assertNothingLeftRunning(oc, "nothing of this environment remains after `opencode service stop`");
    await oc.stop();
  });
});

describe("OpenCode 2.1.2, a login made in another shell", () => {
  test("`opencode-oauth2 login` while the service runs: the provider's models appear in it within seconds, no restart", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ config: { provider: { corp: userProvider("Corp (browser)", "code-public", "authorization_code") } } });
    await ownServicePort(oc);
    try {
      const before = await opencode(oc, ["models"]);
      assert.equal(before.code, 0, describeRun(before));
      assert.deepEqual(listed(before.stdout, "corp"), ["corp/sign-in"], "no models before the login, only the entry that says how to log in");

      // Another shell: the command line logs in, the real Chromium signs in.
      const result = join(oc.dirs.root, "chromium.json");
      const login = await oc.exec(stack.paths.sidecar, ["login", "corp"], {
        timeoutMs: LOGIN_TIMEOUT_MS,
        env: { OPENCODE_OAUTH2_BROWSER: `${process.execPath} ${chromiumLogin} ${result}` },
      });
      assert.equal(login.code, 0, redact(login.stderr));

      const t0 = Date.now();
      let now;
      do {
        await new Promise((r) => setTimeout(r, 1000));
        now = await opencode(oc, ["models"]);
      } while (listed(now.stdout, "corp").length === 0 && Date.now() - t0 < 30_000);
      console.log(`# listed in the running service ${((Date.now() - t0) / 1000).toFixed(1)} s after the login`);
      assert.deepEqual(listed(now.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(now));
      await assertAnswers(oc, "corp/m1", "alice", []);
    } finally {
      const stop = await stopService(oc);
      assert.equal(stop.code, 0, `opencode service stop: ${stop.stderr}`);
    }
    await assertNothingLeftRunning(oc);
    await oc.stop();
  });
});

// ---------------------------------------------------------------------------
// the packed package, installed by name

describe("OpenCode 2.1.2, @vymalo/opencode-oauth2 installed by name", () => {
  let registry;
  let env;
  before(async () => {
    const target = localTarget();
    assert.ok(target, `this machine (${process.platform}-${process.arch}) has no platform package`);
    const indexFile = join(packedDir, "index.json");
    assert.ok(existsSync(indexFile), `${indexFile} is missing: pack first (task package:local, or node js-shim/pack.mjs --targets local --out dist/npm-local)`);
    registry = await startRegistry(packedDir);
    env = {
      // No Go toolchain and no development build: only the package's binary can serve.
      PATH: (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "" && !existsSync(join(d, "go"))).join(delimiter),
      OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1",
      OPENCODE_OAUTH2_BINARY: "",
      // OpenCode's npm code reads npm's configuration from the environment.
      npm_config_registry: registry.url,
    };
  });
  after(async () => {
    await registry?.close();
  });

  test("`\"plugin\": [\"@vymalo/opencode-oauth2\"]`: OpenCode 2 installs it from the registry; models listed, run answers", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ pluginSpec: MAIN_PACKAGE, config: { provider: { corp: ccProvider() } }, env });
    const models = await opencode(oc, ["models", "--standalone"]);
    assert.equal(models.code, 0, describeRun(models));
    assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(models));
    assert.ok(registry.requests().some((r) => r.startsWith("GET /-/tarballs/")), `fetched from the registry: ${registry.requests().join(", ")}`);
    await assertAnswers(oc, "corp/m1", "cc-basic");
    const started = (await oc.sidecarLog()).split("\n").filter((l) => l.includes('"msg":"sidecar started"'));
    assert.ok(started.length > 0, "the sidecar's log has its start");
    for (const line of started) {
      const f = JSON.parse(line);
      assert.equal(f.binary_source, "platform-package", line);
      assert.ok(f.binary.startsWith(join(oc.dirs.cache, "opencode")), `the binary OpenCode installed: ${f.binary}`);
    }
    await assertNothingLeftRunning(oc);
    await oc.stop();
  });

  test("`opencode plugin add @vymalo/opencode-oauth2` installs it and writes the global config", { timeout: TEST_TIMEOUT_MS }, async () => {
    const oc = await openCode2({ config: { plugin: [], provider: { corp: ccProvider() } }, env });
    await ownServicePort(oc);
    const configFile = join(oc.dirs.opencodeConfig, "opencode.json");
    try {
      const add = await opencode(oc, ["plugin", "add", MAIN_PACKAGE]);
      assert.equal(add.code, 0, describeRun(add));
      assert.ok(add.stdout.includes(`"${MAIN_PACKAGE}" installed and added to ${configFile}`), describeRun(add));
      const config = JSON.parse(await readFile(configFile, "utf8"));
      assert.deepEqual(config.plugins, [MAIN_PACKAGE], "the global config lists the package");
      assert.equal(config.provider.corp.options.oauth2.clientId, "cc-basic", "the rest of the config is kept");

      // The service picks the new plugin up on its own, shortly after `plugin add` returns.
      let models;
      const deadline = Date.now() + 30_000;
      do {
        if (models !== undefined) await delay(500);
        models = await opencode(oc, ["models"]);
      } while ((models.code !== 0 || listed(models.stdout, "corp").length === 0) && Date.now() < deadline);
      assert.equal(models.code, 0, describeRun(models));
      assert.deepEqual(listed(models.stdout, "corp"), ["corp/m1", "corp/m2"], describeRun(models));
      await assertAnswers(oc, "corp/m1", "cc-basic", []);
      assert.equal(sidecars(oc).length, 1, "one sidecar in the service");
    } finally {
      const stop = await stopService(oc);
      assert.equal(stop.code, 0, `opencode service stop: ${stop.stderr}`);
    }
    await assertNothingLeftRunning(oc, "nothing of this environment remains after `opencode service stop`");
    await oc.stop();
  });
});
