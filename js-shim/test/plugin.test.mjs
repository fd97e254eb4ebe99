// The plugin module (src/index.ts) with a fake OpenCode client and the fake
// sidecar: config merge, problems in the log, the chat.headers cache, errors,
// notifications, first-contact logins, dispose, and the hot path.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { isatty } from "node:tty";
import { pathToFileURL } from "node:url";
import { after, afterEach, before, describe, test } from "node:test";
import { bundle } from "../build.mjs";
import { cleanupTmp, fakeSidecarBinary, isAlive, makeTmp, waitFor } from "../test-support/helpers.mjs";

let plugin;
let fake;
const disposers = [];
const savedEnv = { ...process.env };

before(async () => {
  const dir = await makeTmp();
  const out = await bundle("src/index.ts", join(dir, "index.mjs"));
  const mod = await import(pathToFileURL(out).href);
  assert.deepEqual(Object.keys(mod), ["default"], "the plugin module has a default export only");
  plugin = mod.default;
  fake = await fakeSidecarBinary(dir);
});
afterEach(async () => {
  while (disposers.length > 0) await disposers.pop()();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
});
after(cleanupTmp);

async function events(dir) {
  const text = await readFile(join(dir, "events"), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean);
}
const count = (evs, prefix) => evs.filter((e) => e.startsWith(prefix)).length;

function baseConfig() {
  return {
    logLevel: "DEBUG",
    provider: {
      acme: { options: { baseURL: "http://127.0.0.1:9/v1", oauth2: { issuer: "http://127.0.0.1:9", clientId: "c" } } },
      plain: { options: { baseURL: "https://example.invalid/v1", apiKey: "k" } },
    },
    someHook: () => "functions are dropped",
  };
}

/** A plugin instance with a fake client; env vars configure the fake sidecar. */
async function instance(fakeEnv = {}, { binary = fake, logDelayMs = 0, argv } = {}) {
  const state = await makeTmp();
  Object.assign(process.env, { OPENCODE_OAUTH2_BINARY: binary, FAKE_STATE_DIR: state, OPENCODE_OAUTH2_INTERACTIVE: "0" }, fakeEnv);
  const logs = [];
  const toasts = [];
  const client = {
    app: {
      log: async ({ body }) => {
        if (logDelayMs > 0) await new Promise((r) => setTimeout(r, logDelayMs));
        logs.push(body);
        return { data: true };
      },
    },
    tui: { showToast: async ({ body }) => (toasts.push(body), { data: true }) },
    instance: { dispose: async () => (reloads.push(Date.now()), { data: true }) },
  };
  const reloads = [];
  // The command OpenCode runs (process.argv after the binary): the one a test set, else
  // a terminal command; [] is the full-screen TUI.
  const saved = process.argv;
  const args = argv ?? (saved.length > 2 ? saved.slice(2) : ["models"]);
  process.argv = [saved[0], saved[1], ...args];
  let hooks;
  try {
    hooks = await plugin.server({ client, directory: "/work/project", worktree: "/work/project" });
  } finally {
    process.argv = saved;
  }
  disposers.push(() => hooks.dispose());
  return { hooks, state, logs, toasts, reloads };
}

function chatInput(providerID, modelID = "m1") {
  return { sessionID: "s", agent: "build", model: { id: modelID, providerID }, provider: {}, message: {} };
}

async function headersFor(hooks, providerID) {
  const out = { headers: {} };
  await hooks["chat.headers"](chatInput(providerID), out);
  return out.headers;
}

