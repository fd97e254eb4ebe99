#!/usr/bin/env node
// JavaScript performance figures of docs/performance.md (issue 9, JS side). A script,
// not a test: it measures, prints one table and exits 0 whether or not a target is met
// (it exits 1 only when a measurement could not be made).
//
//   node js-shim/bench/bench.mjs               everything (a few minutes)
//   node js-shim/bench/bench.mjs --only hot,rpc --quick
//
//   --only LIST   hot (chat.headers cache hit), rpc (headers/get round trip and its
//                 floor), startup (the plugin's own start-up), opencode (whole
//                 `opencode models <provider>` with and without the plugin)
//   --quick       fewer iterations (a smoke run; the figures are not the documented ones)
//
// What it runs, all on 127.0.0.1: the real authorization server and test gateway
// (examples/test-stack/harness.mjs), a client_credentials provider with a warm cache, the
// sidecar and go/tools/perf-probe built here with the release flags
// (CGO_ENABLED=0 -trimpath -ldflags "-s -w"), the shim bundled here from js-shim/src
// and laid out as npm installs it (main package + platform package, so the binary's
// sha256 is checked at start as for a user), and the real OpenCode
// (node_modules/.bin/opencode) isolated by the harness. Every process it starts is
// stopped at the end, on an error, on a deadline and on Ctrl-C.
//
// Under Bun: OpenCode's executable is Bun (`bun build --compile`), and with BUN_BE_BUN=1
// it runs a script as `bun` would, so the runtime the plugin really runs in is at hand:
//
//   BUN_BE_BUN=1 node_modules/.bin/opencode js-shim/bench/bench.mjs --only hot,rpc,startup

import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { loadavg, cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(here, "..", "..");
const PROVIDER = "bench-gw";
const MODEL_COUNT = 20;
const GLOBAL_DEADLINE_MS = 40 * 60_000;
/** The built-in modules js-shim/src imports. */
const BUILTINS = ["node:child_process", "node:crypto", "node:fs", "node:module", "node:path", "node:tty", "node:url"];

// ---------------------------------------------------------------------------
// start-up child: `bench.mjs --startup-child` measures one plugin start in a fresh
// process (import, server(), config hook) and prints one JSON line.

if (process.argv[2] === "--startup-child") {
  await startupChild();
  process.exit(0);
}

async function startupChild() {
  const { pluginUrl, config, directory } = JSON.parse(process.env.BENCH_STARTUP);
  let tSpawn = NaN;
  const client = {
    app: {
      log: async ({ body }) => {
        // logged synchronously by the shim right after it located (and verified) the
        // binary, just before it spawns it
        if (Number.isNaN(tSpawn) && /using the sidecar binary/.test(body.message)) tSpawn = performance.now();
        return { data: true };
      },
    },
    tui: { showToast: async () => ({ data: true }) },
  };
  // Node's built-in modules the shim imports: OpenCode's own bundle imports every one
  // of them, so inside OpenCode they are loaded before the plugin is; loaded here
  // first, outside the timed part (this script imports most of them anyway).
  await Promise.all(BUILTINS.map((m) => import(m)));
  const t0 = performance.now();
  const mod = await import(pluginUrl);
  const t1 = performance.now();
  const hooks = await mod.default.server({ client, directory, worktree: directory });
  const cfg = structuredClone(config);
  await hooks.config(cfg);
  const t2 = performance.now();
  const entry = cfg.provider?.[PROVIDER];
  const warm = entry?.options?.headers?.Authorization?.startsWith("Bearer ") === true && Object.keys(entry.models ?? {}).length > 0;
  await hooks.dispose();
  process.stdout.write(
    `${JSON.stringify({ importMs: t1 - t0, locateMs: tSpawn - t1, spawnToAppliedMs: t2 - tSpawn, configMs: t2 - t1, totalMs: t2 - t0, warm })}\n`,
  );
}

// ---------------------------------------------------------------------------
// options

const { values: opts } = parseArgs({
  options: {
    only: { type: "string", default: "hot,rpc,startup,opencode" },
    quick: { type: "boolean", default: false },
  },
});
const only = new Set(opts.only.split(",").map((s) => s.trim()).filter(Boolean));
for (const o of only) if (!["hot", "rpc", "startup", "opencode"].includes(o)) throw new Error(`--only: unknown item ${o}`);
const Q = opts.quick;
const N = {
  hotCalls: Q ? 20_000 : 200_000, // single calls per implementation
  hotBatches: Q ? 500 : 4_000, // batches of hotBatch calls per implementation
  hotBatch: 100,
  rpcRounds: Q ? 2 : 5,
  rpcPerRound: Q ? 500 : 3_000,
  startupRuns: Q ? 5 : 30,
  opencodeRuns: Q ? 3 : 12,
};

// ---------------------------------------------------------------------------
// helpers

const stack = await import("../../examples/test-stack/harness.mjs");
const { buildShim, bundle } = await import("../build.mjs");
const { localTarget, mainPackageJson, platformPackageJson, readRootPackage } = await import("../pack.mjs");

const loads = [];
const noteLoad = (when) => loads.push(`${when} ${loadavg()[0].toFixed(1)}`);
const hr = process.hrtime.bigint;

/** Nearest-rank percentile of numbers (sorts a copy). */
function pct(samples, q) {
  if (samples.length === 0) return NaN;
  const s = Float64Array.from(samples).sort();
  const i = Math.ceil(s.length * q) - 1;
  return s[Math.min(Math.max(i, 0), s.length - 1)];
}
const median = (xs) => pct(xs, 0.5);

function fmtNs(ns) {
  if (!Number.isFinite(ns)) return "–";
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e4) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)} µs`;
  if (ns < 1e7) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e6).toFixed(0)} ms`;
}
const fmtMs = (ms) => fmtNs(ms * 1e6);
const fmtX = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "–");

