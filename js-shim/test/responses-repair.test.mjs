// Responses API stream repair (js-shim/src/responses-repair.ts) on recorded-style
// streams (test-support/fixtures/responses-*.sse: reasoning summaries, text, a tool
// call, a refusal, reasoning text), every one also cut at EVERY byte boundary:
//   - conformant streams pass byte-identical;
//   - the same streams with every output_index / content_index / summary_index
//     removed (what an index-dropping gateway sends) come out with exactly the
//     indices the conformant stream had;
//   - CRLF / CR line ends, id: and retry: lines, comments and multi-line data
//     survive, and a second pass changes nothing;
//   - the fetch wrapper repairs only event streams of paths ending in /responses.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanupTmp, importSrc, shimDir } from "../test-support/helpers.mjs";

let m;
before(async () => {
  m = await importSrc("responses-repair");
});
after(cleanupTmp);

const fixtureDir = join(shimDir, "test-support", "fixtures");
const fixtures = readdirSync(fixtureDir)
  .filter((f) => f.startsWith("responses-") && f.endsWith(".sse"))
  .sort()
  .map((name) => ({ name, bytes: readFileSync(join(fixtureDir, name)) }));
const INDEX_KEYS = ["output_index", "content_index", "summary_index"];

// ---------------------------------------------------------------------------
// helpers

/** Runs bytes through a fresh repair stream (the TransformStream), fed as the given chunks. */
async function repair(chunks) {
  const ts = m.responsesRepairStream();
  const writer = ts.writable.getWriter();
  const reading = (async () => {
    const out = [];
    for await (const c of ts.readable) out.push(c);
    return Buffer.concat(out);
  })();
  for (const c of chunks) await writer.write(c);
  await writer.close();
  return reading;
}

/** The same through the synchronous ResponsesRepairer (fast enough for thousands of splits). */
function repairSync(chunks) {
  const r = new m.ResponsesRepairer();
  const out = chunks.flatMap((c) => r.push(c));
  return Buffer.concat([...out, ...r.end()]);
}

const whole = (b) => [b];
const bytewise = (b) => [...b].map((x) => Uint8Array.of(x));
const splitAt = (b, i) => [b.subarray(0, i), b.subarray(i)];

/** Every way of cutting b in two, plus byte by byte (through the stream): checks each output. */
async function everySplit(b, check) {
  check(await repair(whole(b)), "whole");
  check(await repair(bytewise(b)), "byte by byte");
  check(repairSync(bytewise(b)), "byte by byte, synchronous");
  for (let i = 1; i < b.length; i++) check(repairSync(splitAt(b, i)), `split at byte ${i}`);
}

/**
 * A server-sent events parser written from the WHATWG specification, independent
 * of the code under test: CRLF, LF and CR line ends, comments, one leading space
 * stripped, data lines joined with "\n", an event dispatched at a blank line.
 */
function parseSSE(buf) {
  const text = buf.toString("utf8");
  const events = [];
  let cur = { data: [], event: undefined, id: undefined, retry: undefined };
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (cur.data.length > 0) events.push({ ...cur, data: cur.data.join("\n") });
      cur = { data: [], event: undefined, id: undefined, retry: undefined };
      continue;
    }
    if (line.startsWith(":")) continue;
    const c = line.indexOf(":");
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? "" : line.slice(c + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") cur.data.push(value);
    else if (field === "event" || field === "id" || field === "retry") cur[field] = value;
  }
  return events;
}

const jsonEvents = (buf) => parseSSE(buf).map((e) => ({ ...e, data: JSON.parse(e.data) }));

/** The same stream with every index field removed from every event (LF, as gateways send it). */
function stripIndices(buf) {
  return Buffer.from(
    parseSSE(buf)
      .map((e) => {
        const d = JSON.parse(e.data);
        for (const k of INDEX_KEYS) delete d[k];
        return `event: ${e.event}\ndata: ${JSON.stringify(d)}\n\n`;
      })
      .join(""),
  );
}

function countIndices(buf) {
  return jsonEvents(buf).reduce((n, e) => n + INDEX_KEYS.filter((k) => k in e.data).length, 0);
}

// ---------------------------------------------------------------------------

