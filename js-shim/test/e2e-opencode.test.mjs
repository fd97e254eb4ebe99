// End to end with the REAL OpenCode (node_modules/opencode-ai, the version in
// package.json) loading the built plugin bundle (js-shim/dist/index.js) by
// file:// URL, and the real sidecar (the repo's development build).
//
// Each OpenCode run is isolated: HOME and XDG_* in a temp dir, no network
// fetches, the config-dir npm install pre-satisfied (see
// /work/shared/reference/opencode-host.md), a deadline, its process group
// killed in cleanup, and a check that no sidecar outlives it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { buildShim, distFile } from "../build.mjs";
import { cleanupTmp, ensureGoBinary, makeTmp, repoRoot, waitFor } from "../test-support/helpers.mjs";
import { readSidecarLog } from "../../examples/test-stack/harness.mjs";

const opencodeBin = join(repoRoot, "node_modules", ".bin", process.platform === "win32" ? "opencode.cmd" : "opencode");
const pluginVersion = JSON.parse(readFileSync(join(repoRoot, "node_modules", "@opencode-ai", "plugin", "package.json"), "utf8")).version;
const RUN_TIMEOUT_MS = 120_000;
const SECRET = "s3cr3t-e2e-value-do-not-log";

const running = new Set();

before(async () => {
  await Promise.all([buildShim(), ensureGoBinary()]);
});
after(async () => {
  for (const child of running) killGroup(child);
  await cleanupTmp();
});

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    try {
      child.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/** An isolated OpenCode home with `config` as the global opencode.json. */
async function isolatedOpenCode(config) {
  const root = await makeTmp("oc-oauth2-e2e-");
  const dirs = {
    root,
    home: join(root, "home"),
    config: join(root, "config"),
    data: join(root, "data"),
    cache: join(root, "cache"),
    state: join(root, "state"),
    project: join(root, "project"),
    oauth2Cache: join(root, "oauth2-cache"),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  const ocConfig = join(dirs.config, "opencode");
  // The config-dir install trap: with these present OpenCode does not run npm.
  await mkdir(join(ocConfig, "node_modules"), { recursive: true });
  await writeFile(join(ocConfig, "package.json"), JSON.stringify({ dependencies: { "@opencode-ai/plugin": pluginVersion } }));
  await writeFile(
    join(ocConfig, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { "@opencode-ai/plugin": pluginVersion } } } }),
  );
  await writeFile(join(ocConfig, "opencode.json"), JSON.stringify(config, null, 2));
  return dirs;
}

function openCodeEnv(dirs, extra = {}) {
  const env = {};
  // Nothing of the caller's OpenCode / plugin settings leaks in.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("OPENCODE") && !k.startsWith("XDG_")) env[k] = v;
  return {
    ...env,
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    XDG_STATE_HOME: dirs.state,
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_OAUTH2_CACHE_DIR: dirs.oauth2Cache,
    OPENCODE_OAUTH2_INTERACTIVE: "0",
    ...extra,
  };
}

/** Runs opencode with a deadline; resolves {code, stdout, stderr, ms}. */
function runOpenCode(dirs, args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(opencodeBin, args, {
      cwd: dirs.project,
      // OpenCode takes its project from $PWD, not from the working directory.
      env: { ...openCodeEnv(dirs, extraEnv), PWD: dirs.project },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // own process group, so a timeout kills the sidecar too
    });
    running.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`opencode ${args.join(" ")} did not finish within ${RUN_TIMEOUT_MS / 1000} s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      running.delete(child);
      const ms = Date.now() - t0;
      console.log(`# opencode ${args.join(" ")}: exit ${code} in ${(ms / 1000).toFixed(1)} s`);
      resolve({ code, stdout, stderr, ms });
    });
  });
}

/** OpenCode's log: --print-logs output plus $XDG_DATA_HOME/opencode/log/*.log. */
async function openCodeLog(dirs, run) {
  const logDir = join(dirs.data, "opencode", "log");
  let files = "";
  if (existsSync(logDir)) {
    for (const f of await readdir(logDir)) if (f.endsWith(".log")) files += await readFile(join(logDir, f), "utf8");
  }
  return `${run.stderr}\n${files}`;
}

/** The log lines worth showing when an assertion fails. */
function excerpt(log) {
  return log
    .split("\n")
    .filter((l) => /plugin|oauth2|level=(ERROR|WARN)|creating instance|message=init|disposing/i.test(l) && !/service=bus/.test(l))
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
    .join("\n");
}

/** Linux: sidecar processes started for this test (found by their cache dir). */
function sidecarsOf(dirs) {
  if (process.platform !== "linux") return [];
  const pids = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmd.includes("opencode-oauth2")) continue;
      if (readFileSync(`/proc/${pid}/environ`, "utf8").includes(`OPENCODE_OAUTH2_CACHE_DIR=${dirs.oauth2Cache}\0`)) pids.push(Number(pid));
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}

