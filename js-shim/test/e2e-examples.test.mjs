// End to end, THE EXAMPLES AS FILES (issue 10): each unattended example of examples/
// (client_credentials, jwt_bearer from GitHub Actions, token_exchange from a Kubernetes
// service-account token) is loaded from its opencode.json and run with the REAL OpenCode,
// the built plugin (js-shim/dist/index.js), the real sidecar, the real authorization
// server (examples/test-stack/authserver.mjs) and the test gateway (bin/test-gateway).
//
// Each example gets a small, explicit rewrite function that changes only what must point
// at the local stack: the plugin (the local build instead of the npm name), the issuer,
// baseURL, the client (the stack's test client with the same authentication method),
// resource / audiences, and where the subject token comes from. Every other field stays as
// the example has it (a final check proves that no *.example.com value survives and that
// nothing else changed), so a passing run proves the example's shape works. A rewrite
// fails with a message naming the file and the field when an example's shape changed.
//
// The examples' {env:...} references stay in the config: OpenCode substitutes them from
// the environment this test gives it, as it would for a user.
//
//   github_actions: a local HTTP server on 127.0.0.1 stands in for GitHub's OIDC token
//     endpoint (ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN): it checks
//     the bearer request token and the audience query parameter, and answers
//     {"value": <a subject token minted with the stack's external key>}.
//   kubernetes_sa: a minted token is written to a temp file that tokenPath names.
//
// One authorization server and one gateway are shared; each example has its own isolated
// OpenCode home (all use the provider id "corp-llm"). The build outputs must exist (`task
// test:shim` builds them); this file never builds the plugin or the sidecar.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import * as stack from "../../examples/test-stack/harness.mjs";

const EXAMPLES = join(stack.repoRoot, "examples");
const PACKAGE_NAME = JSON.parse(readFileSync(join(stack.repoRoot, "package.json"), "utf8")).name;
// The examples' model; the gateway serves exactly this id.
const GATEWAY_MODEL = "gpt-4o-mini";
// The examples ask for "llm.invoke"; the stack's resource must know it, or the scope is
// refused (client_credentials) or dropped (jwt-bearer, token exchange).
const RESOURCE_SCOPES = "api:read api:write llm.invoke";
const RUN_TIMEOUT_MS = 120_000; // hard deadline of one OpenCode run (the harness kills it)
const TEST_TIMEOUT_MS = RUN_TIMEOUT_MS + 30_000;
const GITHUB_SUBJECT = "repo:example-org/example-repo:ref:refs/heads/main";
const K8S_SUBJECT = "system:serviceaccount:ci:opencode";

let as;
let gw;
const secrets = {}; // what must never reach OpenCode's output or log, by description

// ---------------------------------------------------------------------------
// examples and their rewrites

/** examples/<name> as text and JSON, and the {env:NAME} variables it uses. */
function loadExample(name) {
  const raw = readFileSync(join(EXAMPLES, name), "utf8");
  const envVars = [...new Set([...raw.matchAll(/\{env:([^}]+)\}/g)].map((m) => m[1]))].sort();
  return { name, raw, json: JSON.parse(raw), envVars };
}

/**
 * A rewriter for one example: get(path, check) returns a field that must pass check,
 * set(path, value, check) replaces one, add(path, value) adds one that must be absent.
 * Every failure names the example and the field. done() checks that nothing outside
 * the rewritten paths changed and that no placeholder host (*.example.com) survived.
 */