describe("fixtures", () => {
  test("are realistic Responses streams with every kind of indexed event", () => {
    assert.ok(fixtures.length >= 3, "fixtures present");
    const types = new Set(fixtures.flatMap((f) => jsonEvents(f.bytes).map((e) => e.data.type)));
    for (const t of [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.refusal.delta",
      "response.refusal.done",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
    ]) {
      assert.ok(types.has(t), `a fixture has ${t}`);
    }
    for (const f of fixtures) {
      for (const e of jsonEvents(f.bytes)) assert.equal(e.event, e.data.type, `${f.name}: event: names the type`);
    }
    assert.ok(fixtures.some((f) => /[^\x00-\x7f]/.test(f.bytes.toString("utf8"))), "multi-byte UTF-8 present");
  });
});

describe("conformant streams", () => {
  for (const f of fixtures) {
    test(`${f.name} passes byte-identical at every split`, async () => {
      await everySplit(f.bytes, (out, how) => {
        if (!out.equals(f.bytes)) assert.fail(`${how}: output differs from input`);
      });
    });
  }
});

describe("streams without indices", () => {
  for (const f of fixtures) {
    test(`${f.name}: every index is restored to what the conformant stream had, at every split`, async () => {
      const stripped = stripIndices(f.bytes);
      assert.equal(countIndices(stripped), 0);
      assert.ok(countIndices(f.bytes) > 10);
      const want = jsonEvents(f.bytes);
      const first = await repair(whole(stripped));
      assert.deepEqual(jsonEvents(first), want);
      // Only the data lines changed: event lines and blank lines as they came.
      assert.deepEqual(
        first.toString("utf8").split("\n").filter((l) => !l.startsWith("data:")),
        stripped.toString("utf8").split("\n").filter((l) => !l.startsWith("data:")),
      );
      await everySplit(stripped, (out, how) => {
        if (!out.equals(first)) assert.fail(`${how}: output differs from the whole-chunk output`);
      });
    });

    test(`${f.name}: repairing a repaired stream changes nothing`, async () => {
      const once = await repair(whole(stripIndices(f.bytes)));
      const twice = await repair(bytewise(once));
      assert.ok(twice.equals(once));
    });
  }

  test("multi-byte UTF-8 split inside a character survives a rewrite", async () => {
    const delta = "grüß — こんにちは 👋";
    const src = Buffer.from(
      `event: response.output_item.added\ndata: {"type":"response.output_item.added","item":{"id":"m","type":"message","content":[],"role":"assistant"}}\n\n` +
        `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"m","delta":"${delta}"}\n\n`,
    );
    const emoji = src.indexOf(Buffer.from("👋"));
    for (const at of [emoji + 1, emoji + 2, emoji + 3, src.indexOf(Buffer.from("ü")) + 1]) {
      const out = await repair([src.subarray(0, at), src.subarray(at)]);
      const ev = jsonEvents(out);
      assert.equal(ev[1].data.delta, delta);
      assert.equal(ev[1].data.output_index, 0);
      assert.equal(ev[1].data.content_index, 0);
    }
  });
});

