// Replays protocol/examples/*.json against the REAL sidecar binary through
// the shim's own framing code, with protocol.md's matching rules.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanupTmp, ensureGoBinary, importSrc, makeTmp, matchExpect, repoRoot } from "../test-support/helpers.mjs";

const examplesDir = join(repoRoot, "protocol", "examples");
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(join(examplesDir, f), "utf8")) }));

let m;
let bin;
before(async () => {
  m = await importSrc("framing");
  bin = await ensureGoBinary();
});
after(cleanupTmp);

/** A raw framed session with a child: send() a message, next() the next message. */
function session(child) {
  const decoder = new m.FrameDecoder();
  const queue = [];
  const waiters = [];
  let ended = null;
  child.stdout.on("data", (chunk) => {
    for (const body of decoder.push(chunk)) {
      const msg = JSON.parse(body);
      const w = waiters.shift();
      if (w) w.resolve(msg);
      else queue.push(msg);
    }
  });
  child.on("exit", (code, signal) => {
    ended = `sidecar exited (${code ?? signal})`;
    for (const w of waiters.splice(0)) w.reject(new Error(ended));
  });
  return {
    send: (msg) => child.stdin.write(m.encodeFrame(msg)),
    next: (timeoutMs = 10_000) =>
      queue.length > 0
        ? Promise.resolve(queue.shift())
        : ended
          ? Promise.reject(new Error(ended))
          : new Promise((resolve, reject) => {
              const t = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
              waiters.push({
                resolve: (v) => (clearTimeout(t), resolve(v)),
                reject: (e) => (clearTimeout(t), reject(e)),
              });
            }),
  };
}

async function materializeEnv(env) {
  const out = {};
  for (const [k, v] of Object.entries(env ?? {})) out[k] = v === "<tmpdir>" ? await makeTmp("oc-oauth2-proto-") : v;
  return out;
}

test("helper: matchExpect follows protocol.md", () => {
  assert.deepEqual(matchExpect({ a: 1 }, { a: 1, b: 2 }), []);
  assert.deepEqual(matchExpect({ a: "<any>" }, { a: [1] }), []);
  assert.deepEqual(matchExpect({ a: "<string>" }, { a: "x" }), []);
  assert.notDeepEqual(matchExpect({ a: "<string>" }, { a: 1 }), []);
  assert.notDeepEqual(matchExpect({ a: "<any>" }, {}), []);
  assert.notDeepEqual(matchExpect([1], [1, 2]), []);
  assert.deepEqual(matchExpect([{ a: 1 }], [{ a: 1, b: 0 }]), []);
  assert.notDeepEqual(matchExpect({ r: null }, { r: {} }), []);
  assert.deepEqual(matchExpect({ r: null }, { r: null }), []);
  assert.notDeepEqual(matchExpect({ h: {} }, { h: [] }), []);
});

describe("protocol examples against the real sidecar", () => {
  assert.ok(examples.length > 0, "no examples found");
  for (const ex of examples) {
    test(`${ex.file}: ${ex.description}`, async () => {
      const env = { ...process.env, ...(await materializeEnv(ex.env)) };
      if (!("OPENCODE_OAUTH2_CACHE_DIR" in (ex.env ?? {}))) env.OPENCODE_OAUTH2_CACHE_DIR = await makeTmp("oc-oauth2-proto-");
      const child = spawn(bin, ["serve"], { stdio: ["pipe", "pipe", "pipe"], env });
      let stderr = "";
      child.stderr.on("data", (c) => (stderr += c));
      const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      try {
        const s = session(child);
        for (const [i, x] of ex.exchanges.entries()) {
          s.send(x.send);
          if (x.expect === undefined) continue;
          // Skip notifications the sidecar may send (log, ...) until the answer.
          let msg;
          do msg = await s.next();
          while (msg.id === undefined && msg.method !== undefined);
          const problems = matchExpect(x.expect, msg);
          assert.deepEqual(problems, [], `exchange ${i} (${x.send.method}): ${JSON.stringify(msg)}\nstderr: ${stderr}`);
        }
        child.stdin.end();
        const code = await new Promise((resolve) => {
          if (child.exitCode !== null) resolve(child.exitCode);
          else child.on("exit", (c) => resolve(c));
        });
        assert.equal(code, 0, `the sidecar exits 0 on EOF; stderr: ${stderr}`);
      } finally {
        clearTimeout(killer);
        child.kill("SIGKILL");
      }
    });
  }
});
