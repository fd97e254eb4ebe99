// A scriptable stand-in for `opencode-oauth2 serve`, for the shim's
// supervision and plugin tests (the protocol tests use the real binary).
// It has its own small framing code, on purpose independent of the shim's.
//
// Environment:
//   FAKE_STATE_DIR   where it appends one line per event (spawn, request method)
//   FAKE_HANG        comma-separated methods it never answers
//   FAKE_HANG_SPAWNS only hang in the first N spawns (default: all)
//   FAKE_MANAGED     comma-separated managed provider ids (default "acme")
//   FAKE_CACHE_MS    cacheUntil = now + this (default 60000; "none" = no cacheUntil)
//   FAKE_FAIL        comma-separated provider ids whose headers/get fails with -32010
//   FAKE_PROTOCOL    protocolVersion it answers with (default 1)
//   FAKE_FAIL_SPAWNS exit 3 at once in the first N spawns
//   FAKE_NOTIFY_ON_APPLY  JSON array of notifications ({method, params}) sent before answering config/apply
//   FAKE_INVALIDATE_MS    send headers/invalidate for the provider this long after each headers/get answer
//   FAKE_NOISE       write this to stdout before anything (a protocol violation)
//   FAKE_LOGINS      comma-separated provider ids config/apply reports as needing a login
//   FAKE_LOGIN_FAIL  comma-separated provider ids whose login fails
//   FAKE_LOGIN_MS    how long a login takes (default 0); login/cancel ends it at once
//   FAKE_LOGIN_PROMPT  send a device-code prompt notification when a login starts

import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const list = (v) => (v ? v.split(",").filter(Boolean) : []);
const stateDir = env.FAKE_STATE_DIR;
const record = (line) => {
  if (stateDir) appendFileSync(join(stateDir, "events"), `${line}\n`);
};
const spawns = () => {
  if (!stateDir) return 0;
  try {
    return readFileSync(join(stateDir, "events"), "utf8").split("\n").filter((l) => l.startsWith("spawn")).length;
  } catch {
    return 0;
  }
};

record(`spawn ${process.pid}`);
if (env.FAKE_FAIL_SPAWNS && spawns() <= Number(env.FAKE_FAIL_SPAWNS)) {
  process.stderr.write("fake sidecar: failing at start on purpose\n");
  process.exit(3);
}
if (env.FAKE_NOISE) process.stdout.write(env.FAKE_NOISE);

const hang = new Set(
  env.FAKE_HANG_SPAWNS && spawns() > Number(env.FAKE_HANG_SPAWNS) ? [] : list(env.FAKE_HANG),
);
const managed = env.FAKE_MANAGED !== undefined ? list(env.FAKE_MANAGED) : ["acme"];
const fail = new Set(list(env.FAKE_FAIL));
const pendingLogins = list(env.FAKE_LOGINS);
const loginFail = new Set(list(env.FAKE_LOGIN_FAIL));
const runningLogins = new Set(); // {timer, finish}
let tokenCounter = 0;

function send(msg) {
  const body = Buffer.from(JSON.stringify(msg), "utf8");
  process.stdout.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
}

let interactive = false;