describe("SSE framing details", () => {
  /**
   * The stripped stream re-written with a mix of line ends (LF, CRLF, CR), an id:
   * line on every event, a retry: line, keep-alive comments (own events and inside
   * events), and the JSON spread over two data: lines.
   */
  function awkward(buf) {
    const ends = ["\n", "\r\n", "\r"];
    return Buffer.from(
      parseSSE(stripIndices(buf))
        .map((e, i) => {
          const nl = ends[i % 3];
          const json = e.data;
          const cut = json.indexOf(",") + 1; // JSON may have a line break after a comma
          const lines = [
            ...(i === 0 ? ["retry: 3000"] : []),
            `id: ${i}`,
            `event: ${e.event}`,
            ...(i % 4 === 1 ? [": keep-alive inside an event"] : []),
            `data: ${json.slice(0, cut)}`,
            `data:${json.slice(cut)}`,
          ];
          const ping = i % 5 === 2 ? `: ping${nl}${nl}` : "";
          return ping + lines.map((l) => l + nl).join("") + nl;
        })
        .join(""),
    );
  }

  /** Lines other than data: lines, with their line ends. */
  const otherLines = (buf) => buf.toString("utf8").match(/[^\r\n]*(\r\n|\r|\n)/g).filter((l) => !l.startsWith("data:"));

  test("mixed CRLF / CR / LF, id:, retry:, comments and multi-line data: repaired, everything else kept byte for byte, at every split", async () => {
    const f = fixtures.find((x) => x.name.includes("refusal"));
    const src = awkward(f.bytes);
    const want = jsonEvents(f.bytes).map((e) => e.data);
    const first = await repair(whole(src));
    const got = parseSSE(first);
    assert.deepEqual(
      got.map((e) => JSON.parse(e.data)),
      want,
    );
    assert.deepEqual(
      got.map((e) => e.id),
      want.map((_, i) => String(i)),
      "id: lines kept",
    );
    assert.equal(got[0].retry, "3000");
    assert.deepEqual(otherLines(first), otherLines(src), "event:, id:, retry:, comment and blank lines kept with their line ends");
    const repaired = got.filter((e) => /"item(_id)?"/.test(e.data));
    assert.ok(repaired.length >= 8 && repaired.every((e) => !e.data.includes("\n")), "repaired JSON is on one data: line");
    assert.ok(got.filter((e) => !/"item(_id)?"/.test(e.data)).every((e) => e.data.includes("\n")), "the others keep their data: lines");
    await everySplit(src, (out, how) => {
      if (!out.equals(first)) assert.fail(`${how}: output differs from the whole-chunk output`);
    });
    const again = await repair(bytewise(first));
    assert.ok(again.equals(first), "idempotent");
  });

  test("the awkward form of every fixture is repaired like the plain one", async () => {
    for (const f of fixtures) {
      const out = await repair(bytewise(awkward(f.bytes)));
      assert.deepEqual(
        parseSSE(out).map((e) => JSON.parse(e.data)),
        jsonEvents(f.bytes).map((e) => e.data),
        f.name,
      );
    }
  });

  test("a conformant stream in the awkward form passes byte-identical", async () => {
    const f = fixtures[0];
    const ends = ["\n", "\r\n", "\r"];
    const src = Buffer.from(
      parseSSE(f.bytes)
        .map((e, i) => [`: c${i}`, `id: ${i}`, `data: ${e.data}`, ""].map((l) => l + ends[i % 3]).join(""))
        .join(""),
    );
    assert.equal(parseSSE(src).length, parseSSE(f.bytes).length);
    await everySplit(src, (out, how) => {
      if (!out.equals(src)) assert.fail(`${how}: output differs`);
    });
  });

  test("what is not a Responses event passes byte-identical", async () => {
    const cases = [
      "data: [DONE]\n\n",
      ": just a comment\r\n\r\n",
      'data: {"type":"response.output_text.delta","item_id":"x"\n\n', // not JSON
      'data: ["response.output_text.delta"]\n\n',
      'data: {"type":"chat.completion.chunk","item_id":"x"}\n\n',
      'data: {"type":"response.created","response":{"id":"r"}}\n\n',
      'data: {"type":"error","code":"server_error","message":"boom","item_id":"x"}\n\n',
      'event: response.output_text.delta\nid: 5\n\n', // no data
      "\n\n\n",
    ];
    for (const c of cases) {
      const b = Buffer.from(c);
      assert.ok((await repair(bytewise(b))).equals(b), JSON.stringify(c));
    }
    // Invalid UTF-8 in an event that would otherwise be repaired: left alone.
    const bad = Buffer.concat([
      Buffer.from('data: {"type":"response.output_text.delta","item_id":"x","delta":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n\n'),
    ]);
    assert.ok((await repair(whole(bad))).equals(bad));
  });

  test("an event cut off by the end of the stream is repaired without adding a blank line; a final CR is a line end", async () => {
    const head = 'data: {"type":"response.output_item.added","item":{"id":"m","type":"message"}}\r\n\r\n';
    for (const tail of ["", "\n", "\r", "\r\n"]) {
      const src = Buffer.from(`${head}data: {"type":"response.output_text.delta","item_id":"m","delta":"hi"}${tail}`);
      const out = (await repair(bytewise(src))).toString("utf8");
      assert.ok(out.endsWith(`"delta":"hi","output_index":0,"content_index":0}${tail}`), JSON.stringify(out));
      assert.ok(out.startsWith('data: {"type":"response.output_item.added","item":{"id":"m","type":"message"},"output_index":0}\r\n\r\n'), out);
    }
  });

  test("a byte-order mark at the start of the stream is kept", async () => {
    const src = Buffer.from('\uFEFFdata: {"type":"response.output_item.added","item":{"id":"m","type":"message"}}\n\n');
    const out = await repair(bytewise(src));
    assert.equal(out.toString("utf8"), '\uFEFFdata: {"type":"response.output_item.added","item":{"id":"m","type":"message"},"output_index":0}\n\n');
  });
});