describe("config hook", () => {
  test("registers the sidecar's providers, logs problems with provider and field", async () => {
    const { hooks, state, logs } = await instance();
    const cfg = baseConfig();
    await hooks.config(cfg);
    assert.equal(cfg.provider.acme.npm, "@ai-sdk/openai-compatible");
    assert.deepEqual(cfg.provider.acme.models, { m1: { name: "M1" } });
    assert.deepEqual(cfg.provider.plain, { options: { baseURL: "https://example.invalid/v1", apiKey: "k" } });
    const problem = logs.find((l) => l.level === "error" && l.message.includes('"broken"'));
    assert.ok(problem, JSON.stringify(logs));
    assert.equal(
      problem.message,
      'opencode-oauth2: provider "broken": provider.broken.options.oauth2.redirectPort must be a port number, found "abc"; the provider is not available until this is fixed',
      "the sidecar's wording, with the provider named once",
    );
    assert.equal(problem.service, "opencode-oauth2");
    const evs = await events(state);
    const init = JSON.parse(evs.find((e) => e.startsWith("request initialize")).slice("request initialize ".length));
    assert.equal(init.binary.source, "env", "the sidecar logs how its binary was found");
    delete init.binary;
    const tty = (fd) => isatty(fd);
    assert.equal(init.interactive, tty(0) && (tty(1) || tty(2)), "the shim's own facts: a terminal (the sidecar decides, with OPENCODE_OAUTH2_INTERACTIVE and CI)");
    delete init.interactive;
    assert.deepEqual(init, { protocolVersion: 1, hostPath: process.execPath, logLevel: "DEBUG", directory: "/work/project" }, "the level as OpenCode has it, and OpenCode's executable: the sidecar reads them");
    const applied = JSON.parse(evs.find((e) => e.startsWith("request config/apply")).slice("request config/apply ".length));
    assert.equal(applied.config.someHook, undefined, "functions are not sent");
    assert.equal(applied.config.provider.acme.options.oauth2.clientId, "c");
  });

  test("creates cfg.provider when absent", async () => {
    const { hooks } = await instance();
    const cfg = {};
    await hooks.config(cfg);
    assert.ok(cfg.provider.acme);
  });

  test("a server (opencode serve) is no terminal, whoever is at it; the level goes as written", async () => {
    const { hooks, state } = await instance({ OPENCODE_OAUTH2_INTERACTIVE: "1" }, { argv: ["serve"] });
    await hooks.config({ logLevel: "WARN" });
    const init = (await events(state)).find((e) => e.startsWith("request initialize"));
    assert.match(init, /"interactive":false/);
    assert.match(init, /"logLevel":"WARN"/);
  });

  test("a missing binary: the hook does not throw, the log says why", async () => {
    const { hooks, logs } = await instance({}, { binary: "/nonexistent/opencode-oauth2" });
    const cfg = baseConfig();
    await hooks.config(cfg);
    const err = logs.find((l) => l.level === "error");
    assert.match(err.message, /OPENCODE_OAUTH2_BINARY is set to "\/nonexistent\/opencode-oauth2"/);
    // A provider with an oauth2 block must not go out without a token...
    await assert.rejects(headersFor(hooks, "acme"), /provider "acme" is configured for OAuth2, but the opencode-oauth2 sidecar is not running/);
    // ...any other provider is left alone.
    assert.deepEqual(await headersFor(hooks, "plain"), {});
  });

  test("a sidecar that crashes at start: clear error in the log, OpenCode goes on", async () => {
    const { hooks, logs } = await instance({ FAKE_FAIL_SPAWNS: "100" });
    const t0 = Date.now();
    await hooks.config(baseConfig());
    assert.ok(Date.now() - t0 < 10_000);
    const err = logs.find((l) => l.level === "error" && /no provider was registered/.test(l.message));
    assert.ok(err, JSON.stringify(logs));
    assert.match(err.message, /could not be started \(3 attempts\).*exited with code 3/);
  });
});

