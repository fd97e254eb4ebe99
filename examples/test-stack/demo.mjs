#!/usr/bin/env node
// The whole thing, locally: an OAuth2 authorization server, an LLM gateway that accepts
// only its tokens, and the real OpenCode with this plugin, unattended
// (client_credentials). Run it with `task demo` (which builds first):
//
//   go run github.com/go-task/task/v3/cmd/task@v3.54.0 demo
//
// Everything runs on 127.0.0.1 in a temporary HOME; every process it starts is stopped
// and every temp dir removed at the end, on an error, and on Ctrl-C.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import * as stack from "./harness.mjs";

const PROVIDER = "local-gateway";
const RUN_TIMEOUT_MS = 120_000;
const DEMO_DEADLINE_MS = 8 * 60_000;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (s) => (color ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (color ? `\x1b[2m${s}\x1b[0m` : s);
const red = (s) => (color ? `\x1b[31m${s}\x1b[0m` : s);
const green = (s) => (color ? `\x1b[32m${s}\x1b[0m` : s);

let stepNo = 0;
const STEPS = 6;
const step = (what) => console.log(`\n${bold(`[${++stepNo}/${STEPS}] ${what}`)}`);
const say = (s = "") => console.log(s.replace(/^/gm, "      "));
const shell = (s) => say(dim(`$ ${s}`));
const rel = (p) => relative(process.cwd(), p) || ".";
const took = (r) => say(dim(`(${(r.ms / 1000).toFixed(1)} s)`));

// ---------------------------------------------------------------------------
// cleanup, also on Ctrl-C and on a stuck step

let cleaning = null;
function cleanup() {
  cleaning ??= stack.stop();
  return cleaning;
}
async function abort(message, code) {
  console.error(`\n${red(message)}`);
  console.log("Cleaning up…");
  await cleanup();
  console.log("Stopped everything and removed the temp dirs.");
  process.exit(code);
}
process.once("SIGINT", () => abort("Interrupted.", 130));
process.once("SIGTERM", () => abort("Terminated.", 143));
process.once("SIGHUP", () => abort("Hung up.", 129));
process.on("exit", () => stack.killAllSync());
setTimeout(() => abort(`The demo did not finish within ${DEMO_DEADLINE_MS / 60_000} minutes.`, 1), DEMO_DEADLINE_MS).unref();

// ---------------------------------------------------------------------------

/** The sidecar's subcommands, from `opencode-oauth2 --help`. */
async function sidecarCommands() {
  const r = await stack.runCommand(stack.paths.sidecar, ["--help"], { timeoutMs: 10_000 }).catch(() => null);
  const text = `${r?.stdout ?? ""}\n${r?.stderr ?? ""}`;
  // "  models <provider>   ..." (or "  opencode-oauth2 models ..." in older builds)
  return new Set([...text.matchAll(/^ {2}(?:opencode-oauth2 )?([a-z][a-z-]*)(?=\s)/gm)].map((m) => m[1]));
}

/** Models the plugin has cached for a provider (its state file), or []. */
function cachedModels(dir) {
  try {
    for (const f of readdirSync(dir)) {
      if (!f.startsWith(`${PROVIDER}-`) || !f.endsWith(".json")) continue;
      const models = JSON.parse(readFileSync(join(dir, f), "utf8")).models;
      if (Array.isArray(models) && models.length > 0) return models;
    }
  } catch {
    /* not written yet */
  }
  return [];
}

function lines(s) {
  return s.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
}

/** The readable part of a failed OpenCode run. */
function failure(r) {
  // eslint-disable-next-line no-control-regex
  const text = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, "");
  return lines(text).slice(-8).join("\n");
}

