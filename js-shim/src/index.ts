// The OpenCode plugin: a thin translator between OpenCode's hooks and the Go
// sidecar (protocol/protocol.md). All judgment (config parsing, OAuth flows,
// token caching) lives in the sidecar; this file only forwards, caches headers
// for as long as the sidecar allows, and reports.
//
// The module has a default export and nothing else: OpenCode rejects a plugin
// module with any export that is not a plugin.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isatty } from "node:tty";
import type { Config, Hooks, Plugin, PluginInput } from "@opencode-ai/plugin";
import { locateBinary } from "./binary.js";
import { authHook, isLoginCommand, loginAtStart, loginDeadline, parseLoginResult, parsePending, say, tellPending, toast, type LoginDeps, type PendingLogin } from "./login.js";
import { Reloader } from "./reload.js";
import { withRefusalRetry, type RefusalDeps } from "./refusal.js";
import { withResponsesRepair, type FetchFn } from "./responses-repair.js";
import { errorMessage, isRecord, PROTOCOL_VERSION, RpcError, Sidecar, SidecarTimeoutError, type InitializeParams } from "./sidecar.js";

const SERVICE = "opencode-oauth2";
/** What chat.headers returns when it answered synchronously (shared: a settled promise cannot change). */
const DONE: Promise<void> = Promise.resolve();
type Level = "debug" | "info" | "warn" | "error";
type Client = PluginInput["client"];
type ProviderEntry = NonNullable<Config["provider"]>[string];

interface Problem {
  providerID: string;
  field: string;
  expected: string;
  found: string;
  severity: string;
  message: string;
}

interface ApplyResult {
  providers: Record<string, Record<string, unknown>>;
  managed: string[];
  /** Managed providers with `responseApi: true`; undefined when the sidecar does not say. */
  responseApi: Set<string> | undefined;
  problems: Problem[];
  /** User-flow providers without a usable token. */
  logins: PendingLogin[];
  /** How long a login of each user-flow provider may take. */
  loginTimeouts: Map<string, number>;
}

interface CachedHeaders {
  headers: Record<string, string>;
  until: number;
}

const LEVELS: Readonly<Record<string, Level>> = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
};

function str(v: unknown): string {
  return typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);
}

function parseApply(v: unknown): ApplyResult {
  if (!isRecord(v)) throw new Error("the sidecar answered config/apply with something that is not an object");
  const providers: Record<string, Record<string, unknown>> = {};
  const rawProviders = v["providers"];
  if (isRecord(rawProviders)) {
    for (const [id, entry] of Object.entries(rawProviders)) if (isRecord(entry)) providers[id] = entry;
  }
  const managed = Array.isArray(v["managed"]) ? v["managed"].filter((x): x is string => typeof x === "string") : [];
  const rapi = v["responseApi"];
  const responseApi = Array.isArray(rapi) ? new Set(rapi.filter((x): x is string => typeof x === "string")) : undefined;
  const problems = (Array.isArray(v["problems"]) ? v["problems"] : []).filter(isRecord).map(
    (p): Problem => ({
      providerID: str(p["providerID"]),
      field: str(p["field"]),
      expected: str(p["expected"]),
      found: str(p["found"]),
      severity: str(p["severity"]),
      message: str(p["message"]),
    }),
  );
  const timeouts = new Map<string, number>();
  const lt = v["loginTimeoutMs"];
  if (isRecord(lt)) for (const [id, ms] of Object.entries(lt)) if (typeof ms === "number") timeouts.set(id, ms);
  return { providers, managed, responseApi, problems, logins: parsePending(v["logins"]), loginTimeouts: timeouts };
}

/**
 * The fetch a managed provider's requests go through, around the fetch an
 * earlier plugin may have set: one retry after a refused token
 * (refusal.ts), and for a Responses API provider (npm @ai-sdk/openai) the
 * repair of its event streams (responses-repair.ts). Which ones get the
 * repair: the sidecar's `responseApi` list, or, from a sidecar without one,
 * every managed @ai-sdk/openai provider (the repair leaves conformant
 * streams byte-identical).
 */