describe("chat.headers", () => {
  test("unmanaged provider: nothing set, no RPC", async () => {
    const { hooks, state } = await instance();
    await hooks.config(baseConfig());
    const out = { headers: { "x-keep": "1" } };
    await hooks["chat.headers"](chatInput("plain"), out);
    assert.deepEqual(out.headers, { "x-keep": "1" });
    assert.equal(count(await events(state), "request headers/get"), 0);
  });

  test("managed provider: fetched once, then served from the cache until cacheUntil", async () => {
    const { hooks, state, logs } = await instance();
    await hooks.config(baseConfig());
    const h1 = await headersFor(hooks, "acme");
    assert.match(h1.Authorization, /^Bearer tok-\d+-1$/);
    const h2 = await headersFor(hooks, "acme");
    assert.deepEqual(h2, h1);
    const evs = await events(state);
    assert.equal(count(evs, "request headers/get"), 1);
    assert.ok(evs.includes('request headers/get {"providerID":"acme","modelID":"m1"}'));
    assert.ok(!JSON.stringify(logs).includes("Bearer"), "header values are never logged");
  });

  test("an expired cacheUntil means a new headers/get", async () => {
    const { hooks, state } = await instance({ FAKE_CACHE_MS: "40" });
    await hooks.config(baseConfig());
    const h1 = await headersFor(hooks, "acme");
    await new Promise((r) => setTimeout(r, 80));
    const h2 = await headersFor(hooks, "acme");
    assert.notDeepEqual(h1, h2);
    assert.equal(count(await events(state), "request headers/get"), 2);
  });

  test("no cacheUntil: no caching", async () => {
    const { hooks, state } = await instance({ FAKE_CACHE_MS: "none" });
    await hooks.config(baseConfig());
    await headersFor(hooks, "acme");
    await headersFor(hooks, "acme");
    assert.equal(count(await events(state), "request headers/get"), 2);
  });

  test("headers/invalidate drops the cached headers", async () => {
    const { hooks, state } = await instance({ FAKE_INVALIDATE_MS: "20" });
    await hooks.config(baseConfig());
    const h1 = await headersFor(hooks, "acme");
    await new Promise((r) => setTimeout(r, 150));
    const h2 = await headersFor(hooks, "acme");
    assert.notDeepEqual(h1, h2);
    assert.equal(count(await events(state), "request headers/get"), 2);
  });

  test("concurrent misses share one headers/get", async () => {
    const { hooks, state } = await instance();
    await hooks.config(baseConfig());
    const all = await Promise.all(Array.from({ length: 20 }, () => headersFor(hooks, "acme")));
    assert.equal(new Set(all.map((h) => h.Authorization)).size, 1);
    assert.equal(count(await events(state), "request headers/get"), 1);
  });

  test("no token: the hook throws (OpenCode shows it) and the log names the provider and reason", async () => {
    const { hooks, logs } = await instance({ FAKE_FAIL: "acme" });
    await hooks.config(baseConfig());
    await assert.rejects(headersFor(hooks, "acme"), (e) => {
      assert.match(e.message, /^opencode-oauth2: provider "acme": login required$/);
      return true;
    });
    const l = logs.find((x) => x.level === "error" && /login required/.test(x.message));
    assert.deepEqual(l.extra, { providerID: "acme", reason: "login_required" });
  });

  test("the sidecar dies between calls: the next call restarts it and still gets headers", async () => {
    const { hooks, state, logs } = await instance({ FAKE_CACHE_MS: "none" });
    await hooks.config(baseConfig());
    await headersFor(hooks, "acme");
    const pid = Number((await events(state)).find((e) => e.startsWith("spawn")).split(" ")[1]);
    process.kill(pid, "SIGKILL");
    await waitFor(() => logs.some((l) => /killed by SIGKILL; it will be restarted/.test(l.message)), 5000, "exit log");
    assert.match((await headersFor(hooks, "acme")).Authorization, /^Bearer /);
    assert.equal(count(await events(state), "spawn"), 2);
  });
});

describe("notifications", () => {
  test("log goes to client.app.log; a prompt, as the sidecar words it (text, toast, toastMs), to a toast and stderr", async () => {
    const text = "To log in to Acme, open this URL and enter the code below:\n    https://idp.example/device\n    code: ABCD-EFGH";
    const notes = [
      { method: "log", params: { level: "warn", message: "opencode-oauth2: token expires soon", extra: { providerID: "acme" } } },
      {
        method: "prompt",
        params: { providerID: "acme", kind: "device_code", message: "To log in to Acme, open this URL and enter the code below:", url: "https://idp.example/device", userCode: "ABCD-EFGH", expiresAt: Date.now() + 60_000, text,
          toast: "To log in to Acme, open this URL and enter the code below:\nhttps://idp.example/device\ncode: ABCD-EFGH", toastMs: 60_000 },
      },
    ];
    const { hooks, logs, toasts } = await instance({ FAKE_NOTIFY_ON_APPLY: JSON.stringify(notes) });
    const writes = await capturingStderr(() => hooks.config(baseConfig()));
    assert.ok(logs.some((l) => l.level === "warn" && l.message === "opencode-oauth2: token expires soon" && l.extra.providerID === "acme"));
    assert.equal(toasts.length, 1);
    assert.equal(toasts[0].title, "Log in: acme");
    assert.equal(toasts[0].message, "To log in to Acme, open this URL and enter the code below:\nhttps://idp.example/device\ncode: ABCD-EFGH");
    assert.doesNotMatch(toasts[0].message, /Ctrl-C/, "a toast promises no key");
    assert.equal(toasts[0].duration, 60_000);
    assert.ok(writes.includes(`opencode-oauth2: acme: ${text}\n`), writes);
    assert.doesNotMatch(writes, /check/, "one instruction, not two");
  });
});

