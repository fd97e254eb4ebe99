// End to end, machine grants (issue 3): the REAL OpenCode (node_modules/opencode-ai)
// loads the built plugin (js-shim/dist/index.js, by file:// URL) and the real sidecar
// (bin/opencode-oauth2); the real authorization server (examples/test-stack/authserver.mjs)
// issues the tokens and the test gateway (bin/test-gateway) accepts only those.
//
// The gateway greets the `sub` of the bearer token it received, so an answer naming
// the expected subject proves the bearer came from that provider's flow:
//   client_credentials → the client id, jwt_bearer / token_exchange → the subject of the
//   external token (minted here with keys/external.json).
//
// One authorization server, one gateway and one isolated OpenCode home with every
// provider are shared by the tests; each test is one `opencode run` with a deadline.
// The build outputs must exist (`task test:shim` builds them); this file never builds
// the plugin or the sidecar. examples/test-stack/harness.mjs builds bin/test-gateway when it
// is missing.

import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const MODEL = "e2e-model";
const RUN_TIMEOUT_MS = 120_000; // hard deadline of one OpenCode run (the harness kills it)
const NOT_A_HANG_MS = 90_000; // the wrong-secret run must fail well before that
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 30_000;
const WRONG_SECRET = "wrong-secret-e2e-canary-5c1f9a";
const JWT_SUBJECT = "ci-job-e2e-jwt";
const EXCHANGE_SUBJECT = "workload-e2e-exchange";
const SUBJECT_ENV = "E2E_EXCHANGE_SUBJECT_TOKEN";

let as;
let gw;
let oc;
const subjectTokens = {};

function provider(name, oauth2) {
  return {
    name,
    models: { [MODEL]: { name: "E2E Model" } },
    options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...oauth2 } },
  };
}

// Generous: the harness may have to build bin/test-gateway (bounded at 300 s itself).
before(async () => {
  try {
    stack.requireBuilt(["shim", "sidecar", "opencode"]);
  } catch (e) {
    throw new Error(`${e.message}\nBuild first: go run github.com/go-task/task/v3/cmd/task@v3.54.0 build (task test:shim does it).`);
  }
  as = await stack.startAuthServer();
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: [MODEL], chunkDelay: "5ms" });

  subjectTokens.jwt = await stack.mintSubjectToken({ subject: JWT_SUBJECT, audience: as.issuer, ttlSeconds: 900 });
  subjectTokens.exchange = await stack.mintSubjectToken({ subject: EXCHANGE_SUBJECT, audience: as.issuer, ttlSeconds: 900 });
  const secrets = await stack.makeTmp("oc-oauth2-e2e-subject-");
  const subjectFile = join(secrets, "subject.jwt");
  await writeFile(subjectFile, `${subjectTokens.jwt}\n`, { mode: 0o600 });
  await chmod(subjectFile, 0o600);

  const { ccBasic, ccPost, exchange } = stack.clients;
  oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        "cc-basic-gw": provider("Client credentials, basic", { ...ccBasic, authFlow: "client_credentials", scopes: ["api:read"] }),
        "cc-post-gw": provider("Client credentials, post", { ...ccPost, authFlow: "client_credentials" }),
        "jwt-bearer-gw": provider("JWT bearer from a file", {
          ...exchange,
          authFlow: "jwt_bearer",
          subjectTokenSource: { type: "file", path: subjectFile },
        }),
        "token-exchange-gw": provider("Token exchange from the environment", {
          ...exchange,
          authFlow: "token_exchange",
          subjectTokenSource: { type: "env", var: SUBJECT_ENV },
        }),
        "bad-secret-gw": provider("Wrong client secret", {
          clientId: ccBasic.clientId,
          clientSecret: WRONG_SECRET,
          authFlow: "client_credentials",
        }),
      },
    },
    env: { [SUBJECT_ENV]: subjectTokens.exchange },
  });
}, { timeout: 360_000 });

after(async () => {
  await stack.stop();
}, { timeout: 30_000 });