function withFetch(id: string, entry: Record<string, unknown>, previous: ProviderEntry | undefined, r: ApplyResult, refusal: RefusalDeps): ProviderEntry {
  if (!r.managed.includes(id)) return entry;
  const prev = previous?.options?.["fetch"];
  let fetch: FetchFn;
  if (typeof prev === "function" && composed.has(prev as FetchFn)) {
    fetch = prev as FetchFn; // ours already (a second config/apply)
  } else {
    fetch = withRefusalRetry(id, refusal, typeof prev === "function" ? (prev as FetchFn) : undefined);
    if (entry["npm"] === "@ai-sdk/openai" && r.responseApi?.has(id) !== false) fetch = withResponsesRepair(fetch);
    composed.add(fetch);
  }
  return { ...entry, options: { ...(isRecord(entry["options"]) ? entry["options"] : {}), fetch } };
}

/** The fetches withFetch made. */
const composed = new WeakSet<FetchFn>();

function parseHeaders(v: unknown): { headers: Record<string, string>; cacheUntil: number | undefined } {
  const r = isRecord(v) ? v : {};
  const headers: Record<string, string> = {};
  const raw = r["headers"];
  if (isRecord(raw)) for (const [k, x] of Object.entries(raw)) if (typeof x === "string") headers[k] = x;
  const until = r["cacheUntil"];
  return { headers, cacheUntil: typeof until === "number" && Number.isFinite(until) ? until : undefined };
}

/** A copy of the config with only JSON values (functions and symbols dropped). */
function jsonSafe(v: unknown): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "function" || typeof x === "symbol" ? undefined : typeof x === "bigint" ? x.toString() : x,
  );
  return text === undefined ? {} : (JSON.parse(text) as unknown);
}

function mapLogLevel(v: unknown): InitializeParams["logLevel"] {
  if (typeof v !== "string") return undefined;
  const l = LEVELS[v.toLowerCase()];
  return l;
}

/**
 * Whether a person is at a terminal (protocol: `interactive`): only then may
 * a login wait for them. Override with OPENCODE_OAUTH2_INTERACTIVE=1/0;
 * CI=true, `opencode serve`/`web`/`acp` (a server, whoever is at its
 * terminal) and a stdin that is not a terminal (piped, /dev/null) mean no.
 */
function isInteractive(env: NodeJS.ProcessEnv, argv: readonly string[]): boolean {
  const o = env["OPENCODE_OAUTH2_INTERACTIVE"]?.trim().toLowerCase();
  if (o === "1" || o === "true" || o === "yes") return true;
  if (o === "0" || o === "false" || o === "no") return false;
  const ci = env["CI"]?.trim().toLowerCase();
  if (ci !== undefined && ci !== "" && ci !== "0" && ci !== "false") return false;
  if (argv.some((a) => a === "serve" || a === "web" || a === "acp")) return false;
  const tty = (fd: number): boolean => {
    try {
      return isatty(fd);
    } catch {
      return false;
    }
  };
  return tty(0) && (tty(1) || tty(2));
}

/** OpenCode runs at DEBUG: its config, OPENCODE_LOG_LEVEL or `--log-level DEBUG`. */
function debugLevel(cfgLevel: unknown, env: NodeJS.ProcessEnv, argv: readonly string[]): InitializeParams["logLevel"] {
  const i = argv.findIndex((a) => a === "--log-level" || a.startsWith("--log-level="));
  const flag = i < 0 ? undefined : argv[i]?.includes("=") ? argv[i]?.split("=")[1] : argv[i + 1];
  return mapLogLevel(flag ?? cfgLevel ?? env["OPENCODE_LOG_LEVEL"]);
}

