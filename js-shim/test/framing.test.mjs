// Content-Length framing: chunk splits at every byte, multi-byte UTF-8,
// several frames per chunk, malformed and oversized frames.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cleanupTmp, importSrc } from "../test-support/helpers.mjs";

let m;
before(async () => {
  m = await importSrc("framing");
});
after(cleanupTmp);

const messages = [
  { jsonrpc: "2.0", id: 1, result: { headers: { Authorization: "Bearer abc" } } },
  { jsonrpc: "2.0", method: "log", params: { level: "info", message: "héllo wörld — ✓ 日本語 🚀🔐" } },
  { jsonrpc: "2.0", id: 2, result: null },
];

function stream() {
  return Buffer.concat(messages.map((x) => m.encodeFrame(x)));
}

describe("encodeFrame", () => {
  test("Content-Length counts bytes, not characters", () => {
    const msg = { s: "🚀é" };
    const frame = m.encodeFrame(msg);
    const body = Buffer.from(JSON.stringify(msg), "utf8");
    assert.equal(frame.toString("latin1").split("\r\n")[0], `Content-Length: ${body.length}`);
    assert.notEqual(body.length, JSON.stringify(msg).length);
    assert.deepEqual(frame.subarray(frame.length - body.length), body);
  });

  test("refuses a message larger than the limit", () => {
    assert.throws(() => m.encodeFrame({ s: "x".repeat(100) }, 50), m.FrameError);
  });
});

describe("FrameDecoder", () => {
  test("whole stream in one chunk gives every message", () => {
    const d = new m.FrameDecoder();
    assert.deepEqual(d.push(stream()).map((b) => JSON.parse(b)), messages);
  });

  test("split at every byte boundary (two chunks)", () => {
    const all = stream();
    for (let i = 0; i <= all.length; i++) {
      const d = new m.FrameDecoder();
      const got = [...d.push(all.subarray(0, i)), ...d.push(all.subarray(i))];
      assert.deepEqual(got.map((b) => JSON.parse(b)), messages, `split at ${i}`);
    }
  });

  test("one byte at a time, including inside multi-byte characters", () => {
    const all = stream();
    const d = new m.FrameDecoder();
    const got = [];
    for (let i = 0; i < all.length; i++) got.push(...d.push(all.subarray(i, i + 1)));
    assert.deepEqual(got.map((b) => JSON.parse(b)), messages);
  });

  test("split at every pair of boundaries (three chunks)", () => {
    const all = m.encodeFrame(messages[1]);
    for (let i = 0; i <= all.length; i += 3) {
      for (let j = i; j <= all.length; j += 2) {
        const d = new m.FrameDecoder();
        const got = [...d.push(all.subarray(0, i)), ...d.push(all.subarray(i, j)), ...d.push(all.subarray(j))];
        assert.equal(got.length, 1, `split at ${i},${j}`);
        assert.deepEqual(JSON.parse(got[0]), messages[1]);
      }
    }
  });

  test("accepts other headers and any header-name case", () => {
    const body = Buffer.from('{"a":"é"}', "utf8");
    const frame = Buffer.concat([
      Buffer.from(`Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: ${body.length}\r\n\r\n`),
      body,
    ]);
    assert.deepEqual(new m.FrameDecoder().push(frame), ['{"a":"é"}']);
  });

  test("an empty chunk changes nothing", () => {
    const d = new m.FrameDecoder();
    assert.deepEqual(d.push(Buffer.alloc(0)), []);
    assert.equal(d.push(stream()).length, 3);
  });

  test("a frame over the limit is an error before its body arrives", () => {
    const d = new m.FrameDecoder(1024);
    assert.throws(() => d.push(Buffer.from("Content-Length: 1025\r\n\r\n")), /exceeds the 1024-byte limit/);
  });

  test("the default limit is 4 MiB: exactly 4 MiB passes, one byte more fails", () => {
    assert.equal(m.MAX_FRAME_BYTES, 4 * 1024 * 1024);
    const ok = new m.FrameDecoder();
    const body = Buffer.alloc(m.MAX_FRAME_BYTES, 0x20);
    body[0] = 0x22;
    body[body.length - 1] = 0x22; // a JSON string of spaces
    const got = ok.push(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
    assert.equal(got.length, 1);
    assert.equal(got[0].length, m.MAX_FRAME_BYTES);
    assert.throws(() => new m.FrameDecoder().push(Buffer.from(`Content-Length: ${m.MAX_FRAME_BYTES + 1}\r\n\r\n`)), m.FrameError);
  });

  test("a large frame in many chunks is assembled once", () => {
    const msg = { s: "é".repeat(300_000) };
    const frame = m.encodeFrame(msg);
    const d = new m.FrameDecoder();
    const got = [];
    for (let i = 0; i < frame.length; i += 65536) got.push(...d.push(frame.subarray(i, i + 65536)));
    assert.equal(got.length, 1);
    assert.deepEqual(JSON.parse(got[0]), msg);
  });

  for (const [name, header, re] of [
    ["missing Content-Length", "Content-Type: x\r\n\r\n", /without Content-Length/],
    ["non-numeric Content-Length", "Content-Length: 12a\r\n\r\n", /invalid Content-Length/],
    ["negative Content-Length", "Content-Length: -1\r\n\r\n", /invalid Content-Length/],
    ["a header line without a colon", "garbage\r\n\r\n", /malformed frame header/],
  ]) {
    test(`rejects ${name}`, () => {
      assert.throws(() => new m.FrameDecoder().push(Buffer.from(header)), re);
    });
  }

  test("rejects an endless header (no blank line within 8 KiB)", () => {
    const d = new m.FrameDecoder();
    assert.throws(() => d.push(Buffer.from(`X-Junk: ${"a".repeat(9000)}`)), /header longer/);
  });
});
