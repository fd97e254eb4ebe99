#!/usr/bin/env node
// OpenCode 2 figures of docs/performance.md ("OpenCode 2"). A script, not a test: it
// measures, prints a table and exits 0 whether or not a target is met (1 only when a
// measurement could not be made).
//
//   node js-shim/bench/bench-opencode2.mjs              15 rounds (a few minutes)
//   node js-shim/bench/bench-opencode2.mjs --rounds 5 --no-service
//
//   --rounds N    timed rounds; each runs every variant once, in a rotating order
//   --models N    models at the test gateway (default 20)
//   --no-noop     leave out the diagnostic variant (a no-op OpenCode 2 plugin)
//   --no-service  leave out the background-service part (the sidecar's RSS)
//   --no-timed    leave out the diagnostic split of the plugin's setup
//
// OpenCode 2 (@opencode/cli): $OPENCODE2_BIN, else js-shim/test-support/opencode2
// (task deps:opencode2), else /tmp/oc2/node_modules/.bin/opencode.
//
// What it measures, all on 127.0.0.1 with the harness's authorization server and test
// gateway (examples/test-stack/harness.mjs), each variant in an isolated OpenCode home:
//
//   plugin  a client_credentials provider `corp` (oauth2 block), the plugin loaded as
//           OpenCode 2 loads a local plugin: a directory whose index.js re-exports
//           js-shim/dist/index.js. One build for the whole run: the bundle and
//           bin/opencode-oauth2 (or $OPENCODE_OAUTH2_BINARY) are copied at the start into
//           the checkout's layout, so the shim finds the sidecar as a development build
//           and a rebuild of the checkout during the run cannot mix two builds
//   static  no plugin; `corp` declared statically: npm @ai-sdk/openai-compatible,
//           baseURL, an Authorization header with a real token, the same models
//   noop    the static entry plus a plugin directory whose index.js is
//           `export default {id:"noop", setup(){}}` (OpenCode's cost of any plugin)
//
// Each run is `opencode models --standalone` (OpenCode 2 then spawns its own
// `serve --stdio` child, which runs the plugins, and the plugin its sidecar): wall time
// from spawn to the exit of the command, and the peak of the summed VmRSS of its whole
// process tree (every process of the session it is started in, and every descendant),
// polled from /proc every 20 ms; CPU (user + system of the tree as reaped) when GNU time
// is at /usr/bin/time. The first run of each variant is the cold start (nothing cached:
// the plugin fetches a token and the model list) and is reported apart; the timed rounds
// run with the plugin's cache warm and must make no token request.
//
// A diagnostic: the plugin wrapped in a module that times, inside OpenCode's serve
// process, the import of the bundle, its setup(ctx) and the calls setup makes into
// OpenCode's context (transforms, hooks); the rest of setup is the sidecar's spawn,
// initialize and config/apply.
//
// Then, with the plugin: one OpenCode 2 background service (plain `opencode models`, no
// --standalone) serving three project directories, the resident memory of the sidecar
// process(es) it runs read from /proc, and `opencode service stop` (always).
//
// Linux only (/proc). Every process it starts is stopped at the end, on an error, on a
// deadline and on Ctrl-C.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const stack = await import("../../examples/test-stack/harness.mjs");

