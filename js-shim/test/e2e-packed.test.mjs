// End to end AS NPM USERS GET IT (issue 6): the packed tarballs (js-shim/pack.mjs;
// `task package:local` writes dist/npm-local/, OPENCODE_OAUTH2_PACKED_DIR may name
// another folder such as dist/npm/) are served by a local npm registry on 127.0.0.1
// (test-support/npm-registry.mjs), and the REAL OpenCode is configured with
// `"plugin": ["@vymalo/opencode-oauth2"]`: it installs the package BY NAME into its
// cache ($XDG_CACHE_HOME/opencode/packages/@vymalo/opencode-oauth2@latest/node_modules/...)
// with its own npm code, which picks this platform's optional binary package, and loads
// it. OpenCode runs with no Go toolchain on PATH and OPENCODE_OAUTH2_FORBID_DEV_BUILD=1,
// so nothing can pass through a development build. The real authorization server and
// the test gateway (examples/test-stack) check the tokens.
//
// This file never builds anything but bin/test-gateway (through the harness).

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";
import { localTarget, MAIN_PACKAGE } from "../pack.mjs";
import { startRegistry } from "../test-support/npm-registry.mjs";

const MODEL = "packed-model";
const RUN_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 60_000;
const JWT_SUBJECT = "ci-job-packed";
const packedDir = resolve(stack.repoRoot, process.env.OPENCODE_OAUTH2_PACKED_DIR ?? join("dist", "npm-local"));
const target = localTarget();
const cacheEntry = (dirs) => join(dirs.cache, "opencode", "packages", "@vymalo", "opencode-oauth2@latest");

let index;
let registry;
let as;
let gw;
let oc;
let noGoEnv;
let subjectToken;

/** PATH without any directory that holds a `go` executable. */
function pathWithoutGo() {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((d) => d !== "" && !["go", "go.exe"].some((f) => existsSync(join(d, f))))
    .join(delimiter);
}

function provider(name, oauth2) {
  return { name, models: { [MODEL]: { name: "Packed E2E Model" } }, options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...oauth2 } } };
}

function assertNoSecrets(text) {
  for (const [what, value] of Object.entries({
    "cc-basic secret": stack.clients.ccBasic.clientSecret,
    "exchange-client secret": stack.clients.exchange.clientSecret,
    "subject token": subjectToken,
  })) {
    assert.ok(!text.includes(value), `the ${what} reached OpenCode's output or log`);
  }
}

async function assertNothingLeftRunning(o) {
  const deadline = Date.now() + 10_000;
  while (o.processes().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(o.processes(), [], "no OpenCode or sidecar process outlives the run");
}

/** opencode <args>; `log` is OpenCode's log of the run (--print-logs). */
async function opencode(o, args) {
  const run = await o.run(args, { timeoutMs: RUN_TIMEOUT_MS, printLogs: true });
  console.log(`# opencode ${args.slice(0, 3).join(" ")}: exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s`);
  return run;
}

const tarballs = () => registry.requests().filter((r) => r.startsWith("GET /-/"));

before(async () => {
  if (!target) throw new Error(`this machine (${process.platform}-${process.arch}) has no platform package`);
  const indexFile = join(packedDir, "index.json");
  if (!existsSync(indexFile)) {
    throw new Error(`${indexFile} is missing: pack first (task package:local, or node js-shim/pack.mjs --targets local)`);
  }
  index = JSON.parse(readFileSync(indexFile, "utf8"));
  for (const name of [MAIN_PACKAGE, target.name]) {
    const p = index.packages.find((x) => x.name === name);
    assert.ok(p?.tarball && existsSync(join(packedDir, p.tarball)), `${packedDir} has no tarball of ${name}: run task package:local`);
  }
  stack.requireBuilt(["opencode"]);
  registry = await startRegistry(packedDir);
  as = await stack.startAuthServer();
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: [MODEL], chunkDelay: "5ms" });
  subjectToken = await stack.mintSubjectToken({ subject: JWT_SUBJECT, audience: as.issuer, ttlSeconds: 900 });
  const secrets = await stack.makeTmp("oc-oauth2-packed-subject-");
  const subjectFile = join(secrets, "subject.jwt");
  await writeFile(subjectFile, `${subjectToken}\n`, { mode: 0o600 });
  await chmod(subjectFile, 0o600);

  noGoEnv = {
    PATH: pathWithoutGo(),
    // OpenCode's npm code reads npm's configuration from the environment.
    npm_config_registry: registry.url,
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1",
  };
  const { ccBasic, exchange } = stack.clients;
  oc = await stack.isolatedOpenCode({
    pluginSpec: MAIN_PACKAGE, // by name, as a user writes it
    config: {
      provider: {
        "cc-gw": provider("Client credentials", { ...ccBasic, authFlow: "client_credentials" }),
        "jwt-gw": provider("JWT bearer", { ...exchange, authFlow: "jwt_bearer", subjectTokenSource: { type: "file", path: subjectFile } }),
        "tx-gw": provider("Token exchange", {
          ...exchange, authFlow: "token_exchange", subjectTokenSource: { type: "env", var: "E2E_SUBJECT_TOKEN" }, tokenExchangeAudience: as.audience,
        }),
        "pc-gw": provider("Authorization code", { clientId: "code-public", authFlow: "authorization_code", scopes: ["openid", "offline_access"] }),
      },
    },
    env: { ...noGoEnv, E2E_SUBJECT_TOKEN: subjectToken },
  });
});

