// End to end, Responses API mode (issue 11): the REAL OpenCode (node_modules/opencode-ai)
// with the built plugin (js-shim/dist/index.js) and the real sidecar
// (bin/opencode-oauth2), against the test gateway's POST /v1/responses (bin/test-gateway)
// streaming events WITHOUT output_index / content_index / summary_index, as some
// gateways (Envoy AI Gateway) do.
//
//   - A managed provider with `responseApi: true` answers: the plugin's repairing
//     fetch (src/responses-repair.ts) restores the indices. (Only config shape 1, the
//     provider's oauth2 block: OpenCode 1.18.33 drops a top-level `pluginConfig` before
//     the config hook, so shape 2 never reaches a plugin from opencode.json;
//     responses-plugin.test.mjs gives both shapes to the hook directly.)
//   - The same stream through a plain @ai-sdk/openai provider (not managed by the
//     plugin, so not repaired; a bearer minted here as its apiKey) fails the way
//     OpenCode 1.18 fails on such gateways: `Error: "text part msg_... not found"`.
//   - With conformant events both work, so the failure is the missing indices.
//
// The gateway logs the shape of every /v1/responses request (never headers or text);
// the tests check what @ai-sdk/openai sends: a streamed POST /v1/responses.
// The build outputs must exist (`task test:shim` builds them); this file never builds
// the plugin or the sidecar. examples/test-stack/harness.mjs builds bin/test-gateway when it
// is missing or stale.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const MODEL = "e2e-model";
const REASONER = "e2e-reasoner";
const RUN_TIMEOUT_MS = 120_000; // hard deadline of one OpenCode run (the harness kills it)
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 30_000;
const GREETING = (who) => `Hello from the OAuth gateway, ${who}!`;

let as;
let gw;
let oc;
let rawToken;

const models = {
  [MODEL]: { name: "E2E Model" },
  // OpenCode asks @ai-sdk/openai for reasoning (reasoning: {effort, summary}) for
  // such a model; the gateway then streams a reasoning item with a summary first.
  [REASONER]: { name: "E2E Reasoner", reasoning: true, options: { reasoningEffort: "low", reasoningSummary: "auto" } },
};

async function setOmitIndices(omit) {
  const res = await fetch(`${gw.url}/_test/responses`, {
    method: "POST",
    body: JSON.stringify({ omitIndices: omit }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.deepEqual(await res.json(), { omitIndices: omit });
}

/** A gateway access token from the authorization server (client_credentials, cc-basic). */
async function mintAccessToken() {
  const { clientId, clientSecret } = stack.clients.ccBasic;
  const res = await fetch(as.tokenEndpoint, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "grant_type=client_credentials",
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, "token endpoint");
  return (await res.json()).access_token;
}

before(async () => {
  try {
    stack.requireBuilt(["shim", "sidecar", "opencode"]);
  } catch (e) {
    throw new Error(`${e.message}\nBuild first: go run github.com/go-task/task/v3/cmd/task@v3.54.0 build (task test:shim does it).`);
  }
  as = await stack.startAuthServer({ ACCESS_TOKEN_TTL: "1800" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: [MODEL, REASONER], chunkDelay: "5ms" });
  rawToken = await mintAccessToken();
  const { ccBasic } = stack.clients;
  oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        // Shape 1: the provider's own oauth2 block.
        "resp-gw": {
          name: "Responses gateway",
          models,
          options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...ccBasic, authFlow: "client_credentials", responseApi: true } },
        },
        // Not managed: plain @ai-sdk/openai with a bearer as its apiKey, no repair.
        "raw-gw": { name: "Plain @ai-sdk/openai", npm: "@ai-sdk/openai", models, options: { baseURL: gw.baseURL, apiKey: rawToken } },
      },
    },
  });
});

after(async () => {
  await stack.stop();
});

function assertNoSecrets(text) {
  assert.ok(!text.includes(stack.clients.ccBasic.clientSecret), "the cc-basic secret reached OpenCode's output or log");
}

