// Starts the local test stack for demos and end-to-end tests: the authorization
// server (authserver.mjs), the OAuth-protected gateway (go/tools/test-gateway) and
// isolated runs of the real OpenCode (node_modules/.bin/opencode) with the plugin.
//
//   import * as stack from "./examples/test-stack/harness.mjs";
//   const as = await stack.startAuthServer();
//   const gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1"] });
//   const oc = await stack.isolatedOpenCode({ config: { provider: { ... } } });
//   const r = await oc.run(["run", "--model", "p/m1", "hi"], { timeoutMs: 60_000 });
//   await stack.stop();   // every process group killed, every temp dir removed
//
// Everything listens on 127.0.0.1. Every wait has a deadline. Each server and each
// OpenCode run gets its own process group; the servers also exit when their stdin
// (a pipe from this process) closes, so nothing outlives a crashed caller.
// No dependencies beyond Node (jose, a devDependency, only for mintSubjectToken).

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const exe = process.platform === "win32" ? ".exe" : "";
export const stackDir = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(stackDir, "..", "..");
export const paths = {
  authServer: join(stackDir, "authserver.mjs"),
  externalKey: join(stackDir, "keys", "external.json"),
  // The shim's own override is honoured here too, so the CLI and the plugin agree.
  sidecar: process.env.OPENCODE_OAUTH2_BINARY || join(repoRoot, "bin", `opencode-oauth2${exe}`),
  testGateway: join(repoRoot, "bin", `test-gateway${exe}`),
  shim: join(repoRoot, "js-shim", "dist", "index.js"),
  opencode: join(repoRoot, "node_modules", ".bin", process.platform === "win32" ? "opencode.cmd" : "opencode"),
  // OpenCode 2 (@opencode/cli), in a folder of its own: its bin is called `opencode` too.
  opencode2: join(repoRoot, "js-shim", "test-support", "opencode2", "node_modules", ".bin", process.platform === "win32" ? "opencode.cmd" : "opencode"),
};
export const DEFAULT_AUDIENCE = "http://127.0.0.1/gateway";
export const EXTERNAL_ISSUER = "https://external-idp.test";
/** The committed test clients of authserver.mjs (test data, not secrets). */
export const clients = {
  ccBasic: { clientId: "cc-basic", clientSecret: "cc-basic-secret", clientAuthMethod: "client_secret_basic" },
  ccPost: { clientId: "cc-post", clientSecret: "cc-post-secret", clientAuthMethod: "client_secret_post" },
  exchange: { clientId: "exchange-client", clientSecret: "exchange-client-secret", clientAuthMethod: "client_secret_basic" },
};

const STOP_GRACE_MS = 3_000;
const services = new Set(); // started servers: {name, child, stop}
const runs = new Set(); // running OpenCode (and other) child processes
const tmpRoots = new Set();

// ---------------------------------------------------------------------------
// processes

/** Kills a detached child's whole process group (falls back to the child). */
function killGroup(child, signal = "SIGKILL") {
  if (child.exitCode !== null || child.signalCode !== null) {
    // The leader is gone; members of its group may not be.
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* no such group */
    }
    return;
  }
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}

/** Keeps the last `limit` characters written. */
function tail(limit = 64 << 10) {
  let s = "";
  return {
    push(chunk) {
      s += chunk;
      if (s.length > limit) s = s.slice(s.length - limit);
    },
    toString: () => s,
  };
}

/**
 * Spawns a server that prints `listening <url>` as its first stdout line, in its
 * own process group with stdin a pipe (closing it stops the server). Resolves
 * {url, child, stderr(), stop()} or rejects after timeoutMs.
 */
