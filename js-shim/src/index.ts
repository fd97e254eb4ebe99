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
import { locateBinary, type VerifiedBinary } from "./binary.js";
import { withResponsesRepair, type FetchFn } from "./responses-repair.js";
import { errorMessage, isRecord, PROTOCOL_VERSION, RpcError, Sidecar, type InitializeParams } from "./sidecar.js";

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
  return { providers, managed, responseApi, problems };
}

/**
 * A managed Responses API provider (npm @ai-sdk/openai) gets a fetch that
 * repairs its event streams (responses-repair.ts), around the fetch an
 * earlier plugin may have set. Which ones: the sidecar's `responseApi` list,
 * or, from a sidecar without one, every managed @ai-sdk/openai provider (the
 * repair leaves conformant streams byte-identical).
 */
function withRepairFetch(id: string, entry: Record<string, unknown>, previous: ProviderEntry | undefined, r: ApplyResult): ProviderEntry {
  if (entry["npm"] !== "@ai-sdk/openai" || !r.managed.includes(id) || r.responseApi?.has(id) === false) return entry;
  const prev = previous?.options?.["fetch"];
  const fetch = withResponsesRepair(typeof prev === "function" ? (prev as FetchFn) : undefined);
  return { ...entry, options: { ...(isRecord(entry["options"]) ? entry["options"] : {}), fetch } };
}

function parseHeaders(v: unknown): { headers: Record<string, string>; cacheUntil: number | undefined } {
  const r = isRecord(v) ? v : {};
  const headers: Record<string, string> = {};
  const raw = r["headers"];
  if (isRecord(raw)) for (const [k, x] of Object.entries(raw)) if (typeof x === "string") headers[k] = x;
  const until = r["cacheUntil"];
  return { headers, cacheUntil: typeof until === "number" && Number.isFinite(until) ? until : undefined };
}