after(async () => {
  await registry?.close();
  await stack.stop();
});

describe("the packed plugin, installed by name by the real OpenCode", () => {
  test("OpenCode's environment has no Go toolchain", async () => {
    const r = await oc.exec("/bin/sh", ["-c", "command -v go"]);
    assert.notEqual(r.code, 0, `go is on OpenCode's PATH: ${r.stdout}`);
  });

  test("client_credentials: OpenCode installs @vymalo/opencode-oauth2 from the registry and `opencode run` prints the gateway's answer", { timeout: TEST_TIMEOUT_MS }, async () => {
    await gw.resetStats();
    const run = await opencode(oc, ["run", "--model", `cc-gw/${MODEL}`, "say hi"]);
    assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`);
    assert.match(run.stdout, /^Hello from the OAuth gateway, cc-basic!$/m, `stdout:\n${run.stdout}`);
    const stats = await gw.stats();
    assert.equal(stats.last_client_id, "cc-basic", JSON.stringify(stats));
    assert.equal(stats.unauthorized, 0, JSON.stringify(stats));

    // Where OpenCode put it: the package and this platform's binary package only.
    const nm = join(cacheEntry(oc.dirs), "node_modules", "@vymalo");
    assert.deepEqual(readdirSync(nm).sort(), ["opencode-oauth2", `opencode-oauth2-${target.suffix}`], `installed under ${nm}`);
    assert.equal(JSON.parse(readFileSync(join(nm, "opencode-oauth2", "package.json"), "utf8")).version, index.version);
    const binary = join(nm, `opencode-oauth2-${target.suffix}`, "bin", target.exe);
    // Fetched from the registry: the two tarballs, nothing for other platforms.
    const mainTgz = index.packages.find((p) => p.name === MAIN_PACKAGE).tarball;
    const platformTgz = index.packages.find((p) => p.name === target.name).tarball;
    assert.deepEqual(tarballs().sort(), [`GET /-/tarballs/${mainTgz}`, `GET /-/tarballs/${platformTgz}`].sort());

    // The shim used the platform package's binary, checked, and that binary answered
    // (its own log says so; OpenCode's log gets warnings and errors only).
    const sidecarLog = await oc.sidecarLog();
    const started = sidecarLog.split("\n").find((l) => l.includes('"msg":"sidecar started"'));
    assert.ok(started, `no "sidecar started" line in the sidecar's log:\n${sidecarLog.slice(-4000)}`);
    const fields = JSON.parse(started);
    assert.deepEqual([fields.binary, fields.binary_source, fields.version], [binary, "platform-package", index.version], started);
    assert.equal(fields.binary_check, "owner and permissions checked", started);
    assert.match(sidecarLog, /"msg":"configuration applied","managed":\["[^\]]*"\]/);
    assert.equal(JSON.parse(sidecarLog.split("\n").find((l) => l.includes('"msg":"configuration applied"'))).managed.length, 4);
    assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}\n${sidecarLog}`);
    await assertNothingLeftRunning(oc);
  });

  test("jwt_bearer through the packed plugin", { timeout: TEST_TIMEOUT_MS }, async () => {
    const before = tarballs().length;
    const run = await opencode(oc, ["run", "--model", `jwt-gw/${MODEL}`, "say hi"]);
    assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`);
    assert.match(run.stdout, new RegExp(`^Hello from the OAuth gateway, ${JWT_SUBJECT}!$`, "m"), `stdout:\n${run.stdout}`);
    assert.equal(tarballs().length, before, "the cached install is reused");
    assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}`);
    await assertNothingLeftRunning(oc);
  });

  test("token_exchange through the packed plugin", { timeout: TEST_TIMEOUT_MS }, async () => {
    const run = await opencode(oc, ["run", "--model", `tx-gw/${MODEL}`, "say hi"]);
    assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`);
    assert.match(run.stdout, new RegExp(`^Hello from the OAuth gateway, ${JWT_SUBJECT}!$`, "m"), `stdout:\n${run.stdout}`);
    assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}`);
    await assertNothingLeftRunning(oc);
  });

  test("a browser login with the packed binary (real headless Chromium), then `opencode run` answers for the user", { timeout: TEST_TIMEOUT_MS }, async () => {
    const binary = join(cacheEntry(oc.dirs), "node_modules", "@vymalo", `opencode-oauth2-${target.suffix}`, "bin", target.exe);
    const result = join(await stack.makeTmp("oc-oauth2-packed-browser-"), "result.json");
    const chromiumLogin = fileURLToPath(new URL("../../go/internal/oauth/testdata/chromium-login.mjs", import.meta.url));
    const login = await oc.exec(binary, ["login", "pc-gw"], {
      timeoutMs: 150_000,
      env: { OPENCODE_OAUTH2_BROWSER: `node ${chromiumLogin} ${result}` },
    });
    assert.equal(login.code, 0, `login: stdout:\n${login.stdout}\nstderr:\n${login.stderr}`);
    assert.match(login.stderr, /Logged in to .* as alice with authorization_code/);
    assert.equal(JSON.parse(readFileSync(result, "utf8")).ok, true, "Chromium reached the success page");
    const run = await opencode(oc, ["run", "--model", `pc-gw/${MODEL}`, "say hi"]);
    assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`);
    assert.match(run.stdout, /^Hello from the OAuth gateway, alice!$/m, `stdout:\n${run.stdout}`);
    assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}`);
    await assertNothingLeftRunning(oc);
  });

  test("a binary another user could replace is refused before it runs, naming the file and why", { timeout: TEST_TIMEOUT_MS }, async () => {
    const pkgDir = join(cacheEntry(oc.dirs), "node_modules", "@vymalo", `opencode-oauth2-${target.suffix}`);
    await chmod(pkgDir, 0o777);
    try {
      const logBefore = (await oc.sidecarLog()).length;
      const run = await opencode(oc, ["models", "cc-gw", "--log-level", "DEBUG"]);
      assert.equal(run.code, 0, "OpenCode itself still starts");
      assert.equal((await oc.sidecarLog()).slice(logBefore), "", "the binary never ran");
      const line = run.log.split("\n").find((l) => l.includes("refusing to start the sidecar binary"));
      assert.ok(line, `no refusal in the log:\n${run.log.slice(-4000)}`);
      assert.match(line, /level=ERROR/);
      assert.ok(line.includes(`another user could replace it (${pkgDir} is writable by every user)`), line);
      await assertNothingLeftRunning(oc);
    } finally {
      await chmod(pkgDir, 0o755);
    }
  });
});

describe("installed with --omit=optional", () => {
  test("the missing platform package is named, with the fix, in what the user sees", { timeout: TEST_TIMEOUT_MS }, async () => {
    const o = await stack.isolatedOpenCode({
      pluginSpec: MAIN_PACKAGE,
      config: { provider: { "cc-gw": provider("Client credentials", { ...stack.clients.ccBasic, authFlow: "client_credentials" }) } },
      env: noGoEnv,
    });
    // Pre-fill OpenCode's cache entry with a real npm install, as a user's npm
    // configured with omit=optional would: OpenCode then fetches nothing.
    const dir = cacheEntry(o.dirs);
    await mkdir(dir, { recursive: true });
    const npm = await stack.runCommand(
      process.platform === "win32" ? "npm.cmd" : "npm",
      ["install", "--omit=optional", "--no-audit", "--no-fund", "--ignore-scripts", "--registry", registry.url, `${MAIN_PACKAGE}@latest`],
      { cwd: dir, env: { ...process.env, npm_config_cache: join(o.dirs.root, "npm-cache"), HOME: o.dirs.home }, timeoutMs: 120_000 },
    );
    assert.equal(npm.code, 0, `npm install failed:\n${npm.stderr}`);
    assert.ok(existsSync(join(dir, "node_modules", "@vymalo", "opencode-oauth2", "package.json")));
    assert.ok(!existsSync(join(dir, "node_modules", "@vymalo", `opencode-oauth2-${target.suffix}`)), "--omit=optional left the platform package out");

    const fetched = tarballs().length;
    const run = await opencode(o, ["run", "--model", `cc-gw/${MODEL}`, "say hi"]);
    assert.equal(tarballs().length, fetched, "OpenCode used the pre-filled cache entry");
    assert.notEqual(run.code, 0, `exit code; stdout:\n${run.stdout}`);
    assert.doesNotMatch(run.stdout, /Hello from the OAuth gateway/);
    // On the terminal (OpenCode prints the failed request's error on stderr):
    assert.ok(
      run.stderr.split("\n").some((l) => l.startsWith("opencode-oauth2: no provider was registered:") && l.includes(`platform package ${target.name} is not installed`)),
      `stderr says at start that no provider was registered:\n${run.stderr}`,
    );
    const line = run.stderr.split("\n").find((l) => l.includes(`platform package ${target.name} is not installed`) && l.includes("is configured for OAuth2"));
    assert.ok(line, `stderr does not name the missing package:\n${run.stderr}\nlog (tail):\n${run.log.slice(-3000)}`);
    console.log(`# OpenCode prints: ${line.trim()}`);
    assert.match(line, /provider "cc-gw" is configured for OAuth2/);
    assert.match(line, /--omit=optional/);
    assert.ok(line.includes(`OpenCode installed this plugin into ${dir}: delete that folder`), line);
    // ... and in OpenCode's log, once, at start-up:
    assert.match(run.log, new RegExp(`level=ERROR.*no provider was registered: .*platform package ${target.name.replace("/", "\\/")} is not installed`));
    await assertNothingLeftRunning(o);
    await o.stop();
  });
});