async function startServer(name, cmd, args, { env, cwd = repoRoot, timeoutMs = 30_000 } = {}) {
  const child = spawn(cmd, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  const err = tail();
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c) => err.push(c));
  child.stdin.on("error", () => {}); // EPIPE when it exits first
  let stopped = null;
  const svc = {
    name,
    child,
    stderr: () => err.toString(),
    stop() {
      stopped ??= (async () => {
        services.delete(svc);
        child.stdin.end();
        killGroup(child, "SIGTERM");
        const done = await Promise.race([exited(child).then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
        killGroup(child, "SIGKILL"); // also whatever it started (go run's child)
        if (!done) await Promise.race([exited(child), delay(STOP_GRACE_MS)]);
      })();
      return stopped;
    },
  };
  services.add(svc);
  try {
    const line = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`${name} did not print "listening" within ${timeoutMs / 1000} s; stderr:\n${err}`)),
        timeoutMs,
      );
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (c) => {
        out += c;
        const nl = out.indexOf("\n");
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl).trim());
        }
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`${name}: cannot start ${cmd}: ${e.message}`));
      });
      child.once("exit", (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${sig ?? code}) before listening; stderr:\n${err}`));
      });
    });
    const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    if (!m) throw new Error(`${name}: unexpected first line ${JSON.stringify(line)}; stderr:\n${err}`);
    child.stdout.resume(); // keep draining
    svc.url = m[1];
    return svc;
  } catch (e) {
    await svc.stop();
    throw e;
  }
}

/** Runs a command to completion with a deadline; resolves {code, stdout, stderr, ms}. */
export function runCommand(cmd, args, { env = process.env, cwd = repoRoot, timeoutMs = 60_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], detached: true });
    runs.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      runs.delete(child);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      runs.delete(child);
      killGroup(child); // nothing it started may outlive it
      const ms = Date.now() - t0;
      if (timedOut) {
        const shown = [cmd.replace(repoRoot + "/", ""), ...args].join(" ");
        reject(Object.assign(new Error(`${shown} did not finish within ${timeoutMs / 1000} s\nstdout:\n${stdout}\nstderr:\n${stderr}`), { stdout, stderr, ms }));
      } else resolve({ code: code ?? (signal ? 128 : 1), signal, stdout, stderr, ms });
    });
  });
}

// ---------------------------------------------------------------------------
// authorization server

const AUTH_KNOBS = ["PORT", "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "DEVICE_CODE_TTL", "DEVICE_INTERVAL", "AUTO_LOGIN", "GATEWAY_AUDIENCE", "RESOURCE_SCOPES", "NODE_OPTIONS"];

async function getJSON(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  if (!res.ok && res.status !== 204) throw new Error(`${init.method ?? "GET"} ${url}: HTTP ${res.status}`);
  return res.status === 204 ? null : res.json();
}

/**
 * Starts examples/test-stack/authserver.mjs (npm oidc-provider) on 127.0.0.1 with the
 * given knobs (PORT, ACCESS_TOKEN_TTL, AUTO_LOGIN, ...; see README.md). Knobs from the
 * caller's environment are ignored. Resolves
 * {issuer, audience, tokenEndpoint, stats(), resetStats(), stderr(), stop()}.
 */
export async function startAuthServer(env = {}, { timeoutMs = 30_000 } = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !AUTH_KNOBS.includes(k)));
  const svc = await startServer("authorization server", process.execPath, [paths.authServer], {
    env: { ...base, PORT: "0", ...env },
    timeoutMs,
  });
  const issuer = svc.url;
  return {
    issuer,
    audience: env.GATEWAY_AUDIENCE ?? DEFAULT_AUDIENCE,
    tokenEndpoint: `${issuer}/token`,
    stats: () => getJSON(`${issuer}/test/stats`),
    resetStats: () => getJSON(`${issuer}/test/stats/reset`, { method: "POST" }),
    stderr: svc.stderr,
    stop: svc.stop,
    pid: svc.child.pid,
  };
}

// ---------------------------------------------------------------------------
// gateway

function newestGoSource(dirs) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".go") && !e.name.endsWith("_test.go")) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of dirs) if (existsSync(d)) walk(d);
  for (const f of ["go.mod", "go.sum"]) newest = Math.max(newest, statSync(join(repoRoot, f)).mtimeMs);
  return newest;
}

let gatewayBuild = null;

/**
 * bin/test-gateway, built with `go build` (once per process) when it is missing or
 * older than its sources. Resolves the path, or null when Go cannot build it (the
 * caller then falls back to `go run`).
 */
export function ensureTestGateway({ timeoutMs = 300_000 } = {}) {
  gatewayBuild ??= (async () => {
    const src = newestGoSource([join(repoRoot, "go", "tools", "test-gateway"), join(repoRoot, "go", "internal", "testsupport", "testgateway")]);
    const have = existsSync(paths.testGateway) ? statSync(paths.testGateway).mtimeMs : 0;
    if (have > 0 && have >= src) return paths.testGateway;
    const tmp = `${paths.testGateway}.tmp-${process.pid}`;
    await mkdir(dirname(tmp), { recursive: true });
    const r = await runCommand("go", ["build", "-o", tmp, "./go/tools/test-gateway"], { timeoutMs }).catch((e) => ({ code: -1, stderr: e.message }));
    if (r.code !== 0) {
      await rm(tmp, { force: true });
      if (have > 0) return paths.testGateway; // stale but usable
      process.stderr.write(`harness: go build ./go/tools/test-gateway failed, falling back to go run:\n${r.stderr}\n`);
      return null;
    }
    await rename(tmp, paths.testGateway);
    return paths.testGateway;
  })();
  return gatewayBuild;
}

/**
 * Starts the OpenAI-compatible test gateway accepting only the issuer's JWTs.
 * models: how many generated model ids; modelIds: exact ids (wins); modelIdsFile: a
 * JSON array of ids (wins over both; any bytes, any count); audience,
 * chunkDelay ("20ms"), port; tokenHeader and tokenScheme ("" for none): where the
 * gateway takes the token (default Authorization: Bearer). Resolves {url, baseURL, stats(), resetStats(), stderr(), stop()}.
 */
export async function startGateway({ issuer, audience = DEFAULT_AUDIENCE, models, modelIds, modelIdsFile, chunkDelay, tokenHeader, tokenScheme, port = 0, timeoutMs = 60_000 } = {}) {
  if (!issuer) throw new Error("startGateway: issuer is required");
  const args = ["--issuer", issuer, "--audience", audience, "--port", String(port)];
  if (tokenHeader !== undefined) args.push("--token-header", tokenHeader);
  if (tokenScheme !== undefined) args.push(`--token-scheme=${tokenScheme}`);
  if (modelIdsFile) args.push("--model-ids-file", modelIdsFile);
  else if (modelIds?.length) args.push("--model-ids", modelIds.join(","));
  else if (models !== undefined) args.push("--models", String(models));
  if (chunkDelay) args.push("--chunk-delay", chunkDelay);
  const bin = await ensureTestGateway();
  const [cmd, cmdArgs] = bin ? [bin, args] : ["go", ["run", "./go/tools/test-gateway", ...args]];
  const svc = await startServer("test gateway", cmd, cmdArgs, { env: process.env, timeoutMs: bin ? timeoutMs : Math.max(timeoutMs, 180_000) });
  const url = svc.url;
  return {
    url,
    baseURL: `${url}/v1`,
    stats: () => getJSON(`${url}/_test/stats`),
    resetStats: () => getJSON(`${url}/_test/stats/reset`, { method: "POST" }),
    stderr: svc.stderr,
    stop: svc.stop,
    pid: svc.child.pid,
  };
}

// ---------------------------------------------------------------------------
// subject tokens

/**
 * A JWT signed with the external issuer's key (keys/external.json), accepted by the
 * authorization server as a jwt-bearer assertion or a token-exchange subject_token.
 * audience: the server's issuer URL, token endpoint URL or the client id.
 */
export async function mintSubjectToken({ subject, audience, ttlSeconds = 300 }) {
  const { importJWK, SignJWT } = await import("jose");
  const jwks = JSON.parse(await readFile(paths.externalKey, "utf8"));
  const jwk = jwks.keys.find((k) => k.d);
  const key = await importJWK(jwk, jwk.alg);
  return new SignJWT({})
    .setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: "JWT" })
    .setIssuer(EXTERNAL_ISSUER)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key);
}

// ---------------------------------------------------------------------------
// OpenCode

/** Throws a readable error when a build output the runs need is missing. */
export function requireBuilt(what = ["shim", "sidecar", "opencode"]) {
  const hints = {
    shim: [paths.shim, "npm run build:shim (or: task build)"],
    sidecar: [paths.sidecar, "go build -o bin/opencode-oauth2 ./go/cmd/opencode-oauth2 (or: task build)"],
    opencode: [paths.opencode, "npm install (opencode-ai is a devDependency)"],
    opencode2: [paths.opencode2, "npm install --prefix js-shim/test-support/opencode2 (or: task deps:opencode2)"],
    testGateway: [paths.testGateway, "go build -o bin/test-gateway ./go/tools/test-gateway"],
  };
  const missing = what.filter((w) => !existsSync(hints[w][0])).map((w) => `  ${hints[w][0]} is missing: ${hints[w][1]}`);
  if (missing.length) throw new Error(`not built:\n${missing.join("\n")}`);
}

function pluginVersion() {
  for (const p of ["@opencode-ai/plugin", "opencode-ai"]) {
    try {
      return JSON.parse(readFileSync(join(repoRoot, "node_modules", p, "package.json"), "utf8")).version;
    } catch {
      /* next */
    }
  }
  return "latest";
}

/**
 * The plugin as OpenCode 2 takes a local path: a directory with an index.js at its root,
 * which re-exports the built bundle (js-shim/dist/index.js). Removed by stop().
 */
export async function pluginDir() {
  const dir = await makeTmp("oc-oauth2-plugin-");
  await writeFile(join(dir, "index.js"), `export { default } from ${JSON.stringify(pathToFileURL(paths.shim).href)};\n`);
  return dir;
}

/** A fresh temp directory, removed by stop(). */
export async function makeTmp(prefix = "oc-oauth2-stack-") {
  const d = await mkdtemp(join(tmpdir(), prefix));
  tmpRoots.add(d);
  return d;
}

/**
 * An isolated OpenCode: HOME and XDG_* in a temp dir, no network fetches, the
 * config-dir npm install pre-empted, the plugin's cache in the temp dir, unattended
 * (OPENCODE_OAUTH2_INTERACTIVE=0 unless env says otherwise).
 *
 * config: the global opencode.json; its `plugin` list defaults to [pluginSpec],
 * and pluginSpec defaults to the file:// URL of js-shim/dist/index.js.
 * env: extra environment for every run.
 *
 * Resolves {env, dirs, run(args, {timeoutMs, env, printLogs}) → {code, stdout, stderr, ms, log?},
 * exec(cmd, args, opts) (another program with the same environment), processes() → pids
 * still running with this environment (OpenCode, sidecars), stop()}.
 *
 * OpenCode's log of a run: ask run() for it with printLogs. Its log FILE
 * ($XDG_DATA_HOME/opencode/log) is no record of a run: OpenCode 1.18 writes it in
 * batches (one a second) and exits without writing the last one, so the last lines of a
 * run, on a busy machine sometimes all of them, are missing at random.
 */
export async function isolatedOpenCode({ config = {}, pluginSpec, env: extraEnv = {}, opencodeBin = paths.opencode } = {}) {
  const root = await makeTmp("oc-oauth2-opencode-");
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
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o700 });
  dirs.opencodeConfig = join(dirs.config, "opencode");
  dirs.log = join(dirs.data, "opencode", "log");
  // The config-dir install trap (opencode-host.md): with node_modules/ and a lock
  // file listing @opencode-ai/plugin present, OpenCode does not run npm.
  const v = pluginVersion();
  await mkdir(join(dirs.opencodeConfig, "node_modules"), { recursive: true });
  await writeFile(join(dirs.opencodeConfig, "package.json"), JSON.stringify({ dependencies: { "@opencode-ai/plugin": v } }));
  await writeFile(
    join(dirs.opencodeConfig, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "": { dependencies: { "@opencode-ai/plugin": v } } } }),
  );
  const full = { $schema: "https://opencode.ai/config.json", ...config };
  full.plugin ??= [pluginSpec ?? pathToFileURL(paths.shim).href];
  await writeFile(join(dirs.opencodeConfig, "opencode.json"), JSON.stringify(full, null, 2));

  // CI=true (as CI services set it) would tell the plugin nobody is at the terminal; each
  // test says that itself (OPENCODE_OAUTH2_INTERACTIVE, or CI in env).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPENCODE") && !k.startsWith("XDG_") && k !== "CI"));
  const env = {
    ...inherited,
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
    ...(process.env.OPENCODE_OAUTH2_BINARY ? { OPENCODE_OAUTH2_BINARY: process.env.OPENCODE_OAUTH2_BINARY } : {}),
    // OpenCode takes its project directory from PWD when set: without this it opens
    // (and snapshots) the caller's directory as a second instance.
    PWD: dirs.project,
    ...extraEnv,
  };

  const oc = {
    env,
    dirs,
    config: full,
    /**
     * opencode <args> in the project dir, with a deadline (rejects when it passes).
     * printLogs: OpenCode also writes each log line to stderr as it logs it
     * (--print-logs); those lines come back as `log`, and `stderr` keeps the rest
     * (what a person at the terminal sees). Without printLogs there is no `log`.
     */
    async run(args, { timeoutMs = 120_000, env: more = {}, printLogs = false } = {}) {
      const argv = printLogs && !args.includes("--print-logs") ? [...args, "--print-logs"] : args;
      let r;
      try {
        r = await runCommand(opencodeBin, argv, { cwd: dirs.project, env: { ...env, ...more }, timeoutMs });
      } catch (e) {
        const tail = await logFileTail(dirs.log, 6000);
        if (tail) e.message += `\nOpenCode's log file (tail, maybe incomplete):\n${tail}`;
        throw e;
      }
      if (!printLogs) return r;
      const lines = r.stderr.split("\n");
      const isLog = (l) => LOG_LINE.test(l);
      return { ...r, stderr: lines.filter((l) => !isLog(l)).join("\n"), log: lines.filter(isLog).join("\n") };
    },
    /** Runs another program (e.g. bin/opencode-oauth2) with this OpenCode's environment. */
    exec(cmd, args, { timeoutMs = 60_000, env: more = {} } = {}) {
      return runCommand(cmd, args, { cwd: dirs.project, env: { ...env, ...more }, timeoutMs });
    },
    /**
     * The sidecar's own log ($XDG_STATE_HOME/opencode-oauth2/sidecar.log, JSON lines),
     * where its info lines go (OpenCode's log gets warnings and errors only).
     */
    sidecarLog: () => readSidecarLog(dirs.state),
    /** Linux: pids of processes still running with this environment (OpenCode, sidecars). */
    processes: () => ownProcesses(dirs.oauth2Cache),
    async stop() {
      for (const pid of ownProcesses(dirs.root)) killPid(pid);
      tmpRoots.delete(root);
      await rm(root, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    },
  };
  return oc;
}