const { values: opts } = parseArgs({
  options: {
    rounds: { type: "string", default: "15" },
    models: { type: "string", default: "20" },
    "no-noop": { type: "boolean", default: false },
    "no-service": { type: "boolean", default: false },
    "no-timed": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(opts.rounds);
const MODELS = Number(opts.models);
for (const [k, v] of [["--rounds", ROUNDS], ["--models", MODELS]]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench-opencode2: ${k} takes a whole number ≥ 1`);
    process.exit(2);
  }
}
const PROVIDER = "corp";
const POLL_MS = 20;
const RUN_TIMEOUT_MS = 120_000;
const GLOBAL_DEADLINE_MS = 30 * 60_000;
const TARGET = { wallX: 1.05, rssMiB: 15 };
const CLK_TCK = 100; // USER_HZ of /proc/<pid>/stat on Linux
const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

const status = (s) => process.stderr.write(`bench-opencode2: ${s}\n`);
const loads = [];
const noteLoad = (when) => loads.push(`${when} ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const uptime = () => {
  try {
    return readFileSync("/proc/loadavg", "utf8").trim();
  } catch {
    return loadavg().join(" ");
  }
};

function opencode2Bin() {
  const c = [process.env.OPENCODE2_BIN, stack.paths.opencode2, "/tmp/oc2/node_modules/.bin/opencode"].filter(Boolean);
  const found = c.find((p) => existsSync(p));
  if (!found) throw new Error(`OpenCode 2 not found (tried ${c.join(", ")}): task deps:opencode2, or set OPENCODE2_BIN`);
  return found;
}

/** Nearest-rank percentile. */
function pct(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(Math.max(Math.ceil(s.length * q) - 1, 0), s.length - 1)];
}
const median = (xs) => pct(xs, 0.5);
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : "–");
const mib = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} MiB` : "–");
const signed = (x, f) => (x >= 0 ? `+${f(x)}` : `−${f(-x)}`);
const times = (x) => (Number.isFinite(x) ? `${x.toFixed(3)}×` : "–");

// ---------------------------------------------------------------------------
// one measured run: wall time, peak RSS of the process tree, CPU

const live = new Set(); // pids (session leaders) of measured runs still running

function statOf(pid) {
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may contain spaces
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), sid: Number(f[3]), cpuTicks: Number(f[11]) + Number(f[12]) };
}
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}
function cmdline(pid) {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8");
}
function role(cmd) {
  const argv = cmd.split("\0").filter(Boolean);
  const exe = argv[0]?.split("/").pop() ?? "?";
  if (exe === "time") return "time";
  if (/^opencode-oauth2/.test(exe)) return "sidecar";
  if (/^opencode/.test(exe)) return argv.includes("serve") ? "opencode serve" : "opencode";
  return exe;
}

/**
 * Runs bin args in a new session (GNU time's file goes to scratch) and polls /proc
 * every POLL_MS: the tree is every process of that session and every descendant of it
 * (also after a reparenting: a process counted once is followed until it exits). Resolves {wallMs, peakMiB,
 * byRole: {role: peak MiB}, cpuByRole: {role: CPU ms at the last sample}, cpuMs (GNU
 * time), code, stdout, stderr, leftovers}.
 */
function measuredRun(bin, args, { cwd, env, scratch, timeoutMs = RUN_TIMEOUT_MS }) {
  return new Promise((resolve, reject) => {
    const timeFile = GNU_TIME ? join(scratch, `time-${process.pid}-${Math.random().toString(36).slice(2)}`) : null;
    const [cmd, argv] = GNU_TIME ? [GNU_TIME, ["-f", "%e %U %S %M", "-o", timeFile, bin, ...args]] : [bin, args];
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const root = child.pid;
    live.add(root);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
    const tree = new Set([root]);
    const notOurs = new Set();
    const byRole = {};
    const ticks = new Map(); // pid → user + system clock ticks at its last sample
    const roleOf = new Map();
    let peak = 0;
    let wallMs = NaN;
    const poll = () => {
      let names;
      try {
        names = readdirSync("/proc");
      } catch {
        return;
      }
      const fresh = [];
      for (const n of names) {
        const c = n.charCodeAt(0);
        if (c < 48 || c > 57) continue;
        const pid = Number(n);
        if (!tree.has(pid) && !notOurs.has(pid)) fresh.push(pid);
      }
      fresh.sort((a, b) => a - b);
      for (const pid of fresh) {
        try {
          const s = statOf(pid);
          if (s.sid === root || tree.has(s.ppid)) tree.add(pid);
          else notOurs.add(pid);
        } catch {
          /* gone */
        }
      }
      // a child between fork and exec (Bun spawns with vfork: it shares its parent's
      // memory and shows the parent's VmRSS and command line) is not counted
      const seen = new Map(); // pid → {cmd, ppid, kib}
      for (const pid of tree) {
        try {
          const st = statOf(pid);
          seen.set(pid, { cmd: cmdline(pid), ppid: st.ppid, kib: rssKiB(pid) });
          ticks.set(pid, st.cpuTicks);
        } catch {
          tree.delete(pid); // exited
          notOurs.add(pid);
        }
      }
      let sum = 0;
      for (const [pid, p] of seen) {
        if (p.cmd === "" || seen.get(p.ppid)?.cmd === p.cmd) continue; // a zombie; a child not exec'd yet
        const r = role(p.cmd);
        if (r === "time") continue; // the wrapper is not OpenCode
        sum += p.kib;
        byRole[r] = Math.max(byRole[r] ?? 0, p.kib / 1024);
        roleOf.set(pid, r);
      }
      peak = Math.max(peak, sum / 1024);
    };
    poll();
    const timer = setInterval(poll, POLL_MS);
    const deadline = setTimeout(() => killSession(root), timeoutMs);
    child.once("exit", () => {
      wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      poll();
    });
    child.once("error", (e) => {
      clearInterval(timer);
      clearTimeout(deadline);
      live.delete(root);
      reject(new Error(`cannot run ${bin}: ${e.message}`));
    });
    child.once("close", async (code, signal) => {
      clearTimeout(deadline);
      // whatever outlives the command (it should be nothing) is followed for up to 3 s
      const until = Date.now() + 3_000;
      while (Date.now() < until && [...tree].some((p) => p !== root && existsSync(`/proc/${p}`))) await new Promise((r) => setTimeout(r, POLL_MS));
      clearInterval(timer);
      const leftovers = [...tree].filter((p) => p !== root && existsSync(`/proc/${p}`)).map((p) => {
        try {
          return `${p} ${role(cmdline(p))}`;
        } catch {
          return String(p);
        }
      });
      killSession(root);
      live.delete(root);
      let cpuMs = NaN;
      if (timeFile) {
        try {
          const [, user, sys] = (await readFile(timeFile, "utf8")).trim().split("\n").pop().split(" ").map(Number);
          cpuMs = (user + sys) * 1000;
        } catch {
          /* no figure */
        }
      }
      const cpuByRole = {};
      for (const [pid, r] of roleOf) cpuByRole[r] = (cpuByRole[r] ?? 0) + ((ticks.get(pid) ?? 0) * 1000) / CLK_TCK;
      resolve({ code: code ?? (signal ? 128 : 1), wallMs, peakMiB: peak, byRole, cpuByRole, cpuMs, stdout, stderr, leftovers });
    });
  });
}

function killSession(root) {
  try {
    process.kill(-root, "SIGKILL");
  } catch {
    /* gone */
  }
}

// ---------------------------------------------------------------------------
// cleanup

const disposers = [];
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    while (disposers.length > 0) await disposers.pop()().catch((e) => status(`cleanup: ${e.message}`));
    for (const p of live) killSession(p);
    await stack.stop();
  })();
  return cleaning;
}
process.on("exit", () => {
  for (const p of live) killSession(p);
  stack.killAllSync();
});
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.once(sig, () => void cleanup().finally(() => process.exit(code)));
}
setTimeout(() => {
  status(`did not finish within ${GLOBAL_DEADLINE_MS / 60_000} minutes; stopping`);
  void cleanup().finally(() => process.exit(1));
}, GLOBAL_DEADLINE_MS).unref();

// ---------------------------------------------------------------------------

const rows = [];
const row = (figure, value, target = "", verdict = "") => rows.push({ figure, value, target, verdict });

async function main() {
  if (process.platform !== "linux") throw new Error("Linux only (/proc)");
  stack.requireBuilt(["shim", "sidecar", "testGateway"]);
  const bin = opencode2Bin();
  const t0 = Date.now();
  const startUptime = uptime();
  noteLoad("start");
  const ocVersion = (await stack.runCommand(bin, ["--version"], { timeoutMs: 30_000 })).stdout.trim();

  status("starting the authorization server and the test gateway");
  const as = await stack.startAuthServer({ ACCESS_TOKEN_TTL: "3600" });
  const gw = await stack.startGateway({ issuer: as.issuer, models: MODELS });

  // One build for the whole run: a copy of the checkout's bundle and sidecar, laid out
  // as in the checkout (js-shim/dist/index.js, bin/opencode-oauth2), so that the shim
  // finds the sidecar as a development build, as it does in the checkout, and a rebuild
  // of the checkout during the run (the tests do that) cannot mix two builds.
  const tmp = await stack.makeTmp("oc-oauth2-bench2-");
  const shim = join(tmp, "build", "js-shim", "dist", "index.js");
  const sidecar = join(tmp, "build", "bin", "opencode-oauth2");
  await mkdir(join(tmp, "build", "js-shim", "dist"), { recursive: true });
  await mkdir(join(tmp, "build", "bin"));
  await copyFile(stack.paths.shim, shim);
  await copyFile(stack.paths.sidecar, sidecar);
  await chmod(sidecar, 0o755);
  delete process.env.OPENCODE_OAUTH2_BINARY; // copied above; the shim finds the copy
  const sidecarVersion = (await stack.runCommand(sidecar, ["version"], { timeoutMs: 30_000 })).stdout.trim().split("\n")[0];

  // the plugin directories (OpenCode 2 loads a local plugin as a directory's index.js)
  const pluginDir = join(tmp, "opencode-oauth2");
  const noopDir = join(tmp, "noop");
  await mkdir(pluginDir);
  await mkdir(noopDir);
  await writeFile(join(pluginDir, "index.js"), `export { default } from ${JSON.stringify(pathToFileURL(shim).href)};\n`);
  await writeFile(join(noopDir, "index.js"), `export default {id:"noop", setup(){}}\n`);
  const probeDir = join(tmp, "opencode-oauth2-timed");
  const probeLog = join(tmp, "timed.jsonl");
  await mkdir(probeDir);
  await writeFile(join(probeDir, "index.js"), timedPlugin(pathToFileURL(shim).href, probeLog));

  const oauthEntry = {
    name: "Corp gateway",
    options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials", scopes: ["api:read"] } },
  };
  const ocPlugin = await stack.isolatedOpenCode({ opencodeBin: bin, pluginSpec: pluginDir, config: { provider: { [PROVIDER]: oauthEntry } } });
  disposers.push(() => ocPlugin.stop());

  const listing = (stdout) =>
    stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith(`${PROVIDER}/`))
      .sort()
      .join("\n");
  const run = async (v, check = true) => {
    const r = await measuredRun(bin, ["models", "--standalone"], { cwd: v.oc.dirs.project, env: v.oc.env, scratch: v.oc.dirs.root });
    if (r.code !== 0) throw new Error(`opencode models --standalone (${v.name}) exit ${r.code}:\n${r.stderr.slice(-3000)}`);
    if (check && listing(r.stdout) !== v.expected) throw new Error(`opencode models --standalone (${v.name}) listed:\n${listing(r.stdout)}\nstderr:\n${r.stderr.slice(-2000)}`);
    if (r.leftovers.length > 0) status(`  ${v.name}: still running 3 s after the command exited (killed): ${r.leftovers.join(", ")}`);
    return r;
  };

  // cold start with the plugin: nothing cached, the plugin fetches a token and the models
  status("cold start with the plugin (nothing cached)");
  const s0 = await as.stats();
  const pluginVariant = { name: "plugin", oc: ocPlugin, expected: null };
  const cold = { plugin: await run(pluginVariant, false) };
  const s1 = await as.stats();
  const coldTokens = (s1.client_credentials ?? 0) - (s0.client_credentials ?? 0);

  // the entry the plugin gives OpenCode 2, declared statically: a real token, the same models
  const tok = await ocPlugin.exec(sidecar, ["token", PROVIDER], { timeoutMs: 30_000 });
  const mods = await ocPlugin.exec(sidecar, ["models", PROVIDER, "--json"], { timeoutMs: 30_000 });
  if (tok.code !== 0 || mods.code !== 0) throw new Error(`opencode-oauth2 token/models failed:\n${tok.stderr}\n${mods.stderr}`);
  const models = Object.fromEntries(JSON.parse(mods.stdout).models.map((m) => [m.id, { name: m.name }]));
  if (Object.keys(models).length !== MODELS) throw new Error(`the gateway listed ${Object.keys(models).length} models, not ${MODELS}`);
  const expected = Object.keys(models)
    .map((m) => `${PROVIDER}/${m}`)
    .sort()
    .join("\n");
  pluginVariant.expected = expected;
  if (listing(cold.plugin.stdout) !== expected) throw new Error(`the cold run with the plugin listed:\n${listing(cold.plugin.stdout)}\nstderr:\n${cold.plugin.stderr.slice(-2000)}`);
  const staticEntry = {
    name: oauthEntry.name,
    npm: "@ai-sdk/openai-compatible",
    options: { baseURL: gw.baseURL, headers: { Authorization: `Bearer ${tok.stdout.trim()}` } },
    models,
  };
  const ocStatic = await stack.isolatedOpenCode({ opencodeBin: bin, config: { plugin: [], provider: { [PROVIDER]: staticEntry } } });
  disposers.push(() => ocStatic.stop());
  const variants = [pluginVariant, { name: "static", oc: ocStatic, expected }];
  if (!opts["no-noop"]) {
    const ocNoop = await stack.isolatedOpenCode({ opencodeBin: bin, pluginSpec: noopDir, config: { provider: { [PROVIDER]: staticEntry } } });
    disposers.push(() => ocNoop.stop());
    variants.push({ name: "noop", oc: ocNoop, expected });
  }
  status("cold start without the plugin (fresh OpenCode home)");
  cold.static = await run(variants[1]);

  // every plugin variant loads its plugin; the static one loads none of ours (untimed)
  status("checking which plugins each variant loads (--print-logs, untimed)");
  for (const v of variants) {
    if (v.name === "noop") await run(v); // its first run, untimed (the others had theirs)
    const r = await stack.runCommand(bin, ["models", "--standalone", "--print-logs"], { cwd: v.oc.dirs.project, env: v.oc.env, timeoutMs: RUN_TIMEOUT_MS });
    const loaded = (dir) => r.stderr.split("\n").some((l) => l.includes('msg="loading plugin"') && l.includes(dir));
    const want = { plugin: [pluginDir], static: [], noop: [noopDir] }[v.name];
    for (const d of [pluginDir, noopDir]) {
      if (loaded(d) !== want.includes(d)) throw new Error(`${v.name}: OpenCode ${want.includes(d) ? "did not load" : "loaded"} ${d}:\n${r.stderr.slice(-3000)}`);
    }
  }

  // timed rounds, interleaved, the order rotating
  noteLoad("rounds");
  status(`${ROUNDS} rounds of ${variants.map((v) => v.name).join(", ")}, interleaved`);
  const before = await as.stats();
  const got = Object.fromEntries(variants.map((v) => [v.name, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (let j = 0; j < variants.length; j++) {
      const v = variants[(i + j) % variants.length];
      got[v.name].push(await run(v));
    }
    status(`  round ${i + 1}: ${variants.map((v) => `${v.name} ${ms(got[v.name][i].wallMs)} ${mib(got[v.name][i].peakMiB)}`).join(", ")}`);
  }
  const after = await as.stats();
  const tokenRequests = (after.client_credentials ?? 0) - (before.client_credentials ?? 0);
  noteLoad("rounds done");

  const f = (name, k, q) => pct(got[name].map((x) => x[k]), q);
  const roleMed = (name, r) => median(got[name].map((x) => x.byRole[r] ?? 0));
  const label = `${ROUNDS} runs each, interleaved`;
  for (const v of variants) {
    const roles = ["opencode", "opencode serve", "sidecar"].filter((r) => got[v.name].some((x) => x.byRole[r] !== undefined));
    row(
      `\`opencode models --standalone\`, ${v.name} (${label}): wall median / p90; CPU median; peak tree RSS median / max`,
      `${ms(f(v.name, "wallMs", 0.5))} / ${ms(f(v.name, "wallMs", 0.9))}; ${ms(f(v.name, "cpuMs", 0.5))}; ${mib(f(v.name, "peakMiB", 0.5))} / ${mib(f(v.name, "peakMiB", 1))}`,
    );
    row(`— of which, each process's peak RSS (median): ${roles.join(", ")}`, roles.map((r) => mib(roleMed(v.name, r))).join(", "));
    row(
      `— and each process's CPU, user + system at its last 20-ms sample, 10-ms ticks (median): ${roles.join(", ")}`,
      roles.map((r) => ms(median(got[v.name].map((x) => x.cpuByRole[r] ?? 0)))).join(", "),
    );
  }
  const wallX = f("plugin", "wallMs", 0.5) / f("static", "wallMs", 0.5);
  const wallX90 = f("plugin", "wallMs", 0.9) / f("static", "wallMs", 0.9);
  const pairX = median(got.plugin.map((x, i) => x.wallMs / got.static[i].wallMs));
  const rssD = f("plugin", "peakMiB", 0.5) - f("static", "peakMiB", 0.5);
  const cpuX = f("plugin", "cpuMs", 0.5) / f("static", "cpuMs", 0.5);
  row(
    "**plugin ÷ static, wall**: median, p90 (median of the round-by-round ratios)",
    `**${times(wallX)}**, ${times(wallX90)} (${times(pairX)})`,
    `≤ ${TARGET.wallX}× (median)`,
    wallX <= TARGET.wallX ? "met" : "NOT met",
  );
  row("— CPU, plugin ÷ static (median)", times(cpuX));
  const pairD = median(got.plugin.map((x, i) => x.peakMiB - got.static[i].peakMiB));
  row("**plugin − static, peak tree RSS**: difference of the medians (median of the round-by-round differences)", `**${signed(rssD, mib)}** (${signed(pairD, mib)})`, `≤ +${TARGET.rssMiB} MiB`, rssD <= TARGET.rssMiB ? "met" : "NOT met");
  if (got.noop) {
    const noopX = f("noop", "wallMs", 0.5) / f("static", "wallMs", 0.5);
    const overNoop = f("plugin", "wallMs", 0.5) / f("noop", "wallMs", 0.5);
    row(
      "diagnostic: noop ÷ static, wall median; plugin ÷ noop",
      `${times(noopX)} (${signed(f("noop", "wallMs", 0.5) - f("static", "wallMs", 0.5), ms)}); ${times(overNoop)} (${signed(f("plugin", "wallMs", 0.5) - f("noop", "wallMs", 0.5), ms)})`,
    );
    row(
      "diagnostic: noop − static, peak tree RSS; plugin − noop",
      `${signed(f("noop", "peakMiB", 0.5) - f("static", "peakMiB", 0.5), mib)}; ${signed(f("plugin", "peakMiB", 0.5) - f("noop", "peakMiB", 0.5), mib)}`,
    );
  }
  row("token requests during the timed runs", String(tokenRequests), "0 (warm cache)", tokenRequests === 0 ? "met" : "NOT met");
  row(
    "first run, cold (fresh OpenCode home; the plugin's cache empty): plugin, static — wall; peak tree RSS",
    `${ms(cold.plugin.wallMs)}, ${ms(cold.static.wallMs)}; ${mib(cold.plugin.peakMiB)}, ${mib(cold.static.peakMiB)}`,
  );
  row("— token requests during the plugin's cold run", String(coldTokens), "1");

  if (!opts["no-timed"]) {
    noteLoad("timed");
    await setupSplit({ bin, as, oauthEntry, probeDir, probeLog, run, expected });
  }
  if (!opts["no-service"]) {
    noteLoad("service");
    await serviceRss({ bin, oc: ocPlugin, expected, listing });
  }
  noteLoad("end");

  console.log(
    `\nOpenCode 2 benchmark: ${ocVersion} (${bin.replace(stack.repoRoot + "/", "")}); sidecar ${sidecarVersion}; Node ${process.version}; ` +
      `${process.platform}/${process.arch}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); ` +
      `${GNU_TIME ? "CPU by GNU time" : "no /usr/bin/time: no CPU figure"}; ${new Date().toISOString()}; ${((Date.now() - t0) / 1000).toFixed(0)} s\n` +
      `/proc/loadavg at the start: ${startUptime}; at the end: ${uptime()}\n1/5/15-minute load by phase: ${loads.join("; ")}\n`,
  );
  console.log("| figure | value | target | verdict |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.figure} | ${r.value} | ${r.target} | ${r.verdict} |`);
}

