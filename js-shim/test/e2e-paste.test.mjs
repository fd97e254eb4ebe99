// End to end, signing in from another machine's browser (`opencode-oauth2 login --paste`):
// the real headless Chromium signs in on the real authorization server's login form and
// ends on the loopback address, which it cannot reach (the request is stopped, as on a
// remote machine); that address pasted into the command logs in. A pasted address with
// a wrong state, one from an earlier login (reused) and garbage are refused with a clear
// line and nothing stored; then the real OpenCode answers with the login.
//
// The same from OpenCode's own login command, whose third method ("Browser on another
// machine") asks for the address at a terminal (a real pseudo-terminal from `script`):
// `opencode auth login corp --method ...` in OpenCode 2.1.2, `-p corp -m ...` in 1.18.33.
//
// The build outputs must exist (`task test:shim` builds them).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import * as stack from "../../examples/test-stack/harness.mjs";

const TIMEOUT_MS = 240_000;
let as;
let gw;
let oc;

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode", "opencode2"]);
  as = await stack.startAuthServer({ AUTO_LOGIN: "0" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1"] });
  oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        corp: { name: "Corp", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId: "code-public", scopes: ["openid", "offline_access", "gateway"] } } },
      },
    },
  });
});
after(() => stack.stop());

/** `opencode-oauth2 login --paste corp` with a pipe for stdin; stderr is watched. */
function startLogin(extra = []) {
  const child = spawn(stack.paths.sidecar, ["login", "--paste", ...extra, "corp"], { cwd: oc.dirs.project, env: oc.env, stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c) => (err += c));
  const exited = new Promise((r) => child.once("close", (code) => r(code)));
  return {
    paste: (line) => child.stdin.write(`${line}\n`),
    stderr: () => err,
    async waitFor(re, ms = 60_000) {
      const t0 = Date.now();
      for (;;) {
        const m = re.exec(err);
        if (m) return m;
        if (Date.now() - t0 > ms) throw new Error(`no ${re} in stderr:\n${err.replace(/[?&](state|code|code_challenge|nonce)=[^&\s]+/g, "&$1=<redacted>")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    exited,
    kill: () => child.kill("SIGKILL"),
  };
}

/** Signs in with the real Chromium and returns the loopback address it ended on (never reached). */
async function signInElsewhere(authURL) {
  const profile = await mkdtemp(join(tmpdir(), "oc-oauth2-paste-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    let landed;
    const reached = new Promise((resolve) => (landed = resolve));
    const page = context.pages()[0] ?? (await context.newPage());
    // `login --paste` answers nothing on its loopback address, as for a browser on
    // another machine: the browser's last request is refused; its address is kept.
    page.on("request", (r) => {
      if (/^http:\/\/127\.0\.0\.1:\d+\/oauth2\/callback\?/.test(r.url())) landed(r.url());
    });
    await page.goto(authURL, { waitUntil: "domcontentloaded", timeout: 30_000 });
    await page.locator("#login-form").waitFor({ timeout: 30_000 });
    await page.fill("#login", "alice");
    await page.fill("#password", "demo");
    await page.click("#submit");
    return await Promise.race([reached, new Promise((_, rej) => setTimeout(() => rej(new Error("the browser never reached the loopback address")), 60_000).unref())]);
  } finally {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  }
}

const tokenFiles = () =>
  existsSync(oc.dirs.oauth2Cache) ? readdirSync(oc.dirs.oauth2Cache).filter((f) => /^corp-[^.]+\.json$/.test(f)) : [];
const stored = () => tokenFiles().some((f) => JSON.parse(readFileSync(join(oc.dirs.oauth2Cache, f), "utf8")).token);

test("login --paste: a browser elsewhere signs in, its address pasted logs in; wrong state, reuse and garbage are refused", { timeout: TIMEOUT_MS }, async () => {
  const login = startLogin();
  let landedAt;
  try {
    const [authURL] = await login.waitFor(/http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/);
    assert.match(login.stderr(), /open this URL in a browser on any machine/);
    landedAt = await signInElsewhere(authURL);
    assert.match(landedAt, /[?&]code=/);

    login.paste("hello, this is not an address");
    await login.waitFor(/Not accepted: that is not an address; paste the whole address the browser ended on/);
    const wrong = new URL(landedAt);
    wrong.searchParams.set("state", "not-the-state-of-this-login");
    login.paste(wrong.href);
    await login.waitFor(/Not accepted: this is not the answer of this login: the state parameter does not match this login/);
    assert.equal(stored(), false, "nothing is stored for a refused paste");

    login.paste(landedAt);
    assert.equal(await login.exited, 0, login.stderr().slice(-2000));
    assert.match(login.stderr(), /Logged in to Corp \(corp\) as alice/);
    assert.equal(stored(), true);
  } finally {
    login.kill();
  }

  // The same address again, into a new login: its state is another login's.
  const before = tokenFiles().map((f) => readFileSync(join(oc.dirs.oauth2Cache, f), "utf8"));
  const again = startLogin(["--force"]);
  try {
    await again.waitFor(/http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/);
    again.paste(landedAt);
    await again.waitFor(/Not accepted: this is not the answer of this login: the state parameter does not match/);
  } finally {
    again.kill();
    await again.exited;
  }
  assert.deepEqual(tokenFiles().map((f) => readFileSync(join(oc.dirs.oauth2Cache, f), "utf8")), before, "a reused address changes nothing");

  const run = await oc.run(["run", "--model", "corp/m1", "hello"], { timeoutMs: 120_000 });
  assert.match(run.stdout, /Hello from the OAuth gateway, alice!/, run.stdout + run.stderr);
});

/** Terminal text without escape sequences and line breaks (the host draws its prompts). */
const plain = (s) => s.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "").replace(/\x1b\][^\x07]*\x07/g, "").replace(/[\r\n]/g, "");

for (const host of [1, 2]) {
  test(`OpenCode ${host === 2 ? "2.1.2" : "1.18.33"}'s login method "Browser on another machine": the pasted address logs in; run answers`, { timeout: TIMEOUT_MS }, async () => {
    const config = {
      provider: {
        corp: { name: "Corp", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId: "code-public", scopes: ["openid", "offline_access", "gateway"] } } },
      },
    };
    let o;
    let bin;
    let args;
    if (host === 2) {
      const dir = await stack.pluginDir();
      o = await stack.isolatedOpenCode({ opencodeBin: stack.paths.opencode2, pluginSpec: dir, config });
      bin = stack.paths.opencode2;
      args = "auth login corp --method 'Browser on another machine' --standalone";
    } else {
      o = await stack.isolatedOpenCode({ config });
      bin = stack.paths.opencode;
      args = "auth login -p corp -m 'Browser on another machine'";
    }
    // A terminal wide enough that OpenCode prints the URL on one line.
    const child = spawn("script", ["-qec", `stty cols 2000 rows 50; exec '${bin}' ${args}`, "/dev/null"], {
      cwd: o.dirs.project,
      env: { ...o.env, SHELL: "/bin/sh", TERM: "xterm", COLUMNS: "400" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const exited = new Promise((r) => child.once("close", (code) => r(code)));
    try {
      const t0 = Date.now();
      let authURL;
      while (!(authURL = /http:\/\/127\.0\.0\.1:\d+\/auth\?[A-Za-z0-9%._~=&+-]+/.exec(plain(out))?.[0])) {
        if (Date.now() - t0 > 60_000) throw new Error(`no authorization URL from OpenCode:\n${plain(out).slice(-1500).replace(/state=[^&]+/g, "state=<redacted>")}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const landedAt = await signInElsewhere(authURL);
      child.stdin.write(`${landedAt}\r`);
      assert.equal(await exited, 0, plain(out).slice(-1500).replace(/(state|code)=[^&\s]+/g, "$1=<redacted>"));
      assert.match(plain(out), host === 2 ? /Connected to Corp/ : /Login successful/);
    } finally {
      child.kill("SIGKILL");
    }
    const run = await o.run(["run", ...(host === 2 ? ["--standalone"] : []), "--model", "corp/m1", "hello"], { timeoutMs: 120_000 });
    assert.match(run.stdout, /Hello from the OAuth gateway, alice!/, run.stdout + run.stderr);
    await o.stop();
  });
}