/** Runs fn with process.stderr.write captured; resolves what was written. */
async function capturingStderr(fn) {
  let writes = "";
  const orig = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => ((writes += String(chunk)), orig.call(process.stderr, chunk, ...rest));
  try {
    await fn();
  } finally {
    process.stderr.write = orig;
  }
  return writes;
}

describe("a silent happy path (no call into OpenCode unless something is wrong)", () => {
  test("a start with nothing wrong makes no client.app.log call; a warning still does", async () => {
    const quiet = await instance({ FAKE_MANAGED: "acme" });
    const cfg = baseConfig();
    delete cfg.logLevel;
    await quiet.hooks.config(cfg);
    await headersFor(quiet.hooks, "acme");
    // The fake's config/apply reports one broken provider: that is an error, so it is logged.
    assert.deepEqual(quiet.logs.map((l) => l.level), ["error"], JSON.stringify(quiet.logs));
    assert.equal(quiet.toasts.length, 0);

    const warned = await instance({ FAKE_NOTIFY_ON_APPLY: JSON.stringify([{ method: "log", params: { level: "info", message: "lifecycle" } }, { method: "log", params: { level: "warn", message: "careful" } }]) });
    await warned.hooks.config(cfg);
    assert.ok(warned.logs.some((l) => l.level === "warn" && /careful/.test(l.message)));
    assert.ok(!warned.logs.some((l) => /lifecycle/.test(l.message)), "info lines stay in the sidecar's own log");
  });

  test("at DEBUG, info lines reach OpenCode's log too", async () => {
    const { hooks, logs } = await instance({ FAKE_NOTIFY_ON_APPLY: JSON.stringify([{ method: "log", params: { level: "info", message: "lifecycle" } }]) });
    await hooks.config(baseConfig()); // logLevel: DEBUG
    assert.ok(logs.some((l) => l.level === "info" && /lifecycle/.test(l.message)));
  });
});