function rewriter(example) {
  const config = structuredClone(example.json);
  const touched = new Set();
  const fail = (path, msg) =>
    assert.fail(`examples/${example.name}: ${path}: ${msg}; the example's shape changed, update its rewrite in ${import.meta.url.split("/").pop()}`);
  const walk = (path, create) => {
    const keys = path.split(".");
    let o = config;
    for (const k of keys.slice(0, -1)) {
      if (o[k] === undefined && create) o[k] = {};
      if (typeof o[k] !== "object" || o[k] === null || Array.isArray(o[k])) fail(path, `${k} is not an object`);
      o = o[k];
    }
    return [o, keys.at(-1)];
  };
  const get = (path, check = (v) => v !== undefined, expected = "present") => {
    const [o, k] = walk(path, false);
    if (!check(o[k])) fail(path, `expected ${expected}, found ${o[k] === undefined ? "nothing" : JSON.stringify(o[k])}`);
    return o[k];
  };
  return {
    config,
    get,
    /** Replaces the field at path (which must pass check) with value. */
    set(path, value, check = (v) => typeof v === "string" && v !== "", expected = "a non-empty string") {
      get(path, check, expected);
      const [o, k] = walk(path, false);
      o[k] = value;
      touched.add(path);
    },
    /** Adds a field the example does not have (it relies on a default that cannot work here). */
    add(path, value) {
      const [o, k] = walk(path, true);
      if (o[k] !== undefined) fail(path, `expected absent (this test adds it), found ${JSON.stringify(o[k])}`);
      o[k] = value;
      touched.add(path);
    },
    done() {
      const flat = (v, p = "", out = new Map()) => {
        if (typeof v === "object" && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flat(x, p ? `${p}.${k}` : k, out);
        else out.set(p, JSON.stringify(v));
        return out;
      };
      const was = flat(example.json);
      const now = flat(config);
      const under = (p) => [...touched].some((t) => p === t || p.startsWith(`${t}.`));
      for (const [p, v] of was) if (!under(p)) assert.equal(now.get(p), v, `examples/${example.name}: ${p} must stay as the example has it`);
      for (const p of now.keys()) if (!was.has(p) && !under(p)) assert.fail(`examples/${example.name}: ${p} was added but not declared`);
      for (const [p, v] of now) {
        if (/example\.(com|org)/.test(v)) fail(p, `the placeholder ${v} is not rewritten to the local stack (a new URL field?)`);
      }
      return config;
    },
  };
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const isURL = (v) => typeof v === "string" && URL.canParse(v);
const OAUTH = "provider.corp-llm.options.oauth2";

/** What every example shares: the plugin (the local build), baseURL and issuer. */
function rewriteCommon(r) {
  r.set("plugin", [pathToFileURL(stack.paths.shim).href], (v) => Array.isArray(v) && v.length === 1 && v[0] === PACKAGE_NAME, `["${PACKAGE_NAME}"]`);
  r.set("provider.corp-llm.options.baseURL", gw.baseURL, isURL, "a URL");
  r.set(`${OAUTH}.issuer`, as.issuer, isURL, "a URL");
}

/**
 * The client secret of the examples is {env:VAR}; the test gives VAR the stack client's
 * secret and checks that the example uses no other variable.
 */
function secretEnv(example, r, secret) {
  const ref = r.get(`${OAUTH}.clientSecret`, (v) => typeof v === "string" && /^\{env:[^}]+\}$/.test(v), '"{env:VAR}"');
  const name = ref.slice(5, -1);
  assert.deepEqual(example.envVars, [name], `examples/${example.name}: the {env:...} variables it uses`);
  return { [name]: secret };
}

/** examples/client-credentials.json: the confidential client → cc-basic (same auth method). */
function rewriteClientCredentials(example) {
  const r = rewriter(example);
  rewriteCommon(r);
  const { ccBasic } = stack.clients;
  r.get(`${OAUTH}.authFlow`, (v) => v === "client_credentials", '"client_credentials"');
  r.get(`${OAUTH}.clientAuthMethod`, (v) => v === ccBasic.clientAuthMethod, JSON.stringify(ccBasic.clientAuthMethod));
  r.set(`${OAUTH}.clientId`, ccBasic.clientId);
  r.set(`${OAUTH}.resource`, as.audience, isURL, "a URL (the gateway's resource indicator)");
  const env = secretEnv(example, r, ccBasic.clientSecret);
  return { config: r.done(), env, subject: ccBasic.clientId, clientId: ccBasic.clientId, grant: "client_credentials" };
}

/**
 * examples/jwt-bearer-github-actions.json: the example's client is PUBLIC (no secret);
 * the stack's only jwt-bearer client, exchange-client, is confidential
 * (client_secret_basic), so this rewrite has to ADD a clientSecret (as {env:...}).
 * The GitHub audience is the example's issuer: it becomes the local issuer, which the
 * authorization server accepts as the assertion's `aud`.
 */
function rewriteJwtBearerGitHubActions(example, github) {
  const r = rewriter(example);
  const exampleIssuer = r.get(`${OAUTH}.issuer`);
  rewriteCommon(r);
  const { exchange } = stack.clients;
  r.get(`${OAUTH}.authFlow`, (v) => v === "jwt_bearer", '"jwt_bearer"');
  r.get(`${OAUTH}.subjectTokenSource.type`, (v) => v === "github_actions", '"github_actions"');
  r.set(`${OAUTH}.clientId`, exchange.clientId);
  r.set(`${OAUTH}.subjectTokenSource.audience`, as.issuer, (v) => v === exampleIssuer, `the example's issuer (${exampleIssuer})`);
  r.get("provider.corp-llm.models", (v) => typeof v === "object" && v !== null && GATEWAY_MODEL in v, `a models object with "${GATEWAY_MODEL}"`);
  assert.deepEqual(example.envVars, [], `examples/${example.name}: the {env:...} variables it uses`);
  r.add(`${OAUTH}.clientSecret`, "{env:E2E_EXCHANGE_CLIENT_SECRET}");
  const env = {
    E2E_EXCHANGE_CLIENT_SECRET: exchange.clientSecret,
    ACTIONS_ID_TOKEN_REQUEST_URL: github.requestURL,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: github.requestToken,
  };
  return {
    config: r.done(),
    env,
    subject: GITHUB_SUBJECT,
    clientId: exchange.clientId,
    grant: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    diagnose: () => `GitHub OIDC endpoint emulator: ${JSON.stringify(github.requests)}`,
  };
}

/**
 * examples/token-exchange-kubernetes.json: opencode-k8s → exchange-client (both
 * client_secret_basic by default), tokenExchangeAudience → the gateway's audience, and
 * kubernetes_sa reads the minted token from tokenPath (the example relies on the default
 * path, /var/run/secrets/tokens/oauth2/token, which a test cannot write).
 */
function rewriteTokenExchangeKubernetes(example, tokenPath) {
  const r = rewriter(example);
  rewriteCommon(r);
  const { exchange } = stack.clients;
  r.get(`${OAUTH}.authFlow`, (v) => v === "token_exchange", '"token_exchange"');
  r.get(`${OAUTH}.subjectTokenSource.type`, (v) => v === "kubernetes_sa", '"kubernetes_sa"');
  r.get(`${OAUTH}.clientAuthMethod`, (v) => v === undefined || v === exchange.clientAuthMethod, `absent or ${JSON.stringify(exchange.clientAuthMethod)}`);
  r.set(`${OAUTH}.clientId`, exchange.clientId);
  r.set(`${OAUTH}.tokenExchangeAudience`, as.audience);
  r.get("provider.corp-llm.models", (v) => typeof v === "object" && v !== null && GATEWAY_MODEL in v, `a models object with "${GATEWAY_MODEL}"`);
  const source = r.get(`${OAUTH}.subjectTokenSource`);
  if (source.tokenPath === undefined) r.add(`${OAUTH}.subjectTokenSource.tokenPath`, tokenPath);
  else r.set(`${OAUTH}.subjectTokenSource.tokenPath`, tokenPath);
  const env = secretEnv(example, r, exchange.clientSecret);
  return {
    config: r.done(),
    env,
    subject: K8S_SUBJECT,
    clientId: exchange.clientId,
    grant: "urn:ietf:params:oauth:grant-type:token-exchange",
  };
}

// ---------------------------------------------------------------------------
// GitHub's OIDC token endpoint, emulated

/**
 * A stand-in for the GitHub Actions runtime's ID-token endpoint on 127.0.0.1. Like
 * GitHub, the request URL carries api-version; the sidecar adds `audience`. Resolves
 * {requestURL, requestToken, requests: [{ok, why}], minted: [jwt], close()}.
 */
async function startGitHubOIDC({ audience, subject }) {
  const requestToken = `ghs-e2e-${randomBytes(16).toString("hex")}`;
  const requests = [];
  const minted = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const refuse = (status, why) => {
      requests.push({ ok: false, why });
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ message: why }));
    };
    if (req.method !== "GET" || url.pathname !== "/_apis/e2e/idtoken") return refuse(404, `unexpected ${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${requestToken}`) return refuse(401, "wrong or missing bearer request token");
    if (url.searchParams.get("api-version") !== "2.0") return refuse(400, "the api-version query parameter of ACTIONS_ID_TOKEN_REQUEST_URL was lost");
    if (url.searchParams.get("audience") !== audience) return refuse(400, `audience ${JSON.stringify(url.searchParams.get("audience"))}, expected ${audience}`);
    try {
      const value = await stack.mintSubjectToken({ subject, audience, ttlSeconds: 300 });
      minted.push(value);
      requests.push({ ok: true });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ count: value.length, value }));
    } catch (e) {
      refuse(500, `minting failed: ${e.message}`);
    }
  });
  server.keepAliveTimeout = 1_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    requestURL: `http://127.0.0.1:${port}/_apis/e2e/idtoken?api-version=2.0`,
    requestToken,
    requests,
    minted,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// lifecycle and assertions

