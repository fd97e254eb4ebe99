// Sidecar supervision and the JSON-RPC client, against a scriptable fake
// sidecar (test-support/fake-sidecar.mjs), a shell script that dies at once,
// and the real Go binary (kill -9 mid-request).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import {
  cleanupTmp,
  ensureGoBinary,
  fakeSidecarBinary,
  isAlive,
  importSrc,
  makeTmp,
  waitFor,
  writeScript,
} from "../test-support/helpers.mjs";

let m;
let fake;
const live = [];

before(async () => {
  m = await importSrc("sidecar");
  fake = await fakeSidecarBinary(await makeTmp());
});
afterEach(async () => {
  while (live.length > 0) await live.pop().dispose();
});
after(cleanupTmp);

async function events(dir) {
  const text = await readFile(join(dir, "events"), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean);
}
const count = (evs, prefix) => evs.filter((e) => e.startsWith(prefix)).length;

async function newFake(fakeEnv = {}, opts = {}) {
  const state = await makeTmp();
  const notes = [];
  const stderr = [];
  const exits = [];
  const reapplied = [];
  const sc = new m.Sidecar({
    binary: fake,
    env: { ...process.env, FAKE_STATE_DIR: state, ...fakeEnv },
    initializeParams: () => ({ protocolVersion: 1, interactive: false }),
    onNotification: (method, params) => notes.push({ method, params }),
    onStderr: (l) => stderr.push(l),
    onUnexpectedExit: (r) => exits.push(r),
    // As an adapter does: a restarted sidecar gets the last configuration again.
    onStarted: async () => {
      if (last !== undefined) reapplied.push(await sc.request("config/apply", last));
    },
    startBackoffMs: 10,
    ...opts,
  });
  let last;
  const request = sc.request.bind(sc);
  sc.request = async (method, params, timeoutMs) => {
    const r = await request(method, params, timeoutMs);
    if (method === "config/apply") last = params;
    return r;
  };
  live.push(sc);
  return { sc, state, notes, stderr, exits, reapplied };
}