describe("first contact: providers that need a login", () => {
  test("without a terminal: one line on stderr, a toast and a warning name the command; no login runs", async () => {
    const { hooks, state, logs, toasts } = await instance({ FAKE_LOGINS: "acme" });
    const writes = await capturingStderr(() => hooks.config(baseConfig()));
    assert.match(writes, /opencode-oauth2: acme gateway \(acme\) is not logged in, so OpenCode cannot list its models; log in with: opencode auth login -p acme\n/);
    assert.ok(logs.some((l) => l.level === "warn" && /opencode auth login -p acme/.test(l.message)));
    assert.ok(toasts.some((t) => /opencode auth login -p acme/.test(t.message)));
    assert.equal(count(await events(state), "request login"), 0);
  });

  test("in a terminal: each login runs in turn, announced in the sidecar's words; a refused one does not stop the next", async () => {
    const { hooks, state } = await instance({ OPENCODE_OAUTH2_INTERACTIVE: "1", FAKE_MANAGED: "acme,beta", FAKE_LOGINS: "acme,beta", FAKE_LOGIN_FAIL: "acme" });
    const cfg = baseConfig();
    const writes = await capturingStderr(() => hooks.config(cfg));
    const evs = await events(state);
    assert.deepEqual(evs.filter((e) => e.startsWith("request login")), ['request login {"providerID":"acme"}', 'request login {"providerID":"beta"}']);
    assert.match(writes, /logging in to acme gateway \(acme\) \(1 of 2\) with your browser; Ctrl-C to skip/);
    assert.match(writes, /access_denied/);
    assert.match(writes, /logging in to beta gateway \(beta\) \(2 of 2\)/);
    assert.match(writes, /logged in to beta gateway \(beta\); 1 model\(s\) listed/);
    assert.deepEqual(cfg.provider.beta.models, { "after-login": { name: "After Login" } }, "listed in this same start");
    assert.deepEqual(cfg.provider.acme.models, { m1: { name: "M1" } });
  });

  test("in the full-screen TUI: the config hook does not wait; the login runs beside it, its prompt in a toast only; OpenCode reloads after it", async () => {
    const prompt = { method: "prompt", params: { providerID: "acme", kind: "browser", message: "To log in to Acme, open this URL:", url: "http://127.0.0.1:1/start/x", expiresAt: Date.now() + 60_000, text: "To log in to Acme, open this URL:\n    http://127.0.0.1:1/start/x\n    (waiting until 12:00:00; Ctrl-C cancels)", toast: "To log in to Acme, open this URL:\nhttp://127.0.0.1:1/start/x", toastMs: 60_000 } };
    const { hooks, state, toasts, reloads } = await instance(
      { OPENCODE_OAUTH2_INTERACTIVE: "1", FAKE_LOGINS: "acme", FAKE_LOGIN_MS: "1500", FAKE_LOGIN_PROMPT: "", FAKE_NOTIFY_ON_APPLY: JSON.stringify([prompt]) },
      { argv: [] },
    );
    const cfg = baseConfig();
    const writes = await capturingStderr(() => hooks.config(cfg));
    assert.equal(writes, "", "nothing is written to the TUI's terminal");
    assert.deepEqual(cfg.provider.acme.models, { m1: { name: "M1" } }, "the hook returned before the login ended (a blocking login lists its models in this start)");
    await waitFor(async () => count(await events(state), "request login") === 1, 5000, "the login runs");
    await waitFor(() => reloads.length === 1, 10_000, "OpenCode reloaded after the login");
    assert.ok(toasts.some((t) => t.title === "Log in: acme" && !/Ctrl-C/.test(t.message)), JSON.stringify(toasts));
    assert.ok(toasts.some((t) => t.title.startsWith("Logged in")), JSON.stringify(toasts));
  });

  test("Ctrl-C cancels the logins and OpenCode starts at once", async () => {
    const { hooks, state } = await instance({ OPENCODE_OAUTH2_INTERACTIVE: "1", FAKE_MANAGED: "acme,beta", FAKE_LOGINS: "acme,beta", FAKE_LOGIN_MS: "600000" });
    const cfg = baseConfig();
    const writes = await capturingStderr(async () => {
      const done = hooks.config(cfg);
      await waitFor(async () => count(await events(state), "request login") === 1, 5000, "the first login");
      process.emit("SIGINT");
      await done;
    });
    const evs = await events(state);
    assert.ok(evs.includes("request login/cancel {}"));
    assert.equal(count(evs, "request login "), 1, "the second login is not started");
    assert.match(writes, /Ctrl-C: the logins are cancelled/);
    assert.match(writes, /log in with: opencode auth login -p beta/);
    assert.equal(process.listenerCount("SIGINT"), 0, "the handler is removed");
  });
});