let github;

// Generous: the harness may have to build bin/test-gateway (bounded at 300 s itself).
before(async () => {
  try {
    stack.requireBuilt(["shim", "sidecar", "opencode"]);
  } catch (e) {
    throw new Error(`${e.message}\nBuild first: go run github.com/go-task/task/v3/cmd/task@v3.54.0 build (task test:shim does it).`);
  }
  as = await stack.startAuthServer({ RESOURCE_SCOPES });
  gw = await stack.startGateway({ issuer: as.issuer, modelIds: [GATEWAY_MODEL], chunkDelay: "5ms" });
  secrets["cc-basic secret"] = stack.clients.ccBasic.clientSecret;
  secrets["exchange-client secret"] = stack.clients.exchange.clientSecret;
}, { timeout: 360_000 });

after(async () => {
  await github?.close();
  await stack.stop();
}, { timeout: 30_000 });

function assertNoSecrets(text) {
  for (const [what, value] of Object.entries(secrets)) {
    for (const v of [value].flat()) assert.ok(!text.includes(v), `the ${what} reached OpenCode's output or log`);
  }
}

async function assertNothingLeftRunning(oc) {
  const deadline = Date.now() + 10_000;
  while (oc.processes().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(oc.processes(), [], "no OpenCode or sidecar process outlives the run");
}

/**
 * Runs `opencode run --model corp-llm/<model> "say hi"` with the rewritten example in a
 * fresh isolated OpenCode and checks that the gateway answered the expected subject.
 */
async function runExample(name, c) {
  const oc = await stack.isolatedOpenCode({ config: c.config, env: c.env });
  try {
    await Promise.all([gw.resetStats(), as.resetStats()]);
    const model = `corp-llm/${GATEWAY_MODEL}`;
    const run = await oc.run(["run", "--model", model, "say hi"], { timeoutMs: RUN_TIMEOUT_MS, printLogs: true });
    const log = run.log;
    console.log(`# ${name}: opencode run --model ${model}: exit ${run.code} in ${(run.ms / 1000).toFixed(1)} s`);
    const output = `${run.stdout}\n${run.stderr}\n${log}`;
    assertNoSecrets(output);
    const more = c.diagnose ? `\n${c.diagnose()}` : "";
    assert.equal(run.code, 0, `exit code; stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog (tail):\n${log.slice(-4000)}${more}`);
    assert.match(run.stdout, new RegExp(`^Hello from the OAuth gateway, ${escapeRegExp(c.subject)}!$`, "m"), `stdout:\n${run.stdout}`);
    // The plugin took the example without a problem and manages its provider.
    assert.doesNotMatch(log, /opencode-oauth2: provider \\?"corp-llm\\?"/, `log:\n${log.slice(-4000)}`);
    const sidecarLog = await oc.sidecarLog();
    assert.match(sidecarLog, /"msg":"configuration applied","managed":\["corp-llm"\],"problems":0/, sidecarLog.slice(-4000));
    const stats = await gw.stats();
    assert.equal(stats.last_subject, c.subject, `gateway stats: ${JSON.stringify(stats)}`);
    assert.equal(stats.last_client_id, c.clientId, `gateway stats: ${JSON.stringify(stats)}`);
    assert.equal(stats.last_scope, "llm.invoke", `the example's scopes reach the token: ${JSON.stringify(stats)}`);
    assert.equal(stats.last_model, GATEWAY_MODEL, `gateway stats: ${JSON.stringify(stats)}`);
    assert.equal(stats.unauthorized, 0, `the gateway refused a request: ${JSON.stringify(stats)}`);
    const asStats = await as.stats();
    assert.ok(asStats[c.grant] >= 1, `the token endpoint saw no ${c.grant} request: ${JSON.stringify(asStats)}`);
    assert.deepEqual(Object.keys(asStats).filter((k) => k.startsWith("error:")), [], `token endpoint errors: ${JSON.stringify(asStats)}`);
    await assertNothingLeftRunning(oc);
    assertNoSecrets(sidecarLog);
    return { run, log, sidecarLog };
  } finally {
    await oc.stop();
  }
}

describe("the unattended examples, as files, through the real OpenCode", () => {
  test("examples/client-credentials.json (no models declared: found at first start)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const example = loadExample("client-credentials.json");
    assert.equal(example.json.provider?.["corp-llm"]?.models, undefined, "the example declares no models; the sidecar lists them at first start");
    const { sidecarLog } = await runExample(example.name, rewriteClientCredentials(example));
    // The model came from the gateway's /v1/models during the sidecar's start-up budget.
    assert.match(sidecarLog, /"msg":"sidecar started"/, "the sidecar's log is written");
    assert.doesNotMatch(sidecarLog, /no models known yet for this provider/, "the first start did not list the models in time");
  });

  test("examples/jwt-bearer-github-actions.json (GitHub's OIDC token endpoint emulated)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const example = loadExample("jwt-bearer-github-actions.json");
    github = await startGitHubOIDC({ audience: as.issuer, subject: GITHUB_SUBJECT });
    secrets["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = github.requestToken;
    secrets["GitHub OIDC tokens"] = github.minted; // filled as they are minted
    try {
      await runExample(example.name, rewriteJwtBearerGitHubActions(example, github));
      assert.ok(github.requests.length >= 1, "the sidecar never asked the GitHub OIDC endpoint");
      assert.deepEqual(github.requests.filter((q) => !q.ok), [], "requests the GitHub OIDC endpoint refused");
    } finally {
      await github.close();
      github = undefined;
    }
  });

  test("examples/token-exchange-kubernetes.json (service-account token in a file)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const example = loadExample("token-exchange-kubernetes.json");
    const dir = await stack.makeTmp("oc-oauth2-e2e-k8s-");
    const tokenPath = join(dir, "token");
    const token = await stack.mintSubjectToken({ subject: K8S_SUBJECT, audience: as.issuer, ttlSeconds: 900 });
    secrets["service-account token"] = token;
    await writeFile(tokenPath, token, { mode: 0o600 });
    await runExample(example.name, rewriteTokenExchangeKubernetes(example, tokenPath));
  });
});