async function main() {
  try {
    stack.requireBuilt(["shim", "sidecar", "opencode"]);
  } catch (e) {
    console.error(`${e.message}\nRun the demo with: go run github.com/go-task/task/v3/cmd/task@v3.54.0 demo (it builds first).`);
    process.exit(2);
  }
  const t0 = Date.now();
  console.log(bold("opencode-oauth2 demo: OpenCode talks to an OAuth2-protected LLM gateway, with no API key in its config."));

  step("Starting the authorization server (npm oidc-provider, examples/test-stack/authserver.mjs)");
  const as = await stack.startAuthServer();
  say(`issuer: ${as.issuer}`);

  step("Starting the LLM gateway (go/tools/test-gateway): OpenAI-compatible, accepts only that server's tokens");
  const gw = await stack.startGateway({ issuer: as.issuer, models: 3 });
  say(`base URL: ${gw.baseURL}`);
  const anon = await fetch(`${gw.baseURL}/models`, { signal: AbortSignal.timeout(10_000) });
  say(`without a token, GET /v1/models answers: HTTP ${anon.status}`);

  step(`Configuring an isolated OpenCode (temporary HOME) with the plugin and provider "${PROVIDER}"`);
  const client = stack.clients.ccBasic; // test data committed in examples/test-stack
  const provider = {
    name: "Local OAuth Gateway",
    options: {
      baseURL: gw.baseURL,
      oauth2: {
        issuer: as.issuer,
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        clientAuthMethod: client.clientAuthMethod,
        authFlow: "client_credentials",
        scopes: ["api:read"],
      },
    },
  };
  const pluginSpec = pathToFileURL(stack.paths.shim).href;
  const oc = await stack.isolatedOpenCode({ config: { plugin: [pluginSpec], provider: { [PROVIDER]: provider } } });
  say(`opencode.json (no models listed, no API key; the secret is the stack's test client):`);
  say(dim(JSON.stringify({ plugin: [pluginSpec], provider: { [PROVIDER]: provider } }, null, 2)));

  step(`Listing the provider's models: the plugin discovers them from the gateway's /v1/models`);
  const commands = await sidecarCommands();
  let warmed = false;
  if (commands.has("models")) {
    say("OpenCode reads models only when it starts and the plugin fetches them in the background;");
    say("the CLI fetches them now, so this first OpenCode start lists them already.");
    shell(`opencode-oauth2 models ${PROVIDER} --refresh`);
    const r = await oc.exec(stack.paths.sidecar, ["models", PROVIDER, "--refresh"], { timeoutMs: 60_000 });
    if (r.code === 0) {
      warmed = true;
      say(lines(r.stdout).join("\n"));
      took(r);
    } else {
      say(`(that did not work, exit ${r.code}: ${lines(r.stderr).slice(-1)[0] ?? ""}; using two OpenCode starts instead)`);
    }
  }
  if (!warmed) {
    say("OpenCode reads models only when it starts, and the plugin fetches them in the background,");
    say("so the first start registers the provider and the second one lists the models.");
    shell(`opencode models ${PROVIDER}    # first start`);
    const first = await oc.run(["models", PROVIDER], { timeoutMs: RUN_TIMEOUT_MS });
    const listed = lines(first.stdout);
    say(listed.length ? listed.join("\n") : "(no models yet: OpenCode does not list a provider without models)");
    took(first);
    const deadline = Date.now() + 20_000;
    while (cachedModels(oc.dirs.oauth2Cache).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (cachedModels(oc.dirs.oauth2Cache).length === 0) throw new Error(`the plugin did not cache any model of ${PROVIDER}; OpenCode said:\n${failure(first)}`);
  }
  shell(`opencode models ${PROVIDER}`);
  const listing = await oc.run(["models", PROVIDER], { timeoutMs: RUN_TIMEOUT_MS });
  const models = lines(listing.stdout).filter((l) => l.startsWith(`${PROVIDER}/`));
  if (listing.code !== 0 || models.length === 0) throw new Error(`opencode models ${PROVIDER} listed nothing (exit ${listing.code}):\n${failure(listing)}`);
  say(green(models.join("\n")));
  took(listing);

  const model = models.find((m) => m.endsWith("/gpt-4o-mini")) ?? models[0];
  step(`Asking ${model} a question through OpenCode`);
  shell(`opencode run --model ${model} "Say hello"`);
  await gw.resetStats();
  const answer = await oc.run(["run", "--model", model, "Say hello"], { timeoutMs: RUN_TIMEOUT_MS });
  if (answer.code !== 0 || !answer.stdout.includes("Hello from the OAuth gateway")) {
    throw new Error(`opencode run failed (exit ${answer.code}):\n${failure(answer)}`);
  }
  say(green(lines(answer.stdout).join("\n")));
  took(answer);
  const gs = await gw.stats();
  const ts = await as.stats();
  say(`The gateway accepted ${gs.authorized} request(s) with a bearer token for "${gs.last_subject}" and refused ${gs.unauthorized};`);
  say(`the authorization server answered ${ts.client_credentials ?? 0} client_credentials token request(s) in this demo.`);

  step("The plugin's view of its providers");
  if (commands.has("status")) {
    shell("opencode-oauth2 status");
    const st = await oc.exec(stack.paths.sidecar, ["status"], { timeoutMs: 30_000 });
    say(lines(st.stdout + (st.code === 0 ? "" : st.stderr)).join("\n"));
  } else {
    say(`(this build of ${rel(stack.paths.sidecar)} has no "status" command yet; the token cache is in ${oc.dirs.oauth2Cache}:)`);
    for (const f of readdirSync(oc.dirs.oauth2Cache)) say(`  ${f}`);
  }

  console.log(`\nCleaning up…`);
  await cleanup();
  const leftover = existsSync(oc.dirs.root);
  console.log(`${bold("Done")} in ${((Date.now() - t0) / 1000).toFixed(0)} s: servers and OpenCode stopped, temp dirs ${leftover ? "NOT all removed" : "removed"}.`);
}

main().catch(async (e) => {
  await abort(`Demo failed: ${e.message}`, 1);
});