describe("index assignment", () => {
  const sse = (...events) => Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""));
  const data = async (...events) => jsonEvents(await repair(whole(sse(...events)))).map((e) => e.data);
  const added = (id, extra = {}) => ({ type: "response.output_item.added", item: { id, type: "message" }, ...extra });

  test("items are numbered by arrival; indices the gateway sent are kept, followed and counted past", async () => {
    const out = await data(
      added("a", { output_index: 4 }), // the gateway's own numbering
      { type: "response.output_text.delta", item_id: "a", delta: "x" },
      added("b"),
      { type: "response.output_text.delta", item_id: "b", delta: "y", output_index: 9, content_index: 3 },
      { type: "response.output_text.delta", item_id: "a", delta: "z", output_index: 0 }, // wrong but present: kept
      { type: "response.function_call_arguments.delta", item_id: "c", delta: "{" }, // first seen without .added
    );
    assert.deepEqual(
      out.map((e) => [e.output_index, e.content_index]),
      [
        [4, undefined],
        [4, 0],
        [5, undefined],
        [9, 3],
        [0, 0],
        [6, undefined],
      ],
    );
  });

  test("content parts: .added opens the next part of the item, later events follow the open part", async () => {
    const out = await data(
      added("m"),
      { type: "response.content_part.added", item_id: "m", part: { type: "output_text", text: "" } },
      { type: "response.output_text.delta", item_id: "m", delta: "a" },
      { type: "response.output_text.annotation.added", item_id: "m", annotation: { type: "url_citation" } },
      { type: "response.content_part.done", item_id: "m", part: { type: "output_text", text: "a" } },
      { type: "response.content_part.added", item_id: "m", part: { type: "refusal", refusal: "" } },
      { type: "response.refusal.delta", item_id: "m", delta: "no" },
      { type: "response.refusal.done", item_id: "m", refusal: "no" },
      added("n"),
      { type: "response.output_text.delta", item_id: "n", delta: "b" }, // no part opened: 0
      { type: "response.content_part.added", item_id: "n", content_index: 5, part: { type: "output_text", text: "" } },
      { type: "response.content_part.added", item_id: "n", part: { type: "output_text", text: "" } },
    );
    assert.deepEqual(
      out.map((e) => `${e.output_index}/${e.content_index}`),
      ["0/undefined", "0/0", "0/0", "0/0", "0/0", "0/1", "0/1", "0/1", "1/undefined", "1/0", "1/5", "1/6"],
    );
  });

  test("reasoning summaries get summary_index (not content_index)", async () => {
    const out = await data(
      { type: "response.output_item.added", item: { id: "rs", type: "reasoning", summary: [] } },
      { type: "response.reasoning_summary_part.added", item_id: "rs", part: { type: "summary_text", text: "" } },
      { type: "response.reasoning_summary_text.delta", item_id: "rs", delta: "a" },
      { type: "response.reasoning_summary_part.added", item_id: "rs", part: { type: "summary_text", text: "" } },
      { type: "response.reasoning_summary_text.delta", item_id: "rs", delta: "b" },
      { type: "response.reasoning_summary_text.done", item_id: "rs", text: "b" },
    );
    assert.deepEqual(
      out.map((e) => [e.output_index, e.summary_index, "content_index" in e]),
      [
        [0, undefined, false],
        [0, 0, false],
        [0, 0, false],
        [0, 1, false],
        [0, 1, false],
        [0, 1, false],
      ],
    );
  });

  test("null counts as missing; other present values are never changed", async () => {
    const out = await data(added("a", { output_index: null }), { type: "response.output_text.delta", item_id: "a", content_index: "0" });
    assert.equal(out[0].output_index, 0);
    assert.equal(out[1].content_index, "0");
  });

  test("each stream has its own numbering", async () => {
    const s = sse(added("a"), added("b"));
    assert.deepEqual((await data(added("a"), added("b"))).map((e) => e.output_index), [0, 1]);
    assert.deepEqual(jsonEvents(await repair(whole(s))).map((e) => e.data.output_index), [0, 1]);
  });
});

