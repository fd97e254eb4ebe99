// The plugin (src/index.ts) with the REAL sidecar (bin/opencode-oauth2): which provider
// entries get the repairing fetch of src/responses-repair.ts. Both config shapes
// (provider oauth2 block, pluginConfig servers) are given to the config hook directly:
// OpenCode 1.18.33 itself drops `pluginConfig` before the hook, so the end-to-end test
// (e2e-responses.test.mjs) can only cover shape 1.

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, afterEach, before, describe, test } from "node:test";
import { bundle } from "../build.mjs";
import { cleanupTmp, ensureGoBinary, makeTmp } from "../test-support/helpers.mjs";

let plugin;
let binary;
const savedEnv = { ...process.env };
const savedFetch = globalThis.fetch;
const disposers = [];

before(async () => {
  const dir = await makeTmp();
  const out = await bundle("src/index.ts", join(dir, "index.mjs"));
  plugin = (await import(pathToFileURL(out).href)).default;
  binary = await ensureGoBinary();
});
afterEach(async () => {
  while (disposers.length > 0) await disposers.pop()();
  globalThis.fetch = savedFetch;
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
});
after(cleanupTmp);

const BASE = "http://127.0.0.1:9/v1"; // nothing listens: no token, no models at start-up
const oauth2 = (extra = {}) => ({
  issuer: "http://127.0.0.1:9",
  clientId: "c",
  clientSecret: "not-a-real-secret",
  authFlow: "client_credentials",
  tokenEndpoint: "http://127.0.0.1:9/token",
  ...extra,
});

/** An index-less Responses stream: one message item with one delta. */
function brokenStream() {
  const events = [
    { type: "response.output_item.added", item: { id: "msg_1", type: "message", role: "assistant", content: [] } },
    { type: "response.content_part.added", item_id: "msg_1", part: { type: "output_text", text: "" } },
    { type: "response.output_text.delta", item_id: "msg_1", delta: "hi" },
  ];
  return new Response(events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(""), {
    headers: { "content-type": "text/event-stream" },
  });
}

const indicesOf = (text) =>
  text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => JSON.parse(l.slice(6)))
    .map((e) => [e.output_index, e.content_index]);

async function configHook(cfg) {
  const state = await makeTmp();
  Object.assign(process.env, { OPENCODE_OAUTH2_BINARY: binary, OPENCODE_OAUTH2_CACHE_DIR: state, OPENCODE_OAUTH2_INTERACTIVE: "0" });
  const logs = [];
  const client = { app: { log: async ({ body }) => (logs.push(body), { data: true }) }, tui: { showToast: async () => ({ data: true }) } };
  const hooks = await plugin.server({ client, directory: state, worktree: state });
  disposers.push(() => hooks.dispose());
  await hooks.config(cfg);
  return logs;
}

describe("the config hook gives Responses API providers the repairing fetch", () => {
  test("managed responseApi providers of both shapes get it; others do not; an earlier plugin's fetch is wrapped", async () => {
    const earlierCalls = [];
    const earlierFetch = async (input, init) => {
      earlierCalls.push([String(input), init?.method]);
      return brokenStream();
    };
    const plain = { npm: "@ai-sdk/openai", options: { baseURL: BASE, apiKey: "k" } };
    const cfg = {
      provider: {
        shape1: { options: { baseURL: BASE, oauth2: oauth2({ responseApi: true }) } },
        wrapped: { options: { baseURL: BASE, fetch: earlierFetch, oauth2: oauth2({ responseApi: true }) } },
        compat: { options: { baseURL: BASE, oauth2: oauth2() } },
        plain,
      },
      pluginConfig: { oauth2ModelSync: { servers: [{ id: "shape2", baseURL: BASE, ...oauth2({ responseApi: true }) }] } },
    };
    const logs = await configHook(cfg);
    const p = cfg.provider;
    assert.deepEqual(logs.filter((l) => l.level !== "error" && l.level !== "warn"), [], "a start with nothing wrong logs nothing into OpenCode");
    for (const id of ["shape1", "shape2", "wrapped", "compat"]) assert.ok(p[id]?.npm, `${id} is registered`);

    for (const id of ["shape1", "shape2", "wrapped"]) {
      assert.equal(p[id].npm, "@ai-sdk/openai", id);
      assert.equal(p[id].options.apiKey, "oauth2-managed-bearer", id);
      assert.equal(typeof p[id].options.fetch, "function", `${id} has the repairing fetch`);
      assert.equal(p[id].options.baseURL, BASE);
    }
    assert.notEqual(p.wrapped.options.fetch, earlierFetch);
    assert.equal(p.compat.npm, "@ai-sdk/openai-compatible");
    assert.equal(typeof p.compat.options.fetch, "function", "chat-completions providers get the refused-token retry only");
    assert.equal(p.plain, plain, "a provider the plugin does not manage is not touched");
    assert.equal(plain.options.fetch, undefined);

    // The wrapped fetch goes through the earlier plugin's fetch, then repairs.
    const res = await p.wrapped.options.fetch(`${BASE}/responses`, { method: "POST" });
    assert.deepEqual(earlierCalls, [[`${BASE}/responses`, "POST"]]);
    assert.deepEqual(indicesOf(await res.text()), [
      [0, undefined],
      [0, 0],
      [0, 0],
    ]);

    // Without an earlier fetch: globalThis.fetch at call time.
    let globalCalls = 0;
    globalThis.fetch = async () => (globalCalls++, brokenStream());
    for (const id of ["shape1", "shape2"]) {
      const r = await p[id].options.fetch(`${BASE}/responses`, { method: "POST" });
      assert.deepEqual(indicesOf(await r.text())[2], [0, 0], id);
    }
    assert.equal(globalCalls, 2);
  });
});