function run(cmd, args, { cwd = repoRoot, env = process.env, timeoutMs }) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed${err.killed ? ` (killed after ${timeoutMs / 1000} s)` : ""}: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

const rows = []; // {item, p50, p99, target, ratio, verdict}
const row = (r) => rows.push({ p50: "", p99: "", target: "", ratio: "", verdict: "", ...r });
const status = (s) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------------------
// cleanup

const disposers = [];
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    while (disposers.length > 0) await disposers.pop()().catch(() => {});
    await stack.stop();
  })();
  return cleaning;
}
process.on("exit", () => stack.killAllSync());
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.once(sig, () => void cleanup().finally(() => process.exit(code)));
}
setTimeout(() => {
  status(`did not finish within ${GLOBAL_DEADLINE_MS / 60_000} minutes; stopping`);
  void cleanup().finally(() => process.exit(1));
}, GLOBAL_DEADLINE_MS).unref();

// ---------------------------------------------------------------------------
// set-up

/** The sidecar and perf-probe with the release flags, the shim bundled, laid out as npm installs it. */
async function prepare(tmp) {
  const bins = join(tmp, "bin");
  const env = { ...process.env, CGO_ENABLED: "0" };
  const sidecar = join(bins, "opencode-oauth2");
  const probe = join(bins, "perf-probe");
  status("building the sidecar and perf-probe (release flags)");
  for (const [out, pkg] of [[sidecar, "./go/cmd/opencode-oauth2"], [probe, "./go/tools/perf-probe"]]) {
    await run("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg], { env, timeoutMs: 600_000 });
  }

  // node_modules/@vymalo/opencode-oauth2 (bundle + binaries.json) and its platform package
  const t = localTarget();
  if (!t) throw new Error(`no platform package for ${process.platform}-${process.arch}`);
  const rootPkg = await readRootPackage();
  const nm = join(tmp, "install", "node_modules");
  const mainDir = join(nm, ...rootPkg.name.split("/"));
  const platDir = join(nm, ...t.name.split("/"));
  await mkdir(join(mainDir, "js-shim", "dist"), { recursive: true });
  await mkdir(join(platDir, "bin"), { recursive: true });
  const shim = await buildShim(join(mainDir, "js-shim", "dist", "index.js"));
  await writeFile(join(mainDir, "package.json"), JSON.stringify(mainPackageJson(rootPkg), null, 2));
  await writeFile(join(platDir, "package.json"), JSON.stringify(platformPackageJson(t, rootPkg), null, 2));
  const installedBin = join(platDir, "bin", t.exe);
  await copyFile(sidecar, installedBin);
  await chmod(installedBin, 0o755);
  const bytes = await readFile(installedBin);
  const manifest = {
    package: rootPkg.name,
    version: rootPkg.version,
    binaries: { [t.name]: { file: `bin/${t.exe}`, sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length } },
  };
  await writeFile(join(mainDir, "js-shim", "dist", "binaries.json"), JSON.stringify(manifest, null, 2));

  const sidecarModule = await bundle("src/sidecar.ts", join(tmp, "sidecar.mjs"));
  return { sidecar, probe, shim, shimUrl: pathToFileURL(shim).href, sidecarModule, binaryBytes: bytes.length };
}

// ---------------------------------------------------------------------------
// 1. hot path: chat.headers as OpenCode calls it, cache hit, against an in-process implementation

/**
 * OpenCode 1.18's Plugin.trigger, minus its Effect wrapper: every plugin's hook in
 * turn, each awaited through an async function, on the same output object
 * (`for (let z of B.hooks){let M=z[G];if(!M)continue;yield*v.promise(async()=>M(K,U))}`).
 */
async function trigger(hooks, name, input, output) {
  for (const h of hooks) {
    const fn = h[name];
    if (!fn) continue;
    await (async () => fn(input, output))();
  }
  return output;
}

function chatInput(providerID) {
  return {
    sessionID: "ses_bench",
    agent: "build",
    model: { id: "model-1", providerID, name: "Model 1", api: { id: "model-1", url: "", npm: "@ai-sdk/openai-compatible" } },
    provider: { id: providerID },
    message: { id: "msg_bench", role: "user" },
  };
}

/** What a plugin holding the token itself would do: a Map lookup and an expiry check. */
function inProcessHooks(headers) {
  const tokens = new Map([[PROVIDER, { headers, until: Date.now() + 3_600_000 }]]);
  return {
    "chat.headers": async (input, output) => {
      const t = tokens.get(input.model.providerID);
      if (t !== undefined && t.until > Date.now()) for (const k in t.headers) output.headers[k] = t.headers[k];
    },
  };
}

async function benchHot(ctx) {
  status("hot path: chat.headers cache hit vs in-process");
  const mod = await import(ctx.prep.shimUrl);
  const client = { app: { log: async () => ({ data: true }) }, tui: { showToast: async () => ({ data: true }) } };
  const hooks = await mod.default.server({ client, directory: ctx.oc.dirs.project, worktree: ctx.oc.dirs.project });
  disposers.push(() => hooks.dispose());
  const cfg = structuredClone(ctx.pluginConfig);
  await hooks.config(cfg);
  const first = await trigger([hooks], "chat.headers", chatInput(PROVIDER), { headers: {} });
  if (!/^Bearer /.test(first.headers.Authorization ?? "")) throw new Error("hot path: the shim gave no Authorization header");
  const cases = [
    { name: "shim", hooks: [hooks], input: chatInput(PROVIDER) },
    { name: "inproc", hooks: [inProcessHooks({ Authorization: first.headers.Authorization })], input: chatInput(PROVIDER) },
    { name: "unmanaged", hooks: [hooks], input: chatInput("not-managed") },
  ];
  const before = await ctx.as.stats();

  // warm-up (JIT)
  for (let i = 0; i < 20_000; i++) for (const c of cases) await trigger(c.hooks, "chat.headers", c.input, { headers: {} });

  // single calls, interleaved (the order alternates), timer reads included
  const single = Object.fromEntries(cases.map((c) => [c.name, new Float64Array(N.hotCalls)]));
  for (let i = 0; i < N.hotCalls; i++) {
    for (let j = 0; j < cases.length; j++) {
      const c = cases[(i + j) % cases.length];
      const t0 = hr();
      await trigger(c.hooks, "chat.headers", c.input, { headers: {} });
      single[c.name][i] = Number(hr() - t0);
    }
  }
  // batches of consecutive calls: per-call cost without the timer in it
  const batch = Object.fromEntries(cases.map((c) => [c.name, new Float64Array(N.hotBatches)]));
  for (let i = 0; i < N.hotBatches; i++) {
    for (let j = 0; j < cases.length; j++) {
      const c = cases[(i + j) % cases.length];
      const t0 = hr();
      for (let k = 0; k < N.hotBatch; k++) await trigger(c.hooks, "chat.headers", c.input, { headers: {} });
      batch[c.name][i] = Number(hr() - t0) / N.hotBatch;
    }
  }
  const after = await ctx.as.stats();
  const tokenRequests = (after.client_credentials ?? 0) - (before.client_credentials ?? 0);
  await hooks.dispose();

  const s = (name) => ({ p50: pct(single[name], 0.5), p99: pct(single[name], 0.99) });
  const b = (name) => ({ p50: pct(batch[name], 0.5), p99: pct(batch[name], 0.99) });
  const [sh, ip, um, bsh, bip, bum] = [s("shim"), s("inproc"), s("unmanaged"), b("shim"), b("inproc"), b("unmanaged")];
  const r50 = bsh.p50 / bip.p50;
  row({ item: `chat.headers, cache hit, per call in batches of ${N.hotBatch} (${N.hotBatches} batches)`, p50: fmtNs(bsh.p50), p99: fmtNs(bsh.p99) });
  row({ item: "— in-process implementation, same run, same trigger", p50: fmtNs(bip.p50), p99: fmtNs(bip.p99) });
  row({
    item: "**chat.headers ÷ in-process**",
    p50: fmtX(r50),
    p99: fmtX(bsh.p99 / bip.p99),
    target: "≤ 2×",
    ratio: "",
    verdict: r50 <= 2 ? "met" : "NOT met",
  });
  row({
    item: `chat.headers, cache hit, single calls (${N.hotCalls}, timer reads included)`,
    p50: fmtNs(sh.p50),
    p99: fmtNs(sh.p99),
    target: "p99 ≤ 1 ms",
    verdict: sh.p99 <= 1e6 ? "met" : "NOT met",
  });
  row({ item: "— in-process, single calls", p50: fmtNs(ip.p50), p99: fmtNs(ip.p99), ratio: `÷ ${fmtX(sh.p50 / ip.p50)} / ${fmtX(sh.p99 / ip.p99)}` });
  row({ item: "chat.headers, provider not managed (batches / single)", p50: `${fmtNs(bum.p50)} / ${fmtNs(um.p50)}`, p99: `${fmtNs(bum.p99)} / ${fmtNs(um.p99)}` });
  row({ item: "— token requests during the hot path", p50: String(tokenRequests), target: "0", verdict: tokenRequests === 0 ? "met" : "NOT met" });
  return { tokenRequests };
}

// ---------------------------------------------------------------------------
// 2. the sidecar round trip through the shim's JSON-RPC client, against the floor

async function benchRpc(ctx) {
  status("round trip: headers/get through the shim's client, real binary vs perf-probe echo");
  const { Sidecar } = await import(pathToFileURL(ctx.prep.sidecarModule).href);
  const init = () => ({ protocolVersion: 1, interactive: false });
  const env = { ...process.env, OPENCODE_OAUTH2_CACHE_DIR: ctx.oc.dirs.oauth2Cache };
  const real = new Sidecar({ binary: ctx.prep.sidecar, env, initializeParams: init, onNotification: () => {} });
  disposers.push(() => real.dispose());
  await real.request("config/apply", { config: structuredClone(ctx.pluginConfig) });
  const params = { providerID: PROVIDER, modelID: ctx.modelIds[0] };
  const answer = await real.request("headers/get", params);
  if (!/^Bearer /.test(answer?.headers?.Authorization ?? "")) throw new Error(`rpc: unexpected headers/get answer ${JSON.stringify(answer)}`);
  // The floor answers every request, initialize included, with this canned result: the
  // sidecar's own answer plus protocolVersion (so the client's initialize check passes).
  const canned = JSON.stringify({ protocolVersion: 1, ...answer });
  const floor = new Sidecar({ binary: ctx.prep.probe, args: ["echo", "-result", canned], env, initializeParams: init, onNotification: () => {} });
  disposers.push(() => floor.dispose());
  const echoed = await floor.request("headers/get", params);
  if (echoed?.headers?.Authorization !== answer.headers.Authorization) throw new Error("rpc: the floor does not echo the canned result");

  const peers = [
    { name: "real", sc: real },
    { name: "floor", sc: floor },
  ];
  for (let i = 0; i < 300; i++) for (const p of peers) await p.sc.request("headers/get", params);
  const before = await ctx.as.stats();
  const rounds = [];
  for (let r = 0; r < N.rpcRounds; r++) {
    const lat = { real: new Float64Array(N.rpcPerRound), floor: new Float64Array(N.rpcPerRound) };
    for (let i = 0; i < N.rpcPerRound; i++) {
      for (let j = 0; j < 2; j++) {
        const p = peers[(i + j) % 2];
        const t0 = hr();
        await p.sc.request("headers/get", params);
        lat[p.name][i] = Number(hr() - t0);
      }
    }
    const f = (a) => ({ p50: pct(a, 0.5), p99: pct(a, 0.99) });
    const x = { real: f(lat.real), floor: f(lat.floor) };
    x.r50 = x.real.p50 / x.floor.p50;
    x.r99 = x.real.p99 / x.floor.p99;
    rounds.push(x);
    status(`  round ${r + 1}: real ${fmtNs(x.real.p50)} / ${fmtNs(x.real.p99)}, floor ${fmtNs(x.floor.p50)} / ${fmtNs(x.floor.p99)}, ratio ${fmtX(x.r50)} / ${fmtX(x.r99)}`);
  }
  const after = await ctx.as.stats();
  const tokenRequests = (after.client_credentials ?? 0) - (before.client_credentials ?? 0);
  await real.dispose();
  await floor.dispose();

  const m = (fn) => median(rounds.map(fn));
  const range = (fn) => {
    const v = rounds.map(fn);
    return `(${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)})`;
  };
  const r50 = m((x) => x.r50);
  const r99 = m((x) => x.r99);
  const met50 = rounds.filter((x) => x.r50 <= 3).length;
  const met99 = rounds.filter((x) => x.r99 <= 3).length;
  const label = `${N.rpcRounds} rounds × ${N.rpcPerRound}, interleaved`;
  const answerBytes = Buffer.byteLength(JSON.stringify(answer));
  row({ item: `headers/get via the shim's Sidecar.request, real binary, fresh token, ${answerBytes}-byte result (${label})`, p50: fmtNs(m((x) => x.real.p50)), p99: fmtNs(m((x) => x.real.p99)) });
  row({ item: "floor: perf-probe echo, same client, same pipes, same answer bytes", p50: fmtNs(m((x) => x.floor.p50)), p99: fmtNs(m((x) => x.floor.p99)) });
  row({
    item: "**round trip ÷ floor**",
    p50: `${fmtX(r50)} ${range((x) => x.r50)}`,
    p99: `${fmtX(r99)} ${range((x) => x.r99)}`,
    target: "≤ 3×",
    verdict: r50 <= 3 ? `met (p50 in ${met50} of ${rounds.length} rounds, p99 in ${met99})` : `NOT met (p50 in ${met50} of ${rounds.length} rounds)`,
  });
  row({ item: "— token requests during the round trips", p50: String(tokenRequests), target: "0", verdict: tokenRequests === 0 ? "met" : "NOT met" });
}

// ---------------------------------------------------------------------------
// 3. the plugin's own start-up, in fresh Node processes

function startupOnce(ctx, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--startup-child"], {
      cwd: ctx.oc.dirs.project,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (err += c));
    const kill = () => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    };
    disposers.push(async () => kill());
    const timer = setTimeout(kill, 30_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      kill(); // the sidecar it started, should it have survived
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out.trim().split("\n").pop()));
      } catch (e) {
        reject(new Error(`start-up child failed (${e.message}):\n${out}\n${err}`));
      }
    });
  });
}