// ---------------------------------------------------------------------------
// diagnostic: where the plugin's setup time goes, timed inside OpenCode's serve process

/** A plugin directory's index.js: the shim, its import and setup timed, one JSON line per setup. */
function timedPlugin(shimUrl, logFile) {
  return `import { appendFileSync } from "node:fs";
const t0 = performance.now();
const { default: plugin } = await import(${JSON.stringify(shimUrl)});
const importMs = performance.now() - t0;
const timed = (obj, name, spent) => new Proxy(obj, {
  get(t, k) {
    const v = t[k];
    if (typeof v !== "function") return v;
    return async (...a) => {
      const s = performance.now();
      try { return await v.apply(t, a); } finally { spent[name] = (spent[name] ?? 0) + performance.now() - s; }
    };
  },
});
export default { ...plugin, async setup(ctx) {
  const spent = {};
  const wrapped = { provider: "provider.transform", model: "model.transform", session: "session.hook", integration: "integration.transform" };
  const c = new Proxy(ctx, { get: (t, k) => (k in wrapped && t[k] ? timed(t[k], wrapped[k], spent) : t[k]) });
  const s = performance.now();
  const r = await plugin.setup(c);
  appendFileSync(${JSON.stringify(logFile)}, JSON.stringify({ importMs, setupMs: performance.now() - s, spent }) + "\\n");
  return r;
} };
`;
}

