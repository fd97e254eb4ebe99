// End to end, tokenStorage "memory" (CI, containers): the REAL OpenCode 1.18.33 answers
// through the gateway, and nothing is written with the token: no cache file of the
// provider, and no file of the isolated home holding a token (a JWT) at all.
//
// The build outputs must exist (`task test:shim` builds them).

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

let as;
let gw;
before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode"]);
  as = await stack.startAuthServer();
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["m1"] });
});
after(() => stack.stop());

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    return d.isDirectory() ? files(p) : d.isFile() ? [p] : [];
  });
}

test("tokenStorage memory: OpenCode answers, and no token is written anywhere", { timeout: 180_000 }, async () => {
  const oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        mem: { name: "Mem", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials", tokenStorage: "memory" } } },
      },
    },
  });
  const run = await oc.run(["run", "--model", "mem/m1", "hello"], { timeoutMs: 120_000 });
  assert.match(run.stdout, /Hello from the OAuth gateway, cc-basic!/, run.stdout + run.stderr);
  const cached = files(oc.dirs.oauth2Cache).filter((f) => f.split("/").pop().startsWith("mem-"));
  assert.deepEqual(cached, [], "no cache file of the provider");
  for (const f of files(oc.dirs.root)) {
    if (statSync(f).size > 32 << 20) continue;
    assert.doesNotMatch(readFileSync(f, "latin1"), /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, `${f} holds a token`);
  }
  await oc.stop();
});
