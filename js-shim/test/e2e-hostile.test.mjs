// End to end, hostile gateways (issue 16, items 3, 5 and 6): the REAL OpenCode
// (node_modules/opencode-ai) with the built plugin and sidecar, the real authorization
// server and three test gateways (bin/test-gateway), each behind one client_credentials
// provider:
//   hostile-gw lists ids that crashed `opencode models` (Object.prototype names) or
//              would rewrite the terminal (escape sequences, BEL, CR, NUL, bidi overrides),
//   huge-gw    lists 60,000 models with long ids (7.8 MB: under the 8 MiB fetch bound;
//              maxModels keeps the first 20,000;
//              as OpenCode model entries about twice the 4 MiB frame of config/apply),
//   normal-gw  lists two ordinary models.
// `opencode models` must succeed, list the normal provider's models (and the hostile
// gateway's one good id), and print no control byte at all.
//
// The build outputs must exist (`task test:shim` builds them); this file never builds
// the plugin or the sidecar.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const RUN_TIMEOUT_MS = 180_000;
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS * 2 + 30_000;
const HOSTILE_IDS = [
  "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf",
  "evil\u001b]0;pwned\u0007", "\u001b[2J\u001b[Hclear", "bell\u0007", "cr\roverwrite", "nul\u0000",
  "line\nbreak", "c1\u009b31m", "rlo\u202egpt", "lri\u2066x\u2069",
];
const GOOD_HOSTILE = "still-fine-model";
const NORMAL = ["normal-model-a", "normal-model-b"];

let as;
let oc;

before(async () => {
  try {
    stack.requireBuilt(["shim", "sidecar", "opencode"]);
  } catch (e) {
    throw new Error(`${e.message}\nBuild first: go run github.com/go-task/task/v3/cmd/task@v3.54.0 build (task test:shim does it).`);
  }
  as = await stack.startAuthServer();
  const dir = await stack.makeTmp("oc-oauth2-e2e-hostile-");
  const hostileFile = join(dir, "hostile.json");
  await writeFile(hostileFile, JSON.stringify([...HOSTILE_IDS, GOOD_HOSTILE]));
  const hugeFile = join(dir, "huge.json");
  await writeFile(hugeFile, JSON.stringify(Array.from({ length: 60_000 }, (_, i) => `huge-model-${String(i).padStart(45, "0")}`)));
  const [hostile, huge, normal] = await Promise.all([
    stack.startGateway({ issuer: as.issuer, modelIdsFile: hostileFile }),
    stack.startGateway({ issuer: as.issuer, modelIdsFile: hugeFile }),
    stack.startGateway({ issuer: as.issuer, modelIds: NORMAL }),
  ]);
  const provider = (name, gw) => ({
    name,
    options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, ...stack.clients.ccBasic, authFlow: "client_credentials" } },
  });
  oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        "hostile-gw": provider("Hostile ids", hostile),
        "huge-gw": provider("Huge list", huge),
        "normal-gw": provider("Normal", normal),
      },
    },
  });
}, { timeout: 360_000 });

after(async () => {
  await stack.stop();
}, { timeout: 30_000 });

// Control bytes: C0 but tab and line feed, DEL, C1, and the bidirectional controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

function assertNoControlByte(what, text) {
  const m = CONTROL.exec(text);
  assert.equal(m, null, m ? `${what} holds U+${m[0].codePointAt(0).toString(16).padStart(4, "0")} near ${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 40))}` : "");
}

describe("hostile gateways through the real OpenCode", () => {
  test("opencode models lists the normal provider's models and prints no control byte", { timeout: TEST_TIMEOUT_MS }, async () => {
    // The first start lists the models within the start-up budget (or in the
    // background); the second start serves the cached lists. Both must hold.
    for (const round of ["first start", "cached lists"]) {
      const run = await oc.run(["models"], { timeoutMs: RUN_TIMEOUT_MS, printLogs: true });
      const log = run.log;
      console.log(`# opencode models (${round}): exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s`);
      assert.equal(run.code, 0, `${round}: exit code; stderr:\n${run.stderr.slice(-4000)}\nlog (tail):\n${log.slice(-4000)}`);
      const lines = run.stdout.split("\n");
      for (const id of NORMAL) assert.ok(lines.includes(`normal-gw/${id}`), `${round}: normal-gw/${id} is listed:\n${run.stdout.slice(0, 4000)}`);
      assertNoControlByte(`${round}: stdout`, run.stdout);
      assertNoControlByte(`${round}: stderr`, run.stderr);
      for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
        assert.ok(!lines.includes(`hostile-gw/${name}`), `${round}: hostile-gw/${name} must not be listed`);
      }
      const huge = lines.filter((l) => l.startsWith("huge-gw/")).length;
      assert.ok(huge <= 20_000, `${round}: huge-gw contributes at most maxModels (20,000) models, listed ${huge}`);
      if (round === "cached lists") {
        assert.ok(lines.includes(`hostile-gw/${GOOD_HOSTILE}`), `the hostile gateway's good id is kept:\n${lines.filter((l) => l.startsWith("hostile-gw/")).join("\n")}`);
        assert.equal(huge, 20_000, "the huge gateway's first 20,000 models are listed from the cache");
      }
    }
  });
});