async function setupSplit({ bin, as, oauthEntry, probeDir, probeLog, run, expected }) {
  const n = Math.min(ROUNDS, 10);
  status(`diagnostic: the plugin's import and setup timed inside OpenCode (${n} runs)`);
  const oc = await stack.isolatedOpenCode({ opencodeBin: bin, pluginSpec: probeDir, config: { provider: { [PROVIDER]: oauthEntry } } });
  // the cache of the plugin variant's home is not shared: one cold run first (untimed)
  await run({ name: "timed", oc, expected }, false);
  await writeFile(probeLog, "");
  const before = await as.stats();
  for (let i = 0; i < n; i++) await run({ name: "timed", oc, expected });
  const after = await as.stats();
  await oc.stop();
  const lines = (await readFile(probeLog, "utf8")).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  if (lines.length !== n) throw new Error(`timed plugin: ${lines.length} setups logged in ${n} runs`);
  const med = (fn) => median(lines.map(fn));
  const host = (l) => Object.values(l.spent).reduce((a, b) => a + b, 0);
  const names = [...new Set(lines.flatMap((l) => Object.keys(l.spent)))];
  row(
    `diagnostic, the plugin timed inside OpenCode's serve process (${n} runs, warm cache; ${(after.client_credentials ?? 0) - (before.client_credentials ?? 0)} token requests): import of the bundle; setup(ctx)`,
    `${ms(med((l) => l.importMs))}; ${ms(med((l) => l.setupMs))} (p90 ${ms(pct(lines.map((l) => l.setupMs), 0.9))})`,
  );
  row(
    `— of setup: calls into OpenCode's context (${names.join(", ")}); the rest (sidecar spawn, initialize, config/apply)`,
    `${ms(med(host))} (${names.map((k) => ms(med((l) => l.spent[k] ?? 0))).join(", ")}); ${ms(med((l) => l.setupMs - host(l)))}`,
  );
}

