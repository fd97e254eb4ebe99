// End to end, a big catalog: a gateway listing 5,000 models, behind a client_credentials
// provider with no maxModels set, is listed whole by the REAL OpenCode 1.18.33 and 2.1.2
// (the hostile catalogs, hundreds of thousands of models, are e2e-hostile.test.mjs's and
// TestOneGatewayCannotRemoveEveryProvider's).
//
// The build outputs must exist (`task test:shim` builds them).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const MODELS = 5000;
const RUN_TIMEOUT_MS = 120_000;

let as;
let gw;
let pluginDir;

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode", "opencode2"]);
  as = await stack.startAuthServer();
  gw = await stack.startGateway({ issuer: as.issuer, models: MODELS });
  pluginDir = await stack.pluginDir();
});
after(() => stack.stop());

for (const host of [1, 2]) {
  test(`OpenCode ${host === 2 ? "2.1.2" : "1.18.33"} lists all ${MODELS} models of a gateway, with no maxModels set`, { timeout: 3 * RUN_TIMEOUT_MS }, async () => {
    const config = {
      provider: { big: { name: "Big", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials" } } } },
    };
    const oc = host === 2
      ? await stack.isolatedOpenCode({ opencodeBin: stack.paths.opencode2, pluginSpec: pluginDir, config })
      : await stack.isolatedOpenCode({ config });
    try {
      const r = await oc.run(["models", ...(host === 2 ? ["--standalone"] : [])], { timeoutMs: RUN_TIMEOUT_MS });
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      const listed = r.stdout.split("\n").filter((l) => l.startsWith("big/"));
      assert.equal(listed.length, MODELS, `listed ${listed.length}; stderr:\n${r.stderr.slice(-2000)}`);
      assert.equal(new Set(listed).size, MODELS, "no model twice");
    } finally {
      await oc.stop();
    }
  });
}