/** opencode run --model <provider>/<model> "say hi" [extra args]; `log` is OpenCode's log of the run (--print-logs). */
async function sayHi(providerID, model = MODEL, extra = []) {
  await gw.resetStats();
  const args = ["run", ...extra, "--model", `${providerID}/${model}`, "say hi"];
  const run = await oc.run(args, { timeoutMs: RUN_TIMEOUT_MS, printLogs: true });
  console.log(`# opencode ${args.join(" ")}: exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s`);
  const show = `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`;
  return { ...run, show, stats: await gw.stats() };
}

/** The gateway saw only streamed Responses API requests (title and answer), all authorized. */
function assertStreamedResponsesRequests(run, model) {
  const s = run.stats;
  assert.ok(s.responses_requests >= 1, `no /v1/responses request: ${JSON.stringify(s)}`);
  assert.equal(s.chat_requests, 0, "no /v1/chat/completions request");
  assert.equal(s.stream_requests, s.responses_requests, "every /v1/responses request streamed");
  assert.equal(s.unauthorized, 0, JSON.stringify(s));
  assert.match(s.last_responses_request, new RegExp(`^model=${model} stream=true keys=\\[[a-z_,]*\\binput\\b[a-z_,]*\\]`), s.last_responses_request);
  assert.match(gw.stderr(), new RegExp(`POST /v1/responses: model=${model} stream=true `));
}

describe("Responses API mode through the real OpenCode", () => {
  describe("gateway streams without output_index / content_index / summary_index", () => {
    before(() => setOmitIndices(true));

    test("a managed provider with responseApi: true: opencode run prints the answer", { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await sayHi("resp-gw");
      assert.equal(run.code, 0, run.show);
      assert.match(run.stdout, new RegExp(`^${GREETING("cc-basic")}$`, "m"), run.show);
      assert.doesNotMatch(`${run.stdout}\n${run.stderr}`, /not found/);
      assertStreamedResponsesRequests(run, MODEL);
      assert.equal(run.stats.last_subject, "cc-basic");
      assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}`);
    });

    test("a reasoning model: the reasoning summary and the answer both come through", { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await sayHi("resp-gw", REASONER, ["--thinking"]);
      assert.equal(run.code, 0, run.show);
      assert.match(run.stdout, /Greeting the user/, run.show);
      assert.match(run.stdout, /The user says hello; answer with a greeting\./, run.show);
      assert.match(run.stdout, new RegExp(`^${GREETING("cc-basic")}$`, "m"), run.show);
      assertStreamedResponsesRequests(run, REASONER);
      assert.match(run.stats.last_responses_request, /reasoning=\{effort="low" summary="auto"\}/);
    });

    test('without the repair (plain @ai-sdk/openai) the same stream fails: Error: "text part <id> not found"', { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await sayHi("raw-gw");
      const output = `${run.stdout}\n${run.stderr}`;
      assert.notEqual(run.code, 0, run.show);
      assert.doesNotMatch(run.stdout, /Hello from the OAuth gateway/);
      const line = output.split("\n").find((l) => /text part \S+ not found/.test(l));
      assert.ok(line, `no "text part ... not found" in the output:\n${run.show}`);
      // What the person at the terminal sees (colour codes removed):
      console.log(`# OpenCode prints: ${line.replace(/\u001b\[[0-9;]*m/g, "")}`);
      assert.match(line, /text part msg_[0-9a-f]+ not found/);
      assertStreamedResponsesRequests(run, MODEL);
      assert.ok(!output.includes(rawToken), "the bearer is not printed");
    });
  });

  describe("gateway streams conformant events", () => {
    before(() => setOmitIndices(false));

    test("plain @ai-sdk/openai answers (so the failure above is the missing indices)", { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await sayHi("raw-gw");
      assert.equal(run.code, 0, run.show);
      assert.match(run.stdout, new RegExp(`^${GREETING("cc-basic")}$`, "m"), run.show);
      assertStreamedResponsesRequests(run, MODEL);
    });

    test("the repaired provider answers the same (the repair passes conformant streams through)", { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await sayHi("resp-gw", REASONER, ["--thinking"]);
      assert.equal(run.code, 0, run.show);
      assert.match(run.stdout, /The user says hello; answer with a greeting\./, run.show);
      assert.match(run.stdout, new RegExp(`^${GREETING("cc-basic")}$`, "m"), run.show);
      assertStreamedResponsesRequests(run, REASONER);
    });
  });
});