describe("JSON-RPC client", () => {
  test("initialize happens once, lazily, before the first request", async () => {
    const { sc, state } = await newFake();
    assert.equal(count(await events(state), "spawn"), 0);
    const r = await sc.request("headers/get", { providerID: "other" });
    assert.deepEqual(r, { headers: {} });
    await sc.request("headers/get", { providerID: "other" });
    const evs = await events(state);
    assert.equal(count(evs, "spawn"), 1);
    assert.equal(count(evs, "request initialize"), 1);
  });

  test("concurrent requests are matched to their answers by id", async () => {
    const { sc } = await newFake();
    const inputs = Array.from({ length: 50 }, (_, i) => ({ n: i, s: "é🚀".repeat(i) }));
    const got = await Promise.all(inputs.map((p) => sc.request("test/echo", p, 5000)));
    assert.deepEqual(got, inputs);
  });

  test("notifications sent before an answer are dispatched before it resolves", async () => {
    const { sc, notes } = await newFake();
    await sc.request(
      "test/notify-then-reply",
      {
        send: [
          { method: "log", params: { level: "warn", message: "m1" } },
          { method: "headers/invalidate", params: { providerID: "acme" } },
        ],
      },
      5000,
    );
    assert.deepEqual(notes, [
      { method: "log", params: { level: "warn", message: "m1" } },
      { method: "headers/invalidate", params: { providerID: "acme" } },
    ]);
  });

  test("an error answer becomes an RpcError with code and data", async () => {
    const { sc } = await newFake({ FAKE_FAIL: "acme" });
    await assert.rejects(sc.request("headers/get", { providerID: "acme" }), (e) => {
      assert.ok(e instanceof m.RpcError);
      assert.equal(e.code, -32010);
      assert.deepEqual(e.data, { providerID: "acme", reason: "login_required" });
      assert.match(e.message, /login required/);
      return true;
    });
  });

  test("a missed deadline is a clear error and the connection stays usable", async () => {
    const { sc, state } = await newFake({ FAKE_HANG: "headers/get" });
    const t0 = Date.now();
    await assert.rejects(sc.request("headers/get", { providerID: "acme" }, 200), (e) => {
      assert.ok(e instanceof m.SidecarTimeoutError);
      assert.match(e.message, /did not answer headers\/get within 0.2 s/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(await sc.request("test/echo", { ok: 1 }, 5000), { ok: 1 });
    assert.equal(count(await events(state), "spawn"), 1);
  });

  test("the default deadlines are protocol.md's", () => {
    assert.deepEqual(m.DEFAULT_DEADLINES, {
      initialize: 5000,
      "config/apply": 20000,
      "headers/get": 60000,
      login: 330000, // the default 5 min login timeout plus a tenth; the plugin passes the sidecar's loginTimeoutMs
      "login/paste": 60000,
      shutdown: 2000,
    });
  });

  test("a request too large to frame fails without killing the sidecar", async () => {
    const { sc } = await newFake();
    await assert.rejects(sc.request("test/echo", { s: "x".repeat(4 * 1024 * 1024) }, 5000), /exceeds/);
    assert.deepEqual(await sc.request("test/echo", 1, 5000), 1);
  });

  test("an oversized answer stops the sidecar; the next request restarts it", async () => {
    const { sc, state, exits } = await newFake({}, { maxFrameBytes: 1000 });
    await assert.rejects(sc.request("test/big", { bytes: 5000 }, 5000), /broke the protocol \(frame of \d+ bytes exceeds/);
    await waitFor(() => exits.length === 1, 3000, "the exit report");
    assert.match(exits[0], /broke the protocol/);
    assert.deepEqual(await sc.request("test/echo", 2, 5000), 2);
    assert.equal(count(await events(state), "spawn"), 2);
  });

  test("the child's stderr is forwarded line by line", async () => {
    const { sc, stderr } = await newFake({ FAKE_FAIL_SPAWNS: "1" });
    await sc.request("test/echo", 1, 5000);
    assert.ok(stderr.includes("fake sidecar: failing at start on purpose"), JSON.stringify(stderr));
  });
});

describe("supervision", () => {
  test("kill -9 during headers/get: the request is retried once on a restarted sidecar", async () => {
    const { sc, state, reapplied } = await newFake({ FAKE_HANG: "headers/get", FAKE_HANG_SPAWNS: "1" });
    await sc.request("config/apply", { config: { provider: {} } });
    const pid1 = sc.pid;
    const pending = sc.request("headers/get", { providerID: "acme" });
    await waitFor(async () => (await events(state)).some((e) => e.startsWith("request headers/get")), 5000, "headers/get sent");
    process.kill(pid1, "SIGKILL");
    const r = await pending;
    assert.notEqual(sc.pid, pid1);
    assert.match(r.headers.Authorization, new RegExp(`^Bearer tok-${sc.pid}-`));
    const evs = await events(state);
    assert.equal(count(evs, "spawn"), 2);
    assert.equal(count(evs, "request initialize"), 2);
    assert.equal(count(evs, "request config/apply"), 2, "the last config is re-applied");
    assert.equal(reapplied.length, 1);
  });

  test("kill -9 during config/apply: that request fails clearly, the next one restarts the sidecar", async () => {
    const { sc, state, exits } = await newFake({ FAKE_HANG: "config/apply", FAKE_HANG_SPAWNS: "1" });
    const pending = sc.request("config/apply", { config: {} });
    await waitFor(async () => (await events(state)).some((e) => e.startsWith("request config/apply")), 5000, "config/apply sent");
    process.kill(sc.pid, "SIGKILL");
    await assert.rejects(pending, (e) => {
      assert.ok(e instanceof m.SidecarExitedError);
      assert.match(e.message, /was killed by SIGKILL/);
      return true;
    });
    assert.equal(exits.length, 1);
    const r = await sc.request("headers/get", { providerID: "acme" });
    assert.match(r.headers.Authorization, /^Bearer tok-/);
    assert.equal(count(await events(state), "spawn"), 2);
  });

  test("a sidecar that dies while idle is restarted by the next request and re-configured", async () => {
    const { sc, state, exits } = await newFake();
    await sc.request("config/apply", { config: { a: 1 } });
    const pid1 = sc.pid;
    process.kill(pid1, "SIGKILL");
    await waitFor(() => exits.length === 1, 5000, "exit report");
    assert.match(exits[0], /was killed by SIGKILL/);
    await sc.request("headers/get", { providerID: "acme" });
    const evs = await events(state);
    assert.equal(count(evs, "spawn"), 2);
    assert.deepEqual(
      evs.filter((e) => e.startsWith("request config/apply")),
      ['request config/apply {"config":{"a":1}}', 'request config/apply {"config":{"a":1}}'],
    );
  });

  test("a binary that exits at once: clear error after a bounded number of starts, then fails fast", async () => {
    const dir = await makeTmp();
    const state = await makeTmp();
    const bin = await writeScript(dir, "crash", `echo spawn >> "${state}/events"; echo "fatal: cannot read config" >&2; exit 7`);
    const sc = new m.Sidecar({
      binary: bin,
      initializeParams: () => ({ protocolVersion: 1, interactive: false }),
      startBackoffMs: 10,
      maxStartAttempts: 3,
      cooldownMs: 60_000,
    });
    live.push(sc);
    const t0 = Date.now();
    await assert.rejects(sc.request("headers/get", { providerID: "x" }), (e) => {
      assert.ok(e instanceof m.SidecarExitedError);
      assert.match(e.message, /could not be started \(3 attempts\)/);
      assert.match(e.message, /exited with code 7/);
      assert.match(e.message, /fatal: cannot read config/);
      assert.ok(e.message.includes(bin));
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(count(await events(state), "spawn"), 3);
    // Within the cooldown: the same error, no new process.
    await assert.rejects(sc.request("headers/get", { providerID: "x" }), /could not be started \(3 attempts\)/);
    await assert.rejects(sc.request("config/apply", { config: {} }), /could not be started/);
    assert.equal(count(await events(state), "spawn"), 3);
  });

  test("after the cooldown a fixed binary is tried again", async () => {
    const { sc, state } = await newFake({ FAKE_FAIL_SPAWNS: "2" }, { maxStartAttempts: 1, cooldownMs: 50 });
    await assert.rejects(sc.request("test/echo", 1, 5000), /could not be started \(1 attempts\).*exited with code 3/);
    await new Promise((r) => setTimeout(r, 60));
    await assert.rejects(sc.request("test/echo", 1, 5000), /could not be started/);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await sc.request("test/echo", 1, 5000), 1);
    assert.equal(count(await events(state), "spawn"), 3);
  });

  test("a start that fails once is retried within the same request", async () => {
    const { sc, state } = await newFake({ FAKE_FAIL_SPAWNS: "2" });
    assert.equal(await sc.request("test/echo", "ok", 5000), "ok");
    assert.equal(count(await events(state), "spawn"), 3);
  });

  test("a missing binary is a clear error", async () => {
    const sc = new m.Sidecar({
      binary: "/nonexistent/opencode-oauth2",
      initializeParams: () => ({ protocolVersion: 1, interactive: false }),
      startBackoffMs: 1,
    });
    live.push(sc);
    await assert.rejects(sc.request("headers/get", {}), /\/nonexistent\/opencode-oauth2\) could not be started: .*ENOENT/);
  });

  test("a binary without the execute bit is a clear error", async () => {
    const dir = await makeTmp();
    const bin = join(dir, "opencode-oauth2");
    await writeFile(bin, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    const sc = new m.Sidecar({ binary: bin, initializeParams: () => ({ protocolVersion: 1, interactive: false }), startBackoffMs: 1 });
    live.push(sc);
    await assert.rejects(sc.request("headers/get", {}), /could not be started: .*EACCES/);
  });

  test("a sidecar speaking another protocol version is not restarted in a loop", async () => {
    const { sc, state } = await newFake({ FAKE_PROTOCOL: "2" });
    await assert.rejects(sc.request("config/apply", { config: {} }), (e) => {
      assert.ok(e instanceof m.IncompatibleSidecarError);
      assert.match(e.message, /protocol version 2, this plugin speaks 1/);
      return true;
    });
    assert.equal(count(await events(state), "spawn"), 1);
  });

  test("garbage on stdout is a protocol failure with a clear message", async () => {
    const { sc } = await newFake({ FAKE_NOISE: "hello from a stray fmt.Println\n" }, { maxStartAttempts: 2 });
    await assert.rejects(sc.request("test/echo", 1, 5000), /broke the protocol \((malformed frame header|frame header without Content-Length)/);
  });

  test("initialize that never answers counts as a failed start (5 s deadline, here shortened)", async () => {
    const { sc, state } = await newFake({ FAKE_HANG: "initialize" }, { deadlines: { initialize: 1500 }, maxStartAttempts: 2 });
    await assert.rejects(sc.request("test/echo", 1, 5000), /could not be started \(2 attempts\).*did not answer initialize within 1.5 s/);
    const evs = await events(state);
    assert.equal(count(evs, "spawn"), 2);
    // The hung processes were killed.
    for (const e of evs.filter((x) => x.startsWith("spawn"))) {
      const pid = Number(e.split(" ")[1]);
      await waitFor(() => !isAlive(pid), 3000, `pid ${pid} gone`);
    }
  });

  test("dispose sends shutdown, closes stdin and the process is gone", async () => {
    const { sc, state } = await newFake();
    await sc.request("test/echo", 1, 5000);
    const pid = sc.pid;
    await sc.dispose();
    const evs = await events(state);
    assert.ok(evs.includes("request shutdown {}"), evs.join("\n"));
    assert.ok(evs.includes("stdin-closed"));
    assert.equal(isAlive(pid), false);
    await assert.rejects(sc.request("test/echo", 1, 5000), /shut down/);
  });

  test("dispose kills a sidecar that ignores shutdown and stdin EOF", async () => {
    const dir = await makeTmp();
    const bin = await writeScript(
      dir,
      "stubborn",
      `exec "${process.execPath}" -e '
        process.stdin.on("data", (c) => { const s = c.toString(); const m = /"id":(\\d+),"method":"initialize"/.exec(s);
          if (m) { const b = JSON.stringify({jsonrpc:"2.0",id:Number(m[1]),result:{protocolVersion:1,version:"x"}});
                   process.stdout.write("Content-Length: " + Buffer.byteLength(b) + "\\r\\n\\r\\n" + b); } });
        process.stdin.on("end", () => {}); setInterval(() => {}, 1000);'`,
    );
    const sc = new m.Sidecar({ binary: bin, initializeParams: () => ({ protocolVersion: 1, interactive: false }), deadlines: { shutdown: 200 } });
    await sc.request("headers/get", {}, 200).catch(() => {});
    const pid = sc.pid;
    assert.ok(pid);
    const t0 = Date.now();
    await sc.dispose();
    assert.ok(Date.now() - t0 < 4000);
    await waitFor(() => !isAlive(pid), 3000, "stubborn sidecar killed");
  });

  test("the sidecar does not keep the host process alive", async () => {
    const state = await makeTmp();
    const dir = await makeTmp();
    const mod = join(dir, "sidecar.mjs");
    const { bundle } = await import("../build.mjs");
    await bundle("src/sidecar.ts", mod);
    const script = `
      const { Sidecar } = await import(${JSON.stringify(mod)});
      const sc = new Sidecar({ binary: ${JSON.stringify(fake)}, initializeParams: () => ({ protocolVersion: 1, interactive: false }) });
      await sc.request("headers/get", { providerID: "acme" });
      console.log("pid " + sc.pid);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, FAKE_STATE_DIR: state },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    const code = await new Promise((resolve) => {
      const t = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("timeout");
      }, 10_000);
      child.on("exit", (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.equal(code, 0, "host exited by itself");
    const pid = Number(/pid (\d+)/.exec(out)[1]);
    await waitFor(() => !isAlive(pid), 5000, "the sidecar to exit with its host");
  });
});

describe("supervision with the real binary", () => {
  let bin;
  before(async () => {
    bin = await ensureGoBinary();
  });

  test("kill -9 while a request is in flight: the request is answered by a restarted sidecar", async () => {
    const cache = await makeTmp();
    const exits = [];
    const stderr = [];
    const sc = new m.Sidecar({
      binary: bin,
      env: { ...process.env, OPENCODE_OAUTH2_CACHE_DIR: cache, XDG_CACHE_HOME: cache },
      initializeParams: () => ({ protocolVersion: 1, interactive: false }),
      onUnexpectedExit: (r) => exits.push(r),
      onStderr: (l) => stderr.push(l),
    });
    live.push(sc);
    await sc.request("config/apply", { config: { provider: { plain: { options: { baseURL: "https://example.invalid/v1" } } } } });
    const pid1 = sc.pid;
    process.kill(pid1, "SIGSTOP"); // cannot answer
    if (process.platform === "linux") {
      // every thread stopped before the request goes out
      await waitFor(
        () => readdirSync(`/proc/${pid1}/task`).every((t) => /^\d+ \(.*\) [tT] /.test(readFileSync(`/proc/${pid1}/task/${t}/stat`, "utf8"))),
        5000,
        "the sidecar to stop",
      );
    }
    const pending = sc.request("headers/get", { providerID: "plain", modelID: "x" });
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid1, "SIGKILL");
    assert.deepEqual(await pending, { headers: {} });
    const diag = JSON.stringify({ pid1, pid: sc.pid, spawns: sc.spawnCount, exits, stderr: stderr.slice(-8) }, null, 1);
    assert.ok(sc.pid !== undefined && sc.pid !== pid1, diag);
    assert.equal(sc.spawnCount, 2);
    await waitFor(() => !isAlive(pid1), 3000, "killed sidecar gone");
  });

  test("dispose stops the real sidecar", async () => {
    const cache = await makeTmp();
    const sc = new m.Sidecar({
      binary: bin,
      env: { ...process.env, OPENCODE_OAUTH2_CACHE_DIR: cache, XDG_CACHE_HOME: cache },
      initializeParams: () => ({ protocolVersion: 1, interactive: false }),
    });
    await sc.request("config/apply", { config: {} });
    const pid = sc.pid;
    const t0 = Date.now();
    await sc.dispose();
    assert.ok(Date.now() - t0 < 3000, `dispose took ${Date.now() - t0} ms`);
    assert.equal(isAlive(pid), false);
  });
});