// ---------------------------------------------------------------------------
// the sidecar's RSS under one background service serving three projects

/** Linux: {pid, role, rssMiB, hwmMiB} of the processes whose environment mentions dir. */
function processesOf(dir) {
  const out = [];
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${n}/environ`, "utf8").includes(dir)) continue;
      const st = readFileSync(`/proc/${n}/status`, "utf8");
      const kib = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? 0);
      out.push({ pid: Number(n), role: role(cmdline(n)), rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 });
    } catch {
      /* gone, or not ours */
    }
  }
  return out;
}

async function serviceRss({ bin, oc, expected, listing }) {
  status("background service: `opencode models` in three project directories");
  const dirs = [oc.dirs.project, join(oc.dirs.root, "project-2"), join(oc.dirs.root, "project-3")];
  for (const d of dirs) await mkdir(d, { recursive: true });
  const stopService = async () => {
    const r = await stack.runCommand(bin, ["service", "stop"], { cwd: dirs[0], env: oc.env, timeoutMs: 30_000 }).catch((e) => ({ code: -1, stderr: e.message }));
    if (r.code !== 0) status(`opencode service stop: exit ${r.code}: ${r.stderr}`);
    await new Promise((r) => setTimeout(r, 500));
    const left = processesOf(oc.dirs.root);
    for (const p of left) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    return left;
  };
  let stopped = false;
  disposers.push(async () => {
    if (!stopped) await stopService();
  });
  const snaps = [];
  try {
    for (const [i, d] of dirs.entries()) {
      const r = await stack.runCommand(bin, ["models"], { cwd: d, env: { ...oc.env, PWD: d }, timeoutMs: RUN_TIMEOUT_MS });
      if (r.code !== 0 || listing(r.stdout) !== expected) throw new Error(`opencode models in ${d} (service) exit ${r.code}; listed:\n${listing(r.stdout)}\n${r.stderr.slice(-2000)}`);
      await new Promise((res) => setTimeout(res, 1_000)); // let the locations settle
      const ps = processesOf(oc.dirs.root);
      snaps.push({ n: i + 1, ps });
      status(`  ${i + 1} project(s): ${ps.map((p) => `${p.role} ${p.pid} ${mib(p.rssMiB)}`).join(", ")}`);
    }
  } finally {
    const left = await stopService();
    stopped = true;
    if (left.length > 0) status(`still running after \`opencode service stop\` (killed): ${left.map((p) => `${p.pid} ${p.role}`).join(", ")}`);
  }
  for (const s of snaps) {
    const sc = s.ps.filter((p) => p.role === "sidecar");
    const svc = s.ps.filter((p) => p.role !== "sidecar");
    const sum = (xs, k) => xs.reduce((a, p) => a + p[k], 0);
    row(
      `background service, ${s.n} project director${s.n === 1 ? "y" : "ies"} served: sidecar processes; their VmRSS (sum); VmHWM (sum); the service's own VmRSS`,
      `${sc.length}; ${sc.map((p) => mib(p.rssMiB)).join(" + ")} (${mib(sum(sc, "rssMiB"))}); ${mib(sum(sc, "hwmMiB"))}; ${mib(sum(svc, "rssMiB"))}`,
      s.n === 3 ? "one sidecar per OpenCode process (host2.ts)" : "",
      s.n === 3 ? (sc.length === 1 ? "met" : `NOT met (${sc.length} sidecars)`) : "",
    );
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`bench-opencode2: ${e.stack ?? e.message}`);
  code = 1;
}
await cleanup();
process.exit(code);