/**
 * OpenCode's version, for the sidecar's logs, when it can be told cheaply:
 * OPENCODE_VERSION, else the npm package the running binary came from
 * (node_modules/opencode-ai/bin/opencode -> ../package.json).
 */
function hostVersion(env: NodeJS.ProcessEnv): string | undefined {
  const v = env["OPENCODE_VERSION"];
  if (v !== undefined && v !== "") return v;
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(dirname(process.execPath), "..", "package.json"), "utf8"));
    if (isRecord(pkg) && typeof pkg["name"] === "string" && pkg["name"].startsWith("opencode")) {
      return typeof pkg["version"] === "string" ? pkg["version"] : undefined;
    }
  } catch {
    /* not an npm install of OpenCode */
  }
  return undefined;
}

type Log = ((level: Level, message: string, extra?: Record<string, unknown>) => void) & {
  /** Waits (at most timeoutMs) for the log calls still in flight. */
  flush: (timeoutMs: number) => Promise<void>;
};

/**
 * Logging into OpenCode's log, for warnings and errors only (everything
 * when OpenCode runs at DEBUG): each client.app.log is an HTTP call into
 * OpenCode's server, which costs a starting OpenCode hundreds of ms and
 * tens of MiB, so a start with nothing wrong makes none (the sidecar keeps
 * its own log file: `opencode-oauth2 logs`). Calls in flight are flushed on
 * dispose: a short command must not lose the line that says what is wrong.
 */
function logger(client: Client, debug: () => boolean): Log {
  const inflight = new Set<Promise<unknown>>();
  const log = (level: Level, message: string, extra?: Record<string, unknown>): void => {
    if ((level === "debug" || level === "info") && !debug()) return;
    try {
      const body = extra === undefined ? { service: SERVICE, level, message } : { service: SERVICE, level, message, extra };
      const p: Promise<unknown> = client.app.log({ body }).then(
        () => undefined,
        () => undefined,
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    } catch {
      /* logging must never throw into OpenCode */
    }
  };
  const flush = async (timeoutMs: number): Promise<void> => {
    if (inflight.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...inflight]),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  };
  return Object.assign(log, { flush });
}

