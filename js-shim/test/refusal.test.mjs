// src/refusal.ts: one retry after a refused token, with a scripted fetch.

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { bundle } from "../build.mjs";
import { cleanupTmp, makeTmp } from "../test-support/helpers.mjs";

let m;
before(async () => {
  const dir = await makeTmp();
  m = await import(pathToFileURL(await bundle("src/refusal.ts", join(dir, "refusal.mjs"))).href);
});
after(cleanupTmp);

/** A fetch answering from a list of [status, headers, body]; records what it was sent. */
function scripted(answers) {
  const sent = [];
  const fetch = async (input, init) => {
    sent.push({ input, authorization: new Headers(init?.headers).get("authorization"), body: init?.body });
    const [status, headers, body] = answers[Math.min(sent.length - 1, answers.length - 1)];
    return new Response(body ?? "{}", { status, headers });
  };
  return { fetch, sent };
}

function deps(renewed = "Bearer new") {
  const renewals = [];
  return {
    renewals,
    header: () => "Authorization",
    ours: (id, v) => id === "gw" && (v === "Bearer old" || v === "Bearer new"),
    renew: async (id, refused) => {
      renewals.push({ id, refused });
      return renewed;
    },
  };
}

const url = "http://127.0.0.1:9/v1/chat/completions";
const init = (authorization, body = '{"model":"m"}') => ({ method: "POST", headers: { Authorization: authorization, "Content-Type": "application/json" }, body });

describe("withRefusalRetry", () => {
  test("a 401 to our bearer: renewed once (the refused token named by its sha256), sent again, answered", async () => {
    const f = scripted([[401, { "www-authenticate": 'Bearer error="invalid_token"' }], [200, {}, '{"ok":true}']]);
    const d = deps();
    const res = await m.withRefusalRetry("gw", d, f.fetch)(url, init("Bearer old"));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
    assert.deepEqual(d.renewals, [{ id: "gw", refused: m.sha256Hex("Bearer old") }]);
    assert.deepEqual(f.sent.map((s) => s.authorization), ["Bearer old", "Bearer new"]);
    assert.equal(f.sent[1].body, '{"model":"m"}', "the same body");
  });

  // RFC 6750: a refusal is a 401. A good answer (or a 400/500/503) carrying an
  // invalid_token challenge from a confused gateway is passed through untouched:
  // no renewal, no resend, the stream not cancelled.
  for (const status of [200, 400, 500, 503]) {
    test(`invalid_token in WWW-Authenticate on a ${status} is not a refusal`, async () => {
      const f = scripted([[status, { "www-authenticate": 'Bearer realm="x", error="invalid_token"' }, "answer"]]);
      const d = deps();
      const res = await m.withRefusalRetry("gw", d, f.fetch)(url, init("Bearer old"));
      assert.equal(res.status, status);
      assert.equal(await res.text(), "answer", "the body is intact");
      assert.equal(d.renewals.length, 0);
      assert.equal(f.sent.length, 1);
    });
  }

  test("never a loop: a second refusal is reported with the gateway's message and the provider", async () => {
    const f = scripted([[401, {}, '{"error":{"message":"token revoked\\u001b[31m"}}']]);
    const d = deps();
    const res = await m.withRefusalRetry("gw", d, f.fetch)(url, init("Bearer old"));
    assert.equal(res.status, 401);
    assert.equal(f.sent.length, 2);
    assert.equal(d.renewals.length, 1);
    const body = await res.json();
    assert.equal(body.error.message, 'opencode-oauth2: provider "gw": the gateway refused a freshly renewed token too (HTTP 401): token revoked [31m');
  });

  for (const [what, f, i, d] of [
    ["403 is not retried", () => scripted([[403, { "www-authenticate": 'Bearer error="insufficient_scope"' }]]), () => init("Bearer old"), deps],
    ["a bearer the plugin did not hand out is not retried", () => scripted([[401, {}]]), () => init("Bearer someone-else"), deps],
    ["a request without Authorization is not retried", () => scripted([[401, {}]]), () => ({ method: "GET" }), deps],
    ["a streamed body cannot be sent twice", () => scripted([[401, {}]]), () => init("Bearer old", new ReadableStream()), deps],
  ]) {
    test(what, async () => {
      const fetch = f();
      const dd = d();
      const res = await m.withRefusalRetry("gw", dd, fetch.fetch)(url, i());
      assert.equal(fetch.sent.length, 1);
      assert.equal(dd.renewals.length, 0);
      assert.ok(res.status === 401 || res.status === 403);
    });
  }

  test("wrapping twice is wrapping once", () => {
    const w = m.withRefusalRetry("gw", deps(), scripted([[200, {}]]).fetch);
    assert.equal(m.withRefusalRetry("gw", deps(), w), w);
  });
});