function handle(msg) {
  if (msg.method === undefined) return;
  record(`request ${msg.method} ${JSON.stringify(msg.params ?? null)}`);
  if (msg.id === undefined) {
    if (msg.method === "test/notify") for (const n of msg.params.send) send({ jsonrpc: "2.0", ...n });
    if (msg.method === "login/cancel") for (const l of runningLogins) l.cancel();
    return;
  }
  if (hang.has(msg.method)) return;
  const reply = (result) => send({ jsonrpc: "2.0", id: msg.id, result });
  const error = (code, message, data) => send({ jsonrpc: "2.0", id: msg.id, error: { code, message, data } });
  switch (msg.method) {
    case "initialize":
      // The sidecar decides (OPENCODE_OAUTH2_INTERACTIVE, else the shim's facts); config/apply tells.
      interactive = env.OPENCODE_OAUTH2_INTERACTIVE === "1" || (msg.params?.interactive === true && env.OPENCODE_OAUTH2_INTERACTIVE !== "0");
      return reply({
        protocolVersion: Number(env.FAKE_PROTOCOL ?? 1),
        version: "fake-0.0.0",
      });
    case "config/apply": {
      for (const n of JSON.parse(env.FAKE_NOTIFY_ON_APPLY ?? "[]")) send({ jsonrpc: "2.0", ...n });
      const providers = {};
      for (const id of managed) providers[id] = { npm: "@ai-sdk/openai-compatible", name: id, options: { baseURL: "http://127.0.0.1:9/v1" }, models: { m1: { name: "M1" } } };
      const logins = pendingLogins.map((id, i, all) => ({
        providerID: id, name: `${id} gateway`, flow: "authorization_code", timeoutMs: 60000,
        message: `${id} gateway (${id}) is not logged in, so OpenCode cannot list its models; log in with: opencode auth login -p ${id}`,
        announce: `logging in to ${id} gateway (${id})${all.length > 1 ? ` (${i + 1} of ${all.length})` : ""} with your browser; Ctrl-C to skip.`,
      }));
      const loginTimeoutMs = Object.fromEntries(pendingLogins.map((id) => [id, 60000]));
      return reply({
        providers,
        managed,
        responseApi: [],
        tokenHeaders: Object.fromEntries(managed.map((id) => [id, "Authorization"])),
        logins,
        loginTimeoutMs,
        interactive,
        problems: [{
          providerID: "broken", field: "provider.broken.options.oauth2.redirectPort", expected: "a port", found: '"abc"', severity: "error",
          message: 'provider "broken": provider.broken.options.oauth2.redirectPort must be a port number, found "abc"; the provider is not available until this is fixed',
        }],
      });
    }
    case "login": {
      const id = msg.params?.providerID;
      if (env.FAKE_LOGIN_PROMPT) {
        send({ jsonrpc: "2.0", method: "prompt", params: { providerID: id, kind: "device_code", message: "To log in, visit this URL and enter the code below:", url: "https://idp.example/device", userCode: "WXYZ-1234", text: "To log in, visit this URL and enter the code below:\n    https://idp.example/device\n    code: WXYZ-1234", toast: "To log in, visit this URL and enter the code below:\nhttps://idp.example/device\ncode: WXYZ-1234", toastMs: 120000 } });
      }
      const finish = () => {
        if (loginFail.has(id)) return error(-32010, `provider "${id}": no access token: the authorization server answered access_denied`, { providerID: id, reason: "login_required" });
        reply({ providerID: id, provider: { npm: "@ai-sdk/openai-compatible", name: `${id} gateway`, options: { baseURL: "http://127.0.0.1:9/v1" }, models: { "after-login": { name: "After Login" } } }, models: 1, message: `logged in to ${id} gateway (${id}); 1 model(s) listed` });
      };
      const entry = {};
      entry.timer = setTimeout(() => (runningLogins.delete(entry), finish()), Number(env.FAKE_LOGIN_MS ?? 0));
      entry.cancel = () => {
        clearTimeout(entry.timer);
        runningLogins.delete(entry);
        error(-32010, `provider "${id}": no access token: the login was cancelled`, { providerID: id, reason: "cancelled" });
      };
      runningLogins.add(entry);
      return;
    }
    case "headers/get": {
      const id = msg.params?.providerID;
      if (!managed.includes(id)) return reply({ headers: {} });
      if (fail.has(id)) return error(-32010, `provider "${id}": login required`, { providerID: id, reason: "login_required" });
      tokenCounter++;
      const result = { headers: { Authorization: `Bearer tok-${process.pid}-${tokenCounter}` } };
      if (env.FAKE_CACHE_MS !== "none") result.cacheUntil = Date.now() + Number(env.FAKE_CACHE_MS ?? 60000);
      reply(result);
      if (env.FAKE_INVALIDATE_MS) {
        setTimeout(() => send({ jsonrpc: "2.0", method: "headers/invalidate", params: { providerID: id } }), Number(env.FAKE_INVALIDATE_MS));
      }
      return;
    }
    case "test/echo":
      return reply(msg.params);
    case "test/big":
      return reply("x".repeat(msg.params.bytes));
    case "test/notify-then-reply":
      for (const n of msg.params.send) send({ jsonrpc: "2.0", ...n });
      return reply(true);
    case "shutdown":
      return reply(null);
    default:
      return error(-32601, `method not found: ${msg.method}`);
  }
}

let buf = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const m = /Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString());
    const len = Number(m[1]);
    if (buf.length < end + 4 + len) return;
    const body = buf.subarray(end + 4, end + 4 + len).toString("utf8");
    buf = buf.subarray(end + 4 + len);
    handle(JSON.parse(body));
  }
});
process.stdin.on("end", () => {
  record("stdin-closed");
  process.exit(0);
});