const server: Plugin = async (input) => {
  let logLevel: InitializeParams["logLevel"] = debugLevel(undefined, process.env, process.argv);
  const log = logger(input.client, () => logLevel === "debug");
  let sidecar: Sidecar | undefined;
  let host: { version: string | undefined } | undefined;

  // chat.headers state (the hot path reads only these).
  let managed = new Set<string>();
  const cache = new Map<string, CachedHeaders>();
  const inflight = new Map<string, Promise<Record<string, string>>>();
  const generation = new Map<string, number>();
  let loginTimeouts = new Map<string, number>();
  /** The last login prompt per provider, for a request that gives up waiting. */
  const prompts = new Map<string, string>();

  // Fail-safe when config/apply failed: providers whose entry carries an
  // `oauth2` block must not silently go out without a token.
  let applyError: string | undefined;
  let suspected = new Set<string>();
  let lastConfig: unknown;
  let retrying: Promise<void> | undefined;
  let lastApply: ApplyResult | undefined;

  const reloader = new Reloader(input.client, (m) => log("warn", m));

  function onNotification(method: string, params: unknown): void {
    const p = isRecord(params) ? params : {};
    switch (method) {
      case "log": {
        // OpenCode's log lines do not show the service: say who speaks.
        const extra = isRecord(p["extra"]) ? p["extra"] : undefined;
        const message = str(p["message"]);
        log(LEVELS[str(p["level"])] ?? "info", message.startsWith(`${SERVICE}`) ? message : `${SERVICE}: ${message}`, extra);
        return;
      }
      case "headers/invalidate": {
        const id = str(p["providerID"]);
        cache.delete(id);
        generation.set(id, (generation.get(id) ?? 0) + 1);
        reloader.loggedIn(id);
        return;
      }
      case "prompt":
        showPrompt(p);
        return;
      default:
        log("debug", `opencode-oauth2: ignoring unknown notification ${method}`);
    }
  }

  /** Who waits for a provider's next prompt (the auth hook, which hands it to OpenCode). */
  const promptWaiters = new Map<string, (p: { url: string; text: string }) => void>();

  /** A login prompt, worded by the sidecar: on the terminal and as a toast. */
  function showPrompt(p: Record<string, unknown>): void {
    const provider = str(p["providerID"]);
    const text = str(p["text"]) || [str(p["message"]), str(p["url"]), str(p["userCode"])].filter(Boolean).join("\n    ");
    prompts.set(provider, text);
    const waiter = promptWaiters.get(provider);
    if (waiter !== undefined) {
      promptWaiters.delete(provider);
      waiter({ url: str(p["url"]), text });
      return;
    }
    say(`${provider}: ${text}`);
    const expiresAt = p["expiresAt"];
    const duration =
      typeof expiresAt === "number" ? Math.min(Math.max(expiresAt - Date.now(), 10_000), 300_000) : 120_000;
    toast(input.client, `Log in: ${provider}`, text, "info", duration);
  }

  function getSidecar(): Sidecar {
    if (sidecar !== undefined) return sidecar;
    const binary = locateBinary(import.meta.url);
    sidecar = new Sidecar({
      binary: binary.path,
      initializeParams: () => {
        const params: InitializeParams = { protocolVersion: PROTOCOL_VERSION, interactive: isInteractive(process.env, process.argv) };
        host ??= { version: hostVersion(process.env) };
        const hv = host.version;
        if (hv !== undefined) params.hostVersion = hv;
        if (logLevel !== undefined) params.logLevel = logLevel;
        if (input.directory) params.directory = input.directory;
        params.binary = { path: binary.path, source: binary.source, check: binary.check };
        return params;
      },
      onNotification,
      onStderr: (line) => log("debug", `opencode-oauth2 sidecar: ${line}`),
      onUnexpectedExit: (reason) =>
        log("error", `opencode-oauth2: ${reason}; it will be restarted on the next request`),
      onReapplied: (result) => {
        try {
          managed = new Set(parseApply(result).managed);
        } catch (e) {
          log("error", `opencode-oauth2: re-applying the configuration failed: ${errorMessage(e)}`);
        }
      },
    });
    return sidecar;
  }

  async function apply(config: unknown): Promise<ApplyResult> {
    const result = parseApply(await getSidecar().request("config/apply", { config }));
    managed = new Set(result.managed);
    loginTimeouts = result.loginTimeouts;
    lastApply = result;
    reloader.invisible = new Set(
      result.logins.map((l) => l.providerID).filter((id) => {
        const models = result.providers[id]?.["models"];
        return !isRecord(models) || Object.keys(models).length === 0;
      }),
    );
    applyError = undefined;
    return result;
  }

  /** A later chat for a suspected provider tries config/apply once more (bounded by the sidecar's cooldown). */
  async function retryApply(): Promise<void> {
    retrying ??= apply(lastConfig)
      .then(
        () => undefined,
        (e: unknown) => {
          applyError = errorMessage(e);
        },
      )
      .finally(() => {
        retrying = undefined;
      });
    return retrying;
  }

  /** headers/get may wait for a login: as long as the provider's login may take. */
  function headersDeadline(id: string): number | undefined {
    const t = loginTimeouts.get(id);
    return t === undefined ? undefined : Math.max(loginDeadline(t), 60_000);
  }

  async function fetchHeaders(id: string, modelID: string | undefined): Promise<Record<string, string>> {
    const running = inflight.get(id);
    if (running !== undefined) return running;
    const gen = generation.get(id) ?? 0;
    const sc = getSidecar();
    const p = (async () => {
      const params = modelID === undefined ? { providerID: id } : { providerID: id, modelID };
      const r = parseHeaders(await sc.request("headers/get", params, headersDeadline(id)));
      noteAuthorization(id, r.headers["Authorization"]);
      if (r.cacheUntil !== undefined && r.cacheUntil > Date.now() && (generation.get(id) ?? 0) === gen) {
        cache.set(id, { headers: r.headers, until: r.cacheUntil });
      }
      return r.headers;
    })().finally(() => inflight.delete(id));
    inflight.set(id, p);
    return p;
  }

  /**
   * chat.headers when the cache cannot answer. On failure this THROWS: OpenCode
   * then fails that request and shows the message, instead of sending it without
   * (or with a stale) Authorization. Note: OpenCode 1.18 retries a failed LLM call
   * (5 times, about a minute of backoff) when the error text matches its transient
   * patterns ("connection refused", "unavailable", 5xx, "rate limit", ...), so the
   * sidecar words transient causes that way and the others not.
   */
  async function headersSlow(id: string, modelID: string, out: { headers: Record<string, string> }): Promise<void> {
    if (!managed.has(id)) {
      await retryApply();
      if (!managed.has(id)) {
        if (applyError === undefined) return;
        const msg = `opencode-oauth2: provider "${id}" is configured for OAuth2, but the opencode-oauth2 sidecar is not running: ${applyError}`;
        log("error", msg, { providerID: id });
        throw new Error(msg);
      }
    }
    const hit = cache.get(id);
    let headers: Record<string, string>;
    if (hit !== undefined && hit.until > Date.now()) {
      headers = hit.headers;
    } else {
      if (hit !== undefined) cache.delete(id);
      try {
        headers = await fetchHeaders(id, modelID);
      } catch (e) {
        const reason = e instanceof RpcError && isRecord(e.data) ? str(e.data["reason"]) : undefined;
        const pending = prompts.get(id);
        const msg =
          e instanceof SidecarTimeoutError && pending !== undefined
            ? `opencode-oauth2: the login for provider "${id}" is still pending: finish it (${pending.replace(/\s*\n\s*/g, " ")}), then retry`
            : `opencode-oauth2: ${errorMessage(e)}`;
        log("error", msg, reason !== undefined ? { providerID: id, reason } : { providerID: id });
        throw new Error(msg);
      }
    }
    for (const k in headers) out.headers[k] = headers[k] as string;
  }

  /** The Authorization values handed out per provider (the last few), to know a refused one as ours. */
  const issued = new Map<string, string[]>();
  function noteAuthorization(id: string, value: string | undefined): void {
    if (value === undefined || value === "") return;
    const list = issued.get(id) ?? [];
    if (list.includes(value)) return;
    list.push(value);
    if (list.length > 4) list.shift();
    issued.set(id, list);
  }
  function noteIssued(id: string, entry: Record<string, unknown>): void {
    const options = entry["options"];
    const headers = isRecord(options) ? options["headers"] : undefined;
    if (isRecord(headers) && typeof headers["Authorization"] === "string") noteAuthorization(id, headers["Authorization"]);
  }
  const refusal: RefusalDeps = {
    ours: (id, value) => issued.get(id)?.includes(value) ?? false,
    renew: async (id, refused) => {
      cache.delete(id);
      generation.set(id, (generation.get(id) ?? 0) + 1);
      const r = parseHeaders(await getSidecar().request("headers/get", { providerID: id, refused }, headersDeadline(id)));
      const value = r.headers["Authorization"];
      if (value === undefined) throw new Error(`opencode-oauth2: provider "${id}": no renewed token after the gateway refused one`);
      noteAuthorization(id, value);
      if (r.cacheUntil !== undefined && r.cacheUntil > Date.now()) cache.set(id, { headers: r.headers, until: r.cacheUntil });
      return value;
    },
  };

  const loginDeps: LoginDeps = {
    login: async (providerID, flow, timeoutMs) => {
      const params = flow === undefined ? { providerID } : { providerID, flow };
      reloader.own.add(providerID);
      try {
        const r = parseLoginResult(await getSidecar().request("login", params, timeoutMs));
        cache.delete(providerID);
        generation.set(providerID, (generation.get(providerID) ?? 0) + 1);
        return r;
      } finally {
        reloader.own.delete(providerID);
      }
    },
    cancel: () => sidecar?.notify("login/cancel", {}),
    entry: (id, entry) => {
      noteIssued(id, entry);
      return lastApply === undefined ? entry : withFetch(id, entry, undefined, lastApply, refusal);
    },
    log: (level, message, extra) => log(level, message, extra),
    client: input.client,
    nextPrompt: (providerID) => new Promise((resolve) => promptWaiters.set(providerID, resolve)),
  };

  const hooks: Hooks = {
    config: async (cfg) => {
      reloader.configuring = true;
      try {
        logLevel = debugLevel(cfg.logLevel, process.env, process.argv);
        lastConfig = jsonSafe(cfg);
        suspected = new Set(
          Object.entries(cfg.provider ?? {})
            .filter(([, e]) => isRecord(e) && isRecord(e.options) && isRecord(e.options["oauth2"]))
            .map(([id]) => id),
        );
        let result: ApplyResult;
        try {
          result = await apply(lastConfig);
        } catch (e) {
          applyError = errorMessage(e);
          const msg = `no provider was registered: ${applyError}`;
          say(msg);
          log("error", `opencode-oauth2: ${msg}`);
          return;
        }
        const providers = (cfg.provider ??= {});
        for (const [id, entry] of Object.entries(result.providers)) {
          noteIssued(id, entry);
          providers[id] = withFetch(id, entry, providers[id], result, refusal);
        }
        for (const p of result.problems) {
          const skipped = p.severity === "error";
          if (skipped) say(p.message);
          log(skipped ? "error" : "warn", `opencode-oauth2: ${p.message}`, { providerID: p.providerID, field: p.field, severity: p.severity });
        }
        // `opencode auth login` asks for one login itself (the auth hook).
        if (result.logins.length > 0 && !isLoginCommand(process.argv)) {
          if (isInteractive(process.env, process.argv)) await loginAtStart(result.logins, providers, loginDeps);
          else tellPending(result.logins, loginDeps);
        }
      } catch (e) {
        log("error", `opencode-oauth2: the config hook failed: ${errorMessage(e)}`);
      } finally {
        reloader.configuring = false;
      }
    },

    event: async ({ event }) => reloader.event(event),

    auth: authHook(
      () => loginTimeouts,
      () => lastApply?.logins.map((l) => l.providerID) ?? [],
      process.argv,
      loginDeps,
    ),

    // Hot path: a Set lookup for providers we do not manage, a Map lookup on a
    // cache hit. Both are answered synchronously with an already-resolved promise:
    // under Bun (OpenCode's runtime) an async function's frame costs as much as
    // the lookup itself (js-shim/bench/bench.mjs, docs/performance.md).
    // Everything else (a miss, a suspected provider) goes to headersSlow.
    "chat.headers": (inp, out) => {
      const id = inp.model.providerID;
      if (managed.has(id)) {
        const hit = cache.get(id);
        if (hit !== undefined && hit.until > Date.now()) {
          const h = hit.headers;
          for (const k in h) out.headers[k] = h[k] as string;
          return DONE;
        }
      } else if (applyError === undefined || !suspected.has(id)) {
        return DONE;
      }
      return headersSlow(id, inp.model.id, out);
    },

    dispose: async () => {
      try {
        await sidecar?.dispose();
      } catch (e) {
        log("warn", `opencode-oauth2: stopping the sidecar failed: ${errorMessage(e)}`);
      }
      await log.flush(3_000);
    },
  };
  return hooks;
};

export default { id: "@vymalo/opencode-oauth2", server };
