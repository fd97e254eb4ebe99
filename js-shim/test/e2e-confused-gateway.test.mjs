// End to end, a confused or hostile gateway (the test gateway's hostile modes, behind
// a client_credentials provider) against the REAL OpenCode 1.18.33 and 2.1.2 with the
// built plugin and sidecar, and the real authorization server counting token requests:
//   challenge-200   a good answer that also says WWW-Authenticate: Bearer error="invalid_token"
//   json-error-200  an error body with status 200
//   401-forever     every token refused
// `opencode run` must end within its deadline with the answer or an error, and the
// authorization server must see a bounded number of token requests: the first one,
// plus at most the renewal budget (3 per minute) when the gateway answers 401, none
// after anything else (RFC 6750: a refusal is a 401). A 5xx with the challenge is not
// run here: both OpenCodes retry a 5xx for over a minute by themselves; that the plugin
// does not renew on it is refusal.test.mjs's.
//
// The build outputs must exist (`task test:shim` builds them).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const RUN_TIMEOUT_MS = 150_000;
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 60_000;
const RENEWAL_BUDGET = 3;

let as;
let gw;
let pluginDir;

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode", "opencode2"]);
  as = await stack.startAuthServer();
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1"] });
  // OpenCode 2 takes a local plugin as a directory with an index.js at its root.
  pluginDir = await stack.pluginDir();
});
after(() => stack.stop());

async function hostile(mode) {
  const res = await fetch(`${gw.url}/_test/hostile`, { method: "POST", body: JSON.stringify({ mode }) });
  assert.equal(res.status, 204, `the gateway took mode ${mode}`);
}

async function isolated(host) {
  const provider = { name: "Corp", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials" } } };
  const config = { provider: { corp: provider } };
  return host === 2
    ? stack.isolatedOpenCode({ opencodeBin: stack.paths.opencode2, pluginSpec: pluginDir, config })
    : stack.isolatedOpenCode({ config });
}

const cases = [
  // mode, the answer expected on stdout (or null: an error), the most token requests
  ["challenge-200", /Hello from the OAuth gateway, cc-basic!/, 1],
  ["json-error-200", null, 1],
  ["401-forever", null, 1 + RENEWAL_BUDGET],
];

for (const host of [1, 2]) {
  describe(`OpenCode ${host === 2 ? "2.1.2" : "1.18.33"} and a confused gateway`, () => {
    for (const [mode, answer, maxTokens] of cases) {
      test(`${mode}: opencode run ends, with ${answer ? "the answer" : "an error"}, after at most ${maxTokens} token request(s)`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const oc = await isolated(host);
        try {
          await hostile(mode);
          await as.resetStats();
          const args = ["run", ...(host === 2 ? ["--standalone"] : []), "--model", "corp/m1", "hello"];
          const r = await oc.run(args, { timeoutMs: RUN_TIMEOUT_MS });
          const stats = await as.stats();
          console.log(`# ${mode} (OpenCode ${host}): exit ${r.code} in ${(r.ms / 1000).toFixed(1)} s, ${stats.total ?? 0} token request(s)`);
          const shown = `exit ${r.code}\nstdout:\n${r.stdout.slice(-2000)}\nstderr:\n${r.stderr.slice(-2000)}`;
          if (answer) {
            assert.equal(r.code, 0, shown);
            assert.match(r.stdout, answer, shown);
          } else {
            assert.notEqual(r.code, 0, shown);
            assert.ok(!/Hello from the OAuth gateway/.test(r.stdout), shown);
          }
          if (mode === "json-error-200") assert.match(r.stdout + r.stderr, /the gateway answered HTTP 200 with an error/, shown);
          assert.ok((stats.total ?? 0) >= 1, "the token was fetched");
          assert.ok((stats.total ?? 0) <= maxTokens, `token requests: ${stats.total}, at most ${maxTokens} expected\n${shown}`);
        } finally {
          await hostile("");
          await oc.stop();
        }
      });
    }
  });
}