describe("OpenCode's auth hook (opencode auth login, the TUI's /connect)", () => {
  async function withArgv(extra, fn) {
    const saved = process.argv;
    process.argv = [...saved, ...extra];
    try {
      return await fn();
    } finally {
      process.argv = saved;
    }
  }

  test("provider: the gateway named by -p, else the only one, else the first needing a login, else a gateway prompt", async () => {
    const cases = [
      { argv: ["auth", "login", "-p", "beta"], logins: "acme,beta", want: "beta", prompts: 0 },
      { argv: ["auth", "login", "--provider=beta"], logins: "acme,beta", want: "beta", prompts: 0 },
      { argv: ["auth", "login", "-p", "unknown"], logins: "beta", want: "beta", prompts: 0 },
      { argv: ["auth", "login"], logins: "beta", want: "beta", prompts: 0 },
      { argv: ["auth", "login"], logins: "acme", extraTimeouts: false, want: "acme", prompts: 0 },
    ];
    for (const c of cases) {
      await withArgv(c.argv, async () => {
        const { hooks } = await instance({ FAKE_MANAGED: "acme,beta", FAKE_LOGINS: c.logins });
        await hooks.config(baseConfig());
        assert.equal(hooks.auth.provider, c.want, JSON.stringify(c));
        assert.deepEqual(hooks.auth.methods.map((m) => m.label), ["Browser", "Device code", "Browser on another machine"]);
        assert.equal(hooks.auth.methods[0].prompts.length, c.prompts);
      });
    }
  });

  test("the login starts at authorize, whose URL and text OpenCode shows; the callback stores a placeholder under the gateway", async () => {
    await withArgv(["auth", "login", "-p", "acme", "-m", "Device code"], async () => {
      const { hooks, state, toasts } = await instance({ FAKE_LOGINS: "acme", FAKE_LOGIN_PROMPT: "1", FAKE_LOGIN_MS: "50" });
      await hooks.config(baseConfig());
      let result;
      const writes = await capturingStderr(async () => {
        const auth = await hooks.auth.methods[1].authorize({});
        assert.equal(auth.url, "https://idp.example/device");
        assert.match(auth.instructions, /code: WXYZ-1234/);
        assert.equal(auth.method, "auto");
        result = await auth.callback();
      });
      assert.deepEqual(result, { type: "success", provider: "acme", key: "opencode-oauth2-managed" });
      assert.ok((await events(state)).includes('request login {"providerID":"acme","flow":"device_code"}'));
      assert.doesNotMatch(writes, /WXYZ-1234/, "OpenCode shows the prompt; the plugin does not repeat it");
      assert.equal(toasts.length, 0);
      assert.match(writes, /logged in to acme gateway/);
    });
  });

  test("a refused login: authorize says why, the callback fails", async () => {
    await withArgv(["auth", "login", "-p", "acme"], async () => {
      const { hooks } = await instance({ FAKE_LOGINS: "acme", FAKE_LOGIN_FAIL: "acme" });
      await hooks.config(baseConfig());
      await capturingStderr(async () => {
        const auth = await hooks.auth.methods[0].authorize({});
        assert.match(auth.instructions, /access_denied/);
        assert.deepEqual(await auth.callback(), { type: "failed" });
      });
    });
  });

  test("inside opencode auth login, the config hook starts no login of its own", async () => {
    await withArgv(["auth", "login"], async () => {
      const { hooks, state } = await instance({ OPENCODE_OAUTH2_INTERACTIVE: "1", FAKE_LOGINS: "acme" });
      const writes = await capturingStderr(() => hooks.config(baseConfig()));
      assert.equal(count(await events(state), "request login"), 0);
      assert.doesNotMatch(writes, /is not logged in/);
    });
  });
});

describe("dispose", () => {
  test("sends shutdown and the sidecar is gone", async () => {
    const { hooks, state } = await instance();
    await hooks.config(baseConfig());
    const pid = Number((await events(state)).find((e) => e.startsWith("spawn")).split(" ")[1]);
    await hooks.dispose();
    assert.ok((await events(state)).includes("request shutdown {}"));
    assert.equal(isAlive(pid), false);
  });

  test("dispose waits for log calls still in flight (OpenCode serves them late at start-up)", async () => {
    const { hooks, logs } = await instance({}, { binary: "/nonexistent/opencode-oauth2", logDelayMs: 500 });
    await hooks.config(baseConfig());
    assert.equal(logs.length, 0);
    await hooks.dispose();
    assert.ok(logs.some((l) => l.level === "error" && /no provider was registered/.test(l.message)), JSON.stringify(logs));
  });

  test("dispose without a sidecar is a no-op", async () => {
    const { hooks } = await instance();
    await hooks.dispose();
  });
});

describe("the hot path", () => {
  // Its cost is measured by js-shim/bench/bench.mjs (docs/performance.md), not
  // asserted here: timings on a shared machine are noise.
  test("a cache hit and an unmanaged provider are answered synchronously, without an RPC", async () => {
    const { hooks, state } = await instance({ FAKE_CACHE_MS: "3600000" });
    await hooks.config(baseConfig());
    await headersFor(hooks, "acme");
    const before = count(await events(state), "request headers/get");
    for (const id of ["acme", "plain"]) {
      const out = { headers: {} };
      const p = hooks["chat.headers"](chatInput(id), out);
      // Set before any await: nothing was left for a later tick.
      assert.deepEqual(Object.keys(out.headers), id === "acme" ? ["Authorization"] : []);
      await p;
    }
    assert.equal(count(await events(state), "request headers/get"), before);
  });
});