async function benchStartup(ctx) {
  status("start-up: import + server() + config hook, fresh process per run");
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OPENCODE")));
  const common = {
    ...base,
    OPENCODE_OAUTH2_CACHE_DIR: ctx.oc.dirs.oauth2Cache,
    OPENCODE_OAUTH2_INTERACTIVE: "0",
    BENCH_STARTUP: JSON.stringify({ pluginUrl: ctx.prep.shimUrl, config: ctx.pluginConfig, directory: ctx.oc.dirs.project }),
  };
  const layouts = [
    { name: "installed", env: common },
    { name: "override", env: { ...common, OPENCODE_OAUTH2_BINARY: ctx.prep.sidecar } },
  ];
  const before = await ctx.as.stats();
  for (let i = 0; i < 3; i++) for (const l of layouts) await startupOnce(ctx, l.env);
  const res = { installed: [], override: [] };
  for (let i = 0; i < N.startupRuns; i++) {
    for (let j = 0; j < layouts.length; j++) {
      const l = layouts[(i + j) % layouts.length];
      const r = await startupOnce(ctx, l.env);
      if (!r.warm) throw new Error("start-up: the config hook did not give the provider its models and token from the cache");
      res[l.name].push(r);
    }
  }
  const after = await ctx.as.stats();
  const tokenRequests = (after.client_credentials ?? 0) - (before.client_credentials ?? 0);
  const f = (name, key) => [pct(res[name].map((r) => r[key]), 0.5), pct(res[name].map((r) => r[key]), 0.99)];
  const [t50, t99] = f("installed", "totalMs");
  row({
    item: `plugin start-up, installed layout (sha256 of the ${(ctx.prep.binaryBytes / 1e6).toFixed(1)} MB binary checked): import → config hook done (${N.startupRuns} fresh processes)`,
    p50: fmtMs(t50),
    p99: fmtMs(t99),
    target: "≤ 50 ms (median)",
    verdict: t50 <= 50 ? "met" : "NOT met",
  });
  for (const [key, what] of [
    ["importMs", "— module import (the bundle; built-ins already loaded)"],
    ["locateMs", "— server() + locate and verify the binary"],
    ["spawnToAppliedMs", "— spawn, initialize, config/apply, merge"],
  ]) {
    const [a, b] = f("installed", key);
    row({ item: what, p50: fmtMs(a), p99: fmtMs(b) });
  }
  // the sidecar's part, split: spawn + initialize (+ one headers/get for a provider it
  // does not manage, the smallest request), then config/apply with the warm cache
  const { Sidecar } = await import(pathToFileURL(ctx.prep.sidecarModule).href);
  const split = { spawn: [], apply: [] };
  for (let i = 0; i < N.startupRuns; i++) {
    const sc = new Sidecar({
      binary: ctx.prep.sidecar,
      env: { ...process.env, OPENCODE_OAUTH2_CACHE_DIR: ctx.oc.dirs.oauth2Cache },
      initializeParams: () => ({ protocolVersion: 1, interactive: false, directory: ctx.oc.dirs.project }),
      onNotification: () => {},
    });
    try {
      const t0 = performance.now();
      await sc.request("headers/get", { providerID: "not-managed" });
      const t1 = performance.now();
      await sc.request("config/apply", { config: structuredClone(ctx.pluginConfig) });
      const t2 = performance.now();
      if (i > 0) split.spawn.push(t1 - t0); // the first one warms the page cache
      if (i > 0) split.apply.push(t2 - t1);
    } finally {
      await sc.dispose();
    }
  }
  row({ item: "  — of which spawn + initialize (+ one small request), shim's Sidecar, measured apart", p50: fmtMs(median(split.spawn)), p99: fmtMs(pct(split.spawn, 0.99)) });
  row({ item: "  — of which config/apply, warm cache, measured apart", p50: fmtMs(median(split.apply)), p99: fmtMs(pct(split.apply, 0.99)) });
  const [o50, o99] = f("override", "totalMs");
  const [ol50] = f("override", "locateMs");
  row({ item: `plugin start-up, OPENCODE_OAUTH2_BINARY override (no sha256): total (locate ${fmtMs(ol50)})`, p50: fmtMs(o50), p99: fmtMs(o99) });
  row({ item: "— token requests during the start-ups", p50: String(tokenRequests), target: "0 (warm cache)", verdict: tokenRequests === 0 ? "met" : "NOT met" });
}