const plugin = () => pathToFileURL(distFile).href;
const goodProvider = {
  name: "E2E Gateway",
  options: {
    baseURL: "http://127.0.0.1:9/v1",
    oauth2: {
      issuer: "http://127.0.0.1:9",
      clientId: "e2e-client",
      clientSecret: SECRET,
      scopes: ["openid"],
      authFlow: "client_credentials",
      tokenEndpoint: "http://127.0.0.1:9/token",
    },
  },
  models: { "m1": { name: "E2E Model" } },
};

describe("OpenCode loads the plugin", () => {
  test("a provider with an oauth2 block is registered and its declared model listed", async () => {
    const dirs = await isolatedOpenCode({ plugin: [plugin()], provider: { e2egw: goodProvider } });
    const run = await runOpenCode(dirs, ["models", "e2egw", "--print-logs", "--log-level", "DEBUG"]);
    const log = await openCodeLog(dirs, run);
    assert.equal(run.code, 0, `exit code; stderr:\n${run.stderr}`);
    assert.match(run.stdout, /^e2egw\/m1$/m, `stdout:\n${run.stdout}\nlog:\n${excerpt(log)}`);
    // The plugin (not just OpenCode's own config handling) did it:
    const sidecarLog = await readSidecarLog(dirs.state);
    assert.match(sidecarLog, /"msg":"configuration applied","managed":\["e2egw"\]/, sidecarLog);
    assert.match(sidecarLog, /"msg":"sidecar started".*"binary_source":"dev-build"/, sidecarLog);
    assert.ok(!sidecarLog.includes(SECRET), "the client secret never reaches the sidecar's log");
    assert.ok(!log.includes(SECRET) && !run.stdout.includes(SECRET), "the client secret never reaches a log");
    await waitFor(() => sidecarsOf(dirs).length === 0, 5000, "the sidecar to exit with OpenCode");
  });

  test("one broken provider is named in the log with its field; the good one still works", async () => {
    const dirs = await isolatedOpenCode({
      plugin: [plugin()],
      provider: {
        e2egw: goodProvider,
        broken: {
          options: {
            baseURL: "http://127.0.0.1:9/v1",
            oauth2: { issuer: "http://127.0.0.1:9", clientId: "c", scopes: ["openid"], redirectPort: "abc" },
          },
        },
      },
    });
    const run = await runOpenCode(dirs, ["models", "--print-logs", "--log-level", "DEBUG"]);
    const log = await openCodeLog(dirs, run);
    assert.equal(run.code, 0, `exit code; stderr:\n${run.stderr}`);
    assert.match(run.stdout, /^e2egw\/m1$/m, `stdout:\n${run.stdout}`);
    assert.doesNotMatch(run.stdout, /^broken\//m);
    const line = log.split("\n").find((l) => /level=ERROR.*opencode-oauth2: provider \\?"broken\\?": /.test(l));
    assert.ok(line, `no problem line for "broken" in the log:\n${excerpt(log)}`);
    assert.match(line, /provider\.broken\.options\.oauth2\.redirectPort/);
    assert.match(line, /level=ERROR/);
    assert.match(run.stderr, /^opencode-oauth2: provider "broken": .*redirectPort.*not available until this is fixed$/m, "said where the user looks, not only in the log");
    assert.ok(!log.includes(SECRET), "the client secret never reaches a log");
    await waitFor(() => sidecarsOf(dirs).length === 0, 5000, "the sidecar to exit with OpenCode");
  });

  test("OPENCODE_OAUTH2_FORBID_DEV_BUILD=1 refuses the development build with a clear error; OpenCode still starts", async () => {
    const dirs = await isolatedOpenCode({ plugin: [plugin()], provider: { e2egw: goodProvider } });
    const run = await runOpenCode(dirs, ["models", "e2egw", "--print-logs", "--log-level", "DEBUG"], { OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1" });
    const log = await openCodeLog(dirs, run);
    assert.equal(run.code, 0, `exit code; stderr:\n${run.stderr}`);
    assert.equal(await readSidecarLog(dirs.state), "", "no sidecar was started");
    assert.match(run.stderr, /^opencode-oauth2: no provider was registered: .*is not installed/m, "said where the user looks");
    assert.match(log, /level=ERROR.*opencode-oauth2: no provider was registered: .*platform package @vymalo\/opencode-oauth2-\S+ is not installed/, excerpt(log));
    assert.match(log, /OPENCODE_OAUTH2_FORBID_DEV_BUILD=1 forbids using it/);
    assert.equal(sidecarsOf(dirs).length, 0);
  });
});