describe("withResponsesRepair (fetch)", () => {
  let server;
  let base;
  const stripped = () => stripIndices(fixtures.find((f) => f.name.includes("refusal")).bytes);
  before(async () => {
    server = createServer((req, res) => {
      const body = stripped();
      const type = req.url.includes("json") ? "application/json" : req.url.includes("upper") ? "Text/Event-Stream; charset=UTF-8" : "text/event-stream; charset=utf-8";
      res.writeHead(req.url.includes("status") ? 400 : 200, {
        "content-type": type,
        "content-length": String(body.length),
        "x-request-id": "req_123",
      });
      res.end(body);
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((r) => server.close(r)));

  const get = (fetch, path, init) => fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000), ...init });

  test("repairs an event stream from a path ending in /responses (string, URL or Request), drops Content-Length, keeps the rest", async () => {
    const f = m.withResponsesRepair(); // globalThis.fetch
    for (const input of [`${base}/v1/responses`, new URL(`${base}/openai/v1/responses?api-version=x`), new Request(`${base}/v1/responses`, { method: "POST", body: "{}" })]) {
      const res = await f(input, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), null);
      assert.equal(res.headers.get("x-request-id"), "req_123");
      assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
      assert.match(res.url, /\/responses(\?|$)/);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(countIndices(body) > 10, "indices added");
    }
    const upper = await get(f, "/v1/responses?upper");
    assert.ok(countIndices(Buffer.from(await upper.arrayBuffer())) > 10, "content-type compared case-insensitively");
    const failed = await get(f, "/v1/responses?status");
    assert.equal(failed.status, 400);
    assert.ok(countIndices(Buffer.from(await failed.arrayBuffer())) > 10, "status kept");
  });

  test("leaves other paths and other content types alone (same Response object, Content-Length kept)", async () => {
    let last;
    const spy = async (input, init) => (last = await fetch(input, init));
    const f = m.withResponsesRepair(spy);
    for (const path of ["/v1/responses/resp_123", "/v1/responses-beta", "/v1/chat/completions?next=/responses", "/v1/responsesx", "/v1/responses/", "/v1/responses?json"]) {
      const res = await get(f, path);
      assert.equal(res, last, path);
      assert.equal(res.headers.get("content-length"), String(stripped().length), path);
      assert.equal(countIndices(Buffer.from(await res.arrayBuffer())), 0, path);
    }
  });

  test("wraps the given fetch, passes its arguments through, and is not wrapped twice", async () => {
    const calls = [];
    const delegate = async (input, init) => {
      calls.push([input, init]);
      return new Response(stripped(), { headers: { "content-type": "text/event-stream" } });
    };
    const f = m.withResponsesRepair(delegate);
    const init = { method: "POST", body: '{"stream":true}', headers: { authorization: "Bearer t" } };
    const res = await f("https://gw.example/v1/responses", init);
    assert.deepEqual(calls, [["https://gw.example/v1/responses", init]]);
    assert.ok(countIndices(Buffer.from(await res.arrayBuffer())) > 10);
    assert.equal(m.withResponsesRepair(f), f);
    const errors = m.withResponsesRepair(async () => {
      throw new TypeError("fetch failed");
    });
    await assert.rejects(errors("https://gw.example/v1/responses"), /fetch failed/);
  });

  test("a body that fails mid-stream fails the repaired stream too", async () => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('data: {"type":"response.output_item.added","item":{"id":"m"}}\n\n'));
        c.error(new Error("connection reset"));
      },
    });
    const f = m.withResponsesRepair(async () => new Response(body, { headers: { "content-type": "text/event-stream" } }));
    const res = await f("https://gw.example/v1/responses");
    await assert.rejects(res.text(), /connection reset/);
  });
});