// ---------------------------------------------------------------------------
// 4. whole process: `opencode models` and `opencode run` with the plugin vs the provider
//    declared statically (the entry the plugin would give OpenCode, bearer included),
//    interleaved, each run measured by `perf-probe measure` (wait4: wall, CPU, peak RSS
//    of OpenCode's process)

async function benchOpenCode(ctx) {
  status("OpenCode: whole process with the plugin vs the same provider declared statically");
  const staticOc = await stack.isolatedOpenCode({ config: { plugin: [], provider: { [PROVIDER]: ctx.staticEntry } } });
  const variants = [
    { name: "plugin", oc: ctx.oc },
    { name: "static", oc: staticOc },
  ];
  const expected = ctx.modelIds.map((m) => `${PROVIDER}/${m}`).sort().join("\n");
  const listing = (r) =>
    r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith(`${PROVIDER}/`))
      .sort()
      .join("\n");
  const measured = async (v, args, check) => {
    const r = await v.oc.exec(ctx.prep.probe, ["measure", "--", stack.paths.opencode, ...args], { timeoutMs: 180_000 });
    const line = r.stderr.trim().split("\n").pop() ?? "";
    const m = /^perf-probe measure (\{.*\})$/.exec(line);
    if (r.code !== 0 || m === null) throw new Error(`perf-probe measure opencode ${args.join(" ")} (${v.name}) exit ${r.code}:\n${r.stderr.slice(-3000)}`);
    const x = JSON.parse(m[1]);
    const why = check(r);
    if (x.exit !== 0 || why) throw new Error(`opencode ${args.join(" ")} (${v.name}) exit ${x.exit}: ${why}\nstderr:\n${r.stderr.slice(-3000)}`);
    return { wall: x.wallMs, cpu: x.userMs + x.sysMs, rss: x.maxRssKiB / 1024 };
  };
  const scenarios = [
    { what: `\`opencode models ${PROVIDER}\``, args: ["models", PROVIDER], runs: N.opencodeRuns, check: (r) => (listing(r) === expected ? "" : `listed:\n${listing(r)}`) },
    {
      what: `\`opencode run --model ${PROVIDER}/${ctx.modelIds[0]}\``,
      args: ["run", "--model", `${PROVIDER}/${ctx.modelIds[0]}`, "say hi"],
      runs: Math.max(3, Math.round(N.opencodeRuns / 2)),
      check: (r) => (/Hello from the OAuth gateway/.test(r.stdout) ? "" : `no answer:\n${r.stdout.slice(-500)}`),
    },
  ];
  const before = await ctx.as.stats();
  for (const sc of scenarios) {
    for (let i = 0; i < 2; i++) for (const v of variants) await measured(v, sc.args, sc.check); // first runs: OpenCode's own caches
    const got = Object.fromEntries(variants.map((v) => [v.name, []]));
    for (let i = 0; i < sc.runs; i++) {
      for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length];
        got[v.name].push(await measured(v, sc.args, sc.check));
      }
      status(`  ${sc.args[0]} run ${i + 1}: ${variants.map((v) => `${v.name} ${got[v.name][i].wall.toFixed(0)} ms`).join(", ")}`);
    }
    const med = (name, k) => median(got[name].map((x) => x[k]));
    const label = `${sc.runs} runs each, interleaved`;
    row({ item: `${sc.what}, the provider declared statically, no plugin (${label}): wall, CPU, peak RSS`, p50: `${fmtMs(med("static", "wall"))}, ${fmtMs(med("static", "cpu"))}, ${med("static", "rss").toFixed(0)} MiB` });
    row({ item: "— the same with the plugin, warm cache", p50: `${fmtMs(med("plugin", "wall"))}, ${fmtMs(med("plugin", "cpu"))}, ${med("plugin", "rss").toFixed(0)} MiB` });
    const wallX = med("plugin", "wall") / med("static", "wall");
    const cpuX = med("plugin", "cpu") / med("static", "cpu");
    const rssD = med("plugin", "rss") - med("static", "rss");
    row({
      item: "**with ÷ without the plugin**: wall, CPU; peak RSS difference",
      p50: `${fmtX(wallX)}, ${fmtX(cpuX)}; ${rssD >= 0 ? "+" : "−"}${Math.abs(rssD).toFixed(1)} MiB`,
      target: sc.args[0] === "models" ? "≤ 1.03×, ≤ +10 MiB" : "≤ 1.03×",
      verdict: wallX <= 1.03 && (sc.args[0] !== "models" || rssD <= 10) ? "met" : "not met",
    });
  }
  const after = await ctx.as.stats();
  const tokenRequests = (after.client_credentials ?? 0) - (before.client_credentials ?? 0);
  row({ item: "— token requests during the OpenCode runs", p50: String(tokenRequests), target: "0 (warm cache)", verdict: tokenRequests === 0 ? "met" : "NOT met" });
  await staticOc.stop();
}

