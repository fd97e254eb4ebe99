// End to end, the full-screen TUI of the REAL OpenCode 1.18.33 in a real terminal (tmux):
// a first start with an authorization_code provider that needs a login, and nobody at the
// browser, draws OpenCode's screen at once (the login runs beside it, no key promised);
// signing in afterwards in the real headless Chromium makes the provider's models appear
// in that running OpenCode (its model list, opened with /models, shows them).
//
// The build outputs must exist (`task test:shim` builds them); tmux comes from Debian.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import * as stack from "../../examples/test-stack/harness.mjs";

const recorder = fileURLToPath(new URL("../test-support/record-url.sh", import.meta.url));
const chromiumLogin = fileURLToPath(new URL("../../go/internal/oauth/testdata/chromium-login.mjs", import.meta.url));
const session = `oc-oauth2-tui-${process.pid}`;
let as;
let gw;
let oc;

const tmux = (...args) => execFileSync("tmux", args, { encoding: "utf8" });
const screen = () => tmux("capture-pane", "-p", "-t", session);

async function until(what, check, ms) {
  const t0 = Date.now();
  for (;;) {
    const got = check();
    if (got) return got;
    if (Date.now() - t0 > ms) throw new Error(`${what} within ${ms / 1000} s; the screen:\n${screen()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  stack.requireBuilt(["shim", "sidecar", "opencode"]);
  as = await stack.startAuthServer({ AUTO_LOGIN: "0" });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: ["tui-model-one"] });
});
after(async () => {
  try {
    tmux("kill-session", "-t", session);
  } catch {
    /* not running */
  }
  await stack.stop();
});

test("the TUI is drawn at once while a login waits; after signing in, the models appear in the running OpenCode", { timeout: 240_000 }, async () => {
  const urlFile = `${await stack.makeTmp("oc-oauth2-tui-")}/url`;
  oc = await stack.isolatedOpenCode({
    config: {
      provider: {
        corp: { name: "Corp", options: { baseURL: gw.baseURL, oauth2: { issuer: as.issuer, clientId: "code-public", scopes: ["openid", "offline_access", "gateway"] } } },
      },
    },
    // A person at a terminal (the plugin tells by the terminal itself), nobody at the browser.
    env: { OPENCODE_OAUTH2_INTERACTIVE: "", OPENCODE_OAUTH2_BROWSER: `${recorder} ${urlFile}` },
  });
  const env = Object.entries({ ...oc.env, TERM: "xterm-256color" }).map(([k, v]) => `${k}=${v}`);
  tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", "-c", oc.dirs.project, "env", "-u", "CI", ...env, stack.paths.opencode);

  // Drawn at once: OpenCode's prompt is on the screen, though the login waits.
  await until("the TUI's screen is not drawn", () => /ctrl\+p|tab|agents|Build/i.test(screen()) && existsSync(urlFile), 30_000);
  assert.doesNotMatch(screen(), /Ctrl-C cancels|waiting until/, "no line promises a key that does not work in the TUI");

  // Somebody signs in now, in the real headless Chromium, at the URL the login opened.
  const url = readFileSync(urlFile, "utf8").trim();
  const result = `${urlFile}.result`;
  execFileSync(process.execPath, [chromiumLogin, result, url], { timeout: 120_000 });
  assert.equal(JSON.parse(readFileSync(result, "utf8")).ok, true, "Chromium reached the success page");

  // The models appear in this running OpenCode: its model list (commands, "Switch
  // model", searched for "tui") shows them.
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  const t0 = Date.now();
  for (;;) {
    tmux("send-keys", "-t", session, "Escape");
    await pause(300);
    tmux("send-keys", "-t", session, "Escape");
    await pause(300);
    tmux("send-keys", "-t", session, "C-p");
    await pause(800);
    tmux("send-keys", "-t", session, "-l", "Switch model");
    await pause(800);
    tmux("send-keys", "-t", session, "Enter");
    await pause(1200);
    tmux("send-keys", "-t", session, "-l", "tui");
    await pause(1200);
    if (/Tui Model One/i.test(screen())) break;
    if (Date.now() - t0 > 60_000) assert.fail(`the provider's model is not listed in the running OpenCode; the screen:\n${screen()}`);
    await pause(2000);
  }
});