describe("answerOrError: a success that is an error", () => {
  const json = { "content-type": "application/json" };
  const cases = [
    ["200 with a JSON error member becomes 424 with the gateway's words and the provider", 200, json, '{"error":{"message":"quota\\u001b[31m exceeded"}}', 424],
    ["200 with a JSON error string too", 200, json, '{"error":"boom"}', 424],
    ["200 JSON without an error member is left alone", 200, json, '{"choices":[]}', 200],
    ["an event stream is never read", 200, { "content-type": "text/event-stream" }, 'data: {"error":"x"}\n\n', 200],
    ["an error status is left to OpenCode", 500, json, '{"error":"x"}', 500],
    ["a body that is not JSON is left alone", 200, json, "not json", 200],
  ];
  for (const [name, status, headers, body, want] of cases) {
    test(name, async () => {
      const res = await m.answerOrError("gw", new Response(body, { status, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }));
      assert.equal(res.status, want);
      const text = await res.text();
      if (want === 424) {
        const msg = JSON.parse(text).error.message;
        assert.match(msg, /^opencode-oauth2: provider "gw": the gateway answered HTTP 200 with an error: /);
        assert.ok(!/\u001b/.test(msg), "no control character");
      } else {
        assert.equal(text, body, "the body is intact");
      }
    });
  }
  test("a body of unknown length or over 64 KiB is passed through unread", async () => {
    for (const headers of [json, { ...json, "content-length": String(1 << 20) }]) {
      const res = await m.answerOrError("gw", new Response('{"error":"x"}', { status: 200, headers }));
      assert.equal(res.status, 200);
    }
  });

  test("through the provider's fetch", async () => {
    const f = scripted([[200, { ...json, "content-length": "28" }, '{"error":{"message":"nope"}}']]);
    const res = await m.withRefusalRetry("gw", deps(), f.fetch)(url, { headers: { Authorization: "Bearer old" } });
    assert.equal(res.status, 424);
  });
});

describe("a gateway that takes the token in another header", () => {
  test("x-portkey-api-key without a scheme: a 401 renews and resends in that header", async () => {
    const sent = [];
    const fetch = async (_input, init) => {
      const h = new Headers(init?.headers);
      sent.push({ key: h.get("x-portkey-api-key"), authorization: h.get("authorization") });
      return new Response("{}", { status: sent.length === 1 ? 401 : 200 });
    };
    const renewals = [];
    const d = {
      header: () => "X-Portkey-Api-Key",
      ours: (_id, v) => v === "old",
      renew: async (_id, refused) => {
        renewals.push(refused);
        return "new";
      },
    };
    const res = await m.withRefusalRetry("pk", d, fetch)(url, { headers: { "x-portkey-api-key": "old" } });
    assert.equal(res.status, 200);
    assert.deepEqual(sent, [{ key: "old", authorization: null }, { key: "new", authorization: null }]);
    assert.deepEqual(renewals, [m.sha256Hex("old")]);
  });
});