// ---------------------------------------------------------------------------

function printTable() {
  const head = ["figure", "median", "p99", "target", "ratio", "verdict"];
  const keep = head.filter((h, i) => i < 3 || rows.some((r) => r[h] !== ""));
  const lines = [`| ${keep.join(" | ")} |`, `|${keep.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const cells = { figure: r.item, median: r.p50, p99: r.p99, target: r.target, ratio: r.ratio, verdict: r.verdict };
    lines.push(`| ${keep.map((h) => cells[h]).join(" | ")} |`);
  }
  console.log(lines.join("\n"));
}

async function main() {
  const t0 = Date.now();
  stack.requireBuilt(["opencode"]);
  delete process.env.OPENCODE_OAUTH2_BINARY; // the installed layout finds its platform package
  noteLoad("start");
  const tmp = await stack.makeTmp("oc-oauth2-bench-");
  const prep = await prepare(tmp);

  status("starting the authorization server and the test gateway");
  const as = await stack.startAuthServer({ ACCESS_TOKEN_TTL: "3600" });
  const gw = await stack.startGateway({ issuer: as.issuer, models: MODEL_COUNT });
  const { ccBasic } = stack.clients;
  const providerEntry = {
    name: "Bench gateway",
    options: {
      baseURL: gw.baseURL,
      oauth2: { issuer: as.issuer, ...ccBasic, authFlow: "client_credentials", scopes: ["api:read"] },
    },
  };
  const pluginConfig = { provider: { [PROVIDER]: providerEntry } };
  const oc = await stack.isolatedOpenCode({ config: { plugin: [prep.shimUrl], provider: { [PROVIDER]: providerEntry } } });

  // warm cache: a token and the model list, fetched by the command line into the
  // cache dir the plugin uses
  status("warming the cache (opencode-oauth2 models --refresh)");
  const warm = await oc.exec(prep.sidecar, ["models", PROVIDER, "--refresh"], { timeoutMs: 60_000 });
  if (warm.code !== 0) throw new Error(`opencode-oauth2 models --refresh failed: ${warm.stderr}`);
  process.env.OPENCODE_OAUTH2_CACHE_DIR = oc.dirs.oauth2Cache;
  process.env.OPENCODE_OAUTH2_INTERACTIVE = "0";

  // the provider entry the plugin gives OpenCode, declared statically (without the
  // oauth2 block, which only the plugin reads)
  const mod = await import(prep.shimUrl);
  const probe = await mod.default.server({ client: { app: { log: async () => ({}) }, tui: { showToast: async () => ({}) } }, directory: oc.dirs.project, worktree: oc.dirs.project });
  const applied = structuredClone(pluginConfig);
  await probe.config(applied);
  await probe.dispose();
  const staticEntry = JSON.parse(JSON.stringify(applied.provider[PROVIDER]));
  delete staticEntry.options.oauth2;
  const modelIds = Object.keys(staticEntry.models ?? {});
  if (!staticEntry.options.headers?.Authorization || modelIds.length !== MODEL_COUNT) {
    throw new Error(`the warm config hook did not give the provider its token and ${MODEL_COUNT} models: ${JSON.stringify(staticEntry).slice(0, 500)}`);
  }

  const ctx = { prep, as, gw, oc, modelIds, pluginConfig, staticEntry };
  if (only.has("hot")) {
    noteLoad("hot");
    await benchHot(ctx);
  }
  if (only.has("rpc")) {
    noteLoad("rpc");
    await benchRpc(ctx);
  }
  if (only.has("startup")) {
    noteLoad("startup");
    await benchStartup(ctx);
  }
  if (only.has("opencode")) {
    noteLoad("opencode");
    await benchOpenCode(ctx);
  }
  noteLoad("end");

  const cpu = cpus()[0]?.model ?? "?";
  console.log(
    `\nJS benchmarks: ${process.versions.bun ? `Bun ${process.versions.bun} (OpenCode's, BUN_BE_BUN=1)` : `Node ${process.version}`}, ${process.platform}/${process.arch}, ` +
      `${cpus().length} CPUs (${cpu}); 1-minute load average: ${loads.join(", ")}; ${((Date.now() - t0) / 1000).toFixed(0)} s${Q ? " (--quick)" : ""}\n`,
  );
  printTable();
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`bench: ${e.stack ?? e.message}`);
  code = 1;
}
await cleanup();
process.exit(code);