/** "provider "x": cause" -> "cause", when we name the provider ourselves. */
function withoutPrefix(message: string, providerID: string): string {
  const prefix = `provider "${providerID}": `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
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
 * Whether a person is at a terminal (protocol: `interactive`). Override with
 * OPENCODE_OAUTH2_INTERACTIVE=1/0; CI=true means no; otherwise any of stdin,
 * stdout or stderr being a terminal means yes (isatty on the fd, which also
 * holds inside a worker thread).
 */
function isInteractive(env: NodeJS.ProcessEnv): boolean {
  const o = env["OPENCODE_OAUTH2_INTERACTIVE"]?.trim().toLowerCase();
  if (o === "1" || o === "true" || o === "yes") return true;
  if (o === "0" || o === "false" || o === "no") return false;
  const ci = env["CI"]?.trim().toLowerCase();
  if (ci !== undefined && ci !== "" && ci !== "0" && ci !== "false") return false;
  return [0, 1, 2].some((fd) => {
    try {
      return isatty(fd);
    } catch {
      return false;
    }
  });
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
 * Fire-and-forget logging into OpenCode's log. client.app.log is an HTTP call
 * into OpenCode's server that can take seconds to be served at start-up, so
 * the calls in flight are tracked and flushed on dispose: a short command
 * (`opencode models`) must not lose the one line that says what is wrong.
 */
function logger(client: Client): Log {
  const inflight = new Set<Promise<unknown>>();
  const log = (level: Level, message: string, extra?: Record<string, unknown>): void => {
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
  const log = logger(input.client);
  let logLevel: InitializeParams["logLevel"];
  let sidecar: Sidecar | undefined;
  let binary: VerifiedBinary | undefined;
  let host: { version: string | undefined } | undefined;

  // chat.headers state (the hot path reads only these).
  let managed = new Set<string>();
  const cache = new Map<string, CachedHeaders>();
  const inflight = new Map<string, Promise<Record<string, string>>>();
  const generation = new Map<string, number>();

  // Fail-safe when config/apply failed: providers whose entry carries an
  // `oauth2` block must not silently go out without a token.
  let applyError: string | undefined;
  let suspected = new Set<string>();
  let lastConfig: unknown;
  let retrying: Promise<void> | undefined;

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
        return;
      }
      case "prompt":
        showPrompt(p);
        return;
      default:
        log("debug", `opencode-oauth2: ignoring unknown notification ${method}`);
    }
  }

  function showPrompt(p: Record<string, unknown>): void {
    const provider = str(p["providerID"]);
    const url = str(p["url"]);
    const code = str(p["userCode"]);
    const lines = [str(p["message"]) || `Sign in to ${provider}`];
    if (url !== "") lines.push(code !== "" ? `Visit ${url} and enter the code ${code}` : `Open ${url}`);
    const text = lines.join("\n");
    log("info", `opencode-oauth2: ${text.replace(/\n/g, " — ")}`, { providerID: provider, kind: str(p["kind"]) });
    try {
      process.stderr.write(`\n[opencode-oauth2] ${text.replace(/\n/g, "\n[opencode-oauth2] ")}\n`);
    } catch {
      /* no stderr */
    }
    const expiresAt = p["expiresAt"];
    const duration =
      typeof expiresAt === "number" ? Math.min(Math.max(expiresAt - Date.now(), 10_000), 300_000) : 120_000;
    try {
      void input.client.tui
        .showToast({ body: { title: `Sign in: ${provider}`, message: text, variant: "info", duration } })
        .then(
          () => undefined,
          () => undefined,
        );
    } catch {
      /* no TUI */
    }
  }

  function getSidecar(): Sidecar {
    if (sidecar !== undefined) return sidecar;
    binary = locateBinary(import.meta.url);
    log("info", `opencode-oauth2: using the sidecar binary ${binary.path} (source: ${binary.source}); ${binary.check}`, {
      binary: binary.path,
      source: binary.source,
      check: binary.check,
    });
    sidecar = new Sidecar({
      binary: binary.path,
      initializeParams: () => {
        const params: InitializeParams = { protocolVersion: PROTOCOL_VERSION, interactive: isInteractive(process.env) };
        host ??= { version: hostVersion(process.env) };
        const hv = host.version;
        if (hv !== undefined) params.hostVersion = hv;
        if (logLevel !== undefined) params.logLevel = logLevel;
        if (input.directory) params.directory = input.directory;
        return params;
      },
      onNotification,
      onStderr: (line) => log("debug", `opencode-oauth2 sidecar: ${line}`),
      onUnexpectedExit: (reason) =>
        log("error", `opencode-oauth2: ${reason}; it will be restarted on the next request`),
      onReapplied: (result) => {
        try {
          managed = new Set(parseApply(result).managed);
          log("info", "opencode-oauth2: the sidecar was restarted and the configuration re-applied");
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
    applyError = undefined;
    return result;
  }

  /** A later chat for a suspected provider tries config/apply once more (bounded by the sidecar's cooldown). */
  async function retryApply(): Promise<void> {
    retrying ??= apply(lastConfig)
      .then(
        () => log("info", "opencode-oauth2: the sidecar is available again"),
        (e: unknown) => {
          applyError = errorMessage(e);
        },
      )
      .finally(() => {
        retrying = undefined;
      });
    return retrying;
  }

  async function fetchHeaders(id: string, modelID: string | undefined): Promise<Record<string, string>> {
    const running = inflight.get(id);
    if (running !== undefined) return running;
    const gen = generation.get(id) ?? 0;
    const sc = getSidecar();
    const p = (async () => {
      const params = modelID === undefined ? { providerID: id } : { providerID: id, modelID };
      const r = parseHeaders(await sc.request("headers/get", params));
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
        const msg = `opencode-oauth2: no credentials for provider "${id}": ${withoutPrefix(errorMessage(e), id)}`;
        log("error", msg, reason !== undefined ? { providerID: id, reason } : { providerID: id });
        throw new Error(msg);
      }
    }
    for (const k in headers) out.headers[k] = headers[k] as string;
  }

  const hooks: Hooks = {
    config: async (cfg) => {
      try {
        logLevel = mapLogLevel(cfg.logLevel ?? process.env["OPENCODE_LOG_LEVEL"]);
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
          log("error", `opencode-oauth2: no provider was registered: ${applyError}`);
          return;
        }
        const providers = (cfg.provider ??= {});
        for (const [id, entry] of Object.entries(result.providers)) providers[id] = withRepairFetch(id, entry, providers[id], result);
        for (const p of result.problems) {
          const skipped = p.severity === "error";
          const text = withoutPrefix(p.message, p.providerID);
          const detail =
            p.field !== "" && !text.includes(p.field)
              ? ` (${p.field}: expected ${p.expected || "?"}, found ${p.found || "nothing"})`
              : "";
          log(
            skipped ? "error" : "warn",
            `opencode-oauth2: provider "${p.providerID}" ${skipped ? "is skipped" : "has a problem"}: ${text}${detail}`,
            { providerID: p.providerID, field: p.field, severity: p.severity },
          );
        }
        const version = sidecar?.info?.version ?? "unknown";
        log(
          "info",
          `opencode-oauth2: sidecar ${version} manages ${result.managed.length} provider(s)` +
            (result.managed.length > 0 ? `: ${result.managed.join(", ")}` : ""),
        );
      } catch (e) {
        log("error", `opencode-oauth2: the config hook failed: ${errorMessage(e)}`);
      }
    },

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