function assertNoSecrets(text) {
  const secrets = {
    "cc-basic secret": stack.clients.ccBasic.clientSecret,
    "cc-post secret": stack.clients.ccPost.clientSecret,
    "exchange-client secret": stack.clients.exchange.clientSecret,
    "wrong secret": WRONG_SECRET,
    "jwt-bearer subject token": subjectTokens.jwt,
    "token-exchange subject token": subjectTokens.exchange,
  };
  for (const [what, value] of Object.entries(secrets)) assert.ok(!text.includes(value), `the ${what} reached OpenCode's output or log`);
}

async function assertNothingLeftRunning() {
  const deadline = Date.now() + 10_000;
  while (oc.processes().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(oc.processes(), [], "no OpenCode or sidecar process outlives the run");
}

/** opencode run --model <providerID>/MODEL "say hi"; `log` is OpenCode's log of the run (--print-logs). */
async function sayHi(providerID) {
  const run = await oc.run(["run", "--model", `${providerID}/${MODEL}`, "say hi"], { timeoutMs: RUN_TIMEOUT_MS, printLogs: true });
  console.log(`# opencode run --model ${providerID}/${MODEL}: exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s`);
  return run;
}

describe("machine grants through the real OpenCode", () => {
  const cases = [
    { providerID: "cc-basic-gw", grant: "client_credentials, client_secret_basic", subject: "cc-basic", clientId: "cc-basic" },
    { providerID: "cc-post-gw", grant: "client_credentials, client_secret_post", subject: "cc-post", clientId: "cc-post" },
    { providerID: "jwt-bearer-gw", grant: "jwt_bearer, subject token from a file", subject: JWT_SUBJECT, clientId: "exchange-client" },
    { providerID: "token-exchange-gw", grant: "token_exchange, subject token from an env var", subject: EXCHANGE_SUBJECT, clientId: "exchange-client" },
  ];
  for (const c of cases) {
    test(`${c.grant}: opencode run prints the gateway's answer to ${c.subject}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      await gw.resetStats();
      const run = await sayHi(c.providerID);
      assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${run.log.slice(-4000)}`);
      assert.match(run.stdout, new RegExp(`^Hello from the OAuth gateway, ${c.subject}!$`, "m"), `stdout:\n${run.stdout}`);
      const stats = await gw.stats();
      assert.equal(stats.last_subject, c.subject, `gateway stats: ${JSON.stringify(stats)}`);
      assert.equal(stats.last_client_id, c.clientId, `gateway stats: ${JSON.stringify(stats)}`);
      assert.equal(stats.unauthorized, 0, `the gateway refused a request: ${JSON.stringify(stats)}`);
      assertNoSecrets(`${run.stdout}\n${run.stderr}\n${run.log}`);
      await assertNothingLeftRunning();
    });
  }

  test("a wrong client secret fails within bounded time with a readable error naming the provider", { timeout: TEST_TIMEOUT_MS }, async () => {
    const run = await sayHi("bad-secret-gw");
    const output = `${run.stdout}\n${run.stderr}`;
    assert.notEqual(run.code, 0, `exit code; output:\n${output}`);
    assert.ok(run.ms < NOT_A_HANG_MS, `took ${run.ms} ms`);
    assert.doesNotMatch(run.stdout, /Hello from the OAuth gateway/);
    // What the person at the terminal sees (OpenCode prints the error on stderr):
    const line = output.split("\n").find((l) => l.includes('provider "bad-secret-gw"'));
    assert.ok(line, `no line naming provider "bad-secret-gw" in the output:\n${output}`);
    assert.match(line, /invalid_client/);
    assert.match(line, /clientSecret/, "the error says what to check");
    // ... and OpenCode's log of this run has it at level ERROR.
    assert.match(run.log, /level=ERROR.*bad-secret-gw.*invalid_client/, `log:\n${run.log.slice(-4000)}`);
    assertNoSecrets(`${output}\n${run.log}`);
    await assertNothingLeftRunning();
  });
});