/** The sidecar's log lines under an XDG state dir, the rotated file first. */
export async function readSidecarLog(stateDir) {
  const base = join(stateDir, "opencode-oauth2", "sidecar.log");
  let s = "";
  for (const f of [`${base}.1`, base]) if (existsSync(f)) s += await readFile(f, "utf8");
  return s;
}

/** One line of OpenCode's log as --print-logs writes it to stderr. */
const LOG_LINE = /^timestamp=\S+ level=[A-Z]+ /;

/** The last n characters of OpenCode's log files, for a diagnosis only (see isolatedOpenCode). */
async function logFileTail(dir, n) {
  try {
    let s = "";
    for (const f of (await readdir(dir)).sort()) if (f.endsWith(".log")) s += await readFile(join(dir, f), "utf8");
    return s.slice(-n);
  } catch {
    return "";
  }
}

/** Linux: pids whose environment mentions dir (processes started for one isolated run). */
function ownProcesses(dir) {
  if (process.platform !== "linux") return [];
  const pids = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/environ`, "utf8").includes(dir)) pids.push(Number(p));
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}

function killPid(pid) {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

// ---------------------------------------------------------------------------
// cleanup

/** Stops everything this module started and removes its temp dirs. Bounded. */
export async function stop() {
  for (const child of runs) killGroup(child);
  await Promise.all([...services].map((s) => s.stop()));
  for (const root of tmpRoots) for (const pid of ownProcesses(root)) killPid(pid);
  await Promise.all(
    [...tmpRoots].map(async (d) => {
      tmpRoots.delete(d);
      await rm(d, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }),
  );
}

/** Synchronous last resort for process exit: kill every group we started. */
export function killAllSync() {
  for (const child of runs) killGroup(child);
  for (const s of services) killGroup(s.child);
}
