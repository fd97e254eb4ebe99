// End to end, gateways that take the token in another header: a test gateway that
// accepts the token only in `cf-aig-authorization: Bearer <token>` (Cloudflare AI
// Gateway) and one only in `x-portkey-api-key: <token>` (Portkey), each behind a
// client_credentials provider with tokenHeader and tokenScheme, in the REAL OpenCode
// 1.18.33 and 2.1.2: the models are listed (the sidecar's model sync uses the header
// too), `opencode run` answers, and after the gateway revokes every token it accepted
// the next run still answers, with exactly one more token request.
//
// The build outputs must exist (`task test:shim` builds them).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const RUN_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 3 * RUN_TIMEOUT_MS;

let as;
let pluginDir;
const gateways = {};

const kinds = {
  cloudflare: { tokenHeader: "cf-aig-authorization", tokenScheme: "Bearer" },
  portkey: { tokenHeader: "x-portkey-api-key", tokenScheme: "" },
};

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode", "opencode2"]);
  as = await stack.startAuthServer();
  for (const [name, k] of Object.entries(kinds)) gateways[name] = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1"], ...k });
  pluginDir = await stack.pluginDir();
});
after(() => stack.stop());

for (const host of [1, 2]) {
  describe(`OpenCode ${host === 2 ? "2.1.2" : "1.18.33"}, the token in the header the gateway wants`, () => {
    for (const [name, k] of Object.entries(kinds)) {
      test(`${name} (${k.tokenHeader}${k.tokenScheme ? ` ${k.tokenScheme}` : ", no scheme"}): models listed, run answers, a revoked token recovers once`, { timeout: TEST_TIMEOUT_MS }, async () => {
        const gw = gateways[name];
        const config = {
          provider: {
            [name]: { name, options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials", ...k } } },
          },
        };
        const oc = host === 2
          ? await stack.isolatedOpenCode({ opencodeBin: stack.paths.opencode2, pluginSpec: pluginDir, config })
          : await stack.isolatedOpenCode({ config });
        const flag = host === 2 ? ["--standalone"] : [];
        try {
          const models = await oc.run(["models", ...flag], { timeoutMs: RUN_TIMEOUT_MS });
          assert.match(models.stdout, new RegExp(`^${name}/m1$`, "m"), models.stdout + models.stderr);
          const first = await oc.run(["run", ...flag, "--model", `${name}/m1`, "hello"], { timeoutMs: RUN_TIMEOUT_MS });
          assert.match(first.stdout, /Hello from the OAuth gateway, cc-basic!/, first.stdout + first.stderr);

          const revoked = await fetch(`${gw.url}/_test/revoke`, { method: "POST" });
          assert.equal(revoked.status, 204);
          await as.resetStats();
          const before = await gw.stats();
          const again = await oc.run(["run", ...flag, "--model", `${name}/m1`, "hello"], { timeoutMs: RUN_TIMEOUT_MS });
          assert.match(again.stdout, /Hello from the OAuth gateway, cc-basic!/, again.stdout + again.stderr);
          const stats = await as.stats();
          assert.equal(stats.total, 1, `one renewal: ${JSON.stringify(stats)}`);
          assert.ok((await gw.stats()).revoked > before.revoked, "the gateway refused the revoked token first");
        } finally {
          await oc.stop();
        }
      });
    }
  });
}
