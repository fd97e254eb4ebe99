// The OpenCode 1 adapter: a thin translator between OpenCode 1's hooks and the
// Go sidecar (protocol/protocol.md). All judgment (config parsing, OAuth flows,
// token caching) lives in the sidecar; this file only forwards, caches headers
// for as long as the sidecar allows, and reports.

import type { Hooks, Plugin } from "@opencode-ai/plugin";
import { jsonSafe, withFetch } from "./apply.js";
import { locateBinary } from "./binary.js";
import { debugLevel, hostVersion, isInteractive, isTUI } from "./env.js";
import { authHook, isLoginCommand, loginAtStart, loginInBackground, say, tellPending, toast, type LoginDeps } from "./login.js";
import { loginDeadline, type ApplyResult, type CachedHeaders, type Notice } from "./protocol.js";
import { LEVELS, logger, SERVICE } from "./log.js";
import { Reloader } from "./reload.js";
import { type RefusalDeps } from "./refusal.js";
import { errorMessage, isRecord, PROTOCOL_VERSION, RpcError, Sidecar, SidecarTimeoutError, type InitializeParams } from "./sidecar.js";

/** What chat.headers returns when it answered synchronously (shared: a settled promise cannot change). */
const DONE: Promise<void> = Promise.resolve();

export const server: Plugin = async (input) => {
  let logLevel: InitializeParams["logLevel"] = debugLevel(undefined, process.env, process.argv);
  const log = logger(input.client, () => logLevel === "debug");
  let sidecar: Sidecar | undefined;
  let host: { version: string | undefined } | undefined;

  // chat.headers state (the hot path reads only these).
  let managed = new Set<string>();
  const cache = new Map<string, CachedHeaders>();
  const inflight = new Map<string, Promise<Record<string, string>>>();
  const generation = new Map<string, number>();
  let loginTimeouts: Record<string, number> = {};
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
  const tui = isTUI(process.argv);
  /** A line for the person at OpenCode: on its terminal, or as a toast in the full-screen TUI (which owns the terminal). */
  const tell = (line: string, variant: "warning" | "error"): void =>
    tui ? toast(input.client, "opencode-oauth2", line, variant, 15_000) : say(line);

  function onNotification(method: string, params: unknown): void {
    const p = (params ?? {}) as Notice;
    switch (method) {
      case "log": {
        // OpenCode's log lines do not show the service: say who speaks.
        const message = p.message ?? "";
        log(LEVELS[p.level ?? ""] ?? "info", message.startsWith(`${SERVICE}`) ? message : `${SERVICE}: ${message}`, p.extra);
        return;
      }
      case "headers/invalidate": {
        const id = p.providerID ?? "";
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
  function showPrompt(p: Notice): void {
    const provider = p.providerID ?? "";
    const text = p.text ?? "";
    // Kept for a request that gives up waiting, whose error OpenCode logs: never a
    // paste prompt, whose URL is the authorization request itself (its state).
    if (p.kind !== "paste") prompts.set(provider, text);
    const waiter = promptWaiters.get(provider);
    if (waiter !== undefined) {
      promptWaiters.delete(provider);
      waiter({ url: p.url ?? "", text });
      return;
    }
    // The full-screen TUI owns the terminal: a toast only, whose words promise no
    // key (Ctrl-C is a key there, not a signal).
    if (!tui) say(`${provider}: ${text}`);
    const expiresAt = p.expiresAt;
    const duration =
      typeof expiresAt === "number" ? Math.min(Math.max(expiresAt - Date.now(), 10_000), 300_000) : 120_000;
    const words = [p.message, p.url, p.userCode !== undefined ? `code: ${p.userCode}` : undefined].filter(Boolean).join("\n");
    toast(input.client, `Log in: ${provider}`, words || text, "info", duration);
  }

  function getSidecar(): Sidecar {
    if (sidecar !== undefined) return sidecar;
    const binary = locateBinary(import.meta.url);
    sidecar = new Sidecar({
      binary: binary.path,
    verify: binary.verify,
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
      // A restarted sidecar gets the last configuration again.
      onStarted: async () => {
        if (lastApply === undefined) return;
        try {
          managed = new Set((await getSidecar().request("config/apply", { config: lastConfig })).managed);
        } catch (e) {
          log("error", `opencode-oauth2: re-applying the configuration failed: ${errorMessage(e)}`);
        }
      },
    });
    return sidecar;
  }

  async function apply(config: unknown): Promise<ApplyResult> {
    const result = await getSidecar().request("config/apply", { config });
    managed = new Set(result.managed);
    loginTimeouts = result.loginTimeoutMs;
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
    const t = loginTimeouts[id];
    return t === undefined ? undefined : Math.max(loginDeadline(t), 60_000);
  }

  async function fetchHeaders(id: string, modelID: string | undefined): Promise<Record<string, string>> {
    const running = inflight.get(id);
    if (running !== undefined) return running;
    const gen = generation.get(id) ?? 0;
    const sc = getSidecar();
    const p = (async () => {
      const params = modelID === undefined ? { providerID: id } : { providerID: id, modelID };
      const r = await sc.request("headers/get", params, headersDeadline(id));
      noteAuthorization(id, r.headers[tokenHeader(id)]);
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
        const reason = e instanceof RpcError && isRecord(e.data) ? String(e.data["reason"]) : undefined;
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

  /** The header a provider's token goes in. */
  const tokenHeader = (id: string): string => lastApply?.tokenHeaders[id] ?? "Authorization";
  /** The token header values handed out per provider (the last few), to know a refused one as ours. */
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
    const value = isRecord(headers) ? headers[tokenHeader(id)] : undefined;
    if (typeof value === "string") noteAuthorization(id, value);
  }
  const refusal: RefusalDeps = {
    header: tokenHeader,
    ours: (id, value) => issued.get(id)?.includes(value) ?? false,
    renew: async (id, refused) => {
      cache.delete(id);
      generation.set(id, (generation.get(id) ?? 0) + 1);
      const r = await getSidecar().request("headers/get", { providerID: id, refused }, headersDeadline(id));
      const value = r.headers[tokenHeader(id)];
      if (value === undefined) throw new Error(`opencode-oauth2: provider "${id}": no renewed token after the gateway refused one`);
      noteAuthorization(id, value);
      if (r.cacheUntil !== undefined && r.cacheUntil > Date.now()) cache.set(id, { headers: r.headers, until: r.cacheUntil });
      return value;
    },
  };

  const loginDeps: LoginDeps = {
    login: async (providerID, flow, timeoutMs) => {
      const params = flow === undefined ? { providerID } : flow === "paste" ? { providerID, paste: true } : { providerID, flow };
      // The answer is the news (the sidecar sends no headers/invalidate for a login asked of it).
      const r = await getSidecar().request("login", params, timeoutMs);
      cache.delete(providerID);
      generation.set(providerID, (generation.get(providerID) ?? 0) + 1);
      return r;
    },
    cancel: () => sidecar?.notify("login/cancel", {}),
    paste: async (providerID, text) => {
      await getSidecar().request("login/paste", { providerID, text });
    },
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
          tell(msg, "error");
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
          if (skipped) tell(p.message, "warning");
          log(skipped ? "error" : "warn", `opencode-oauth2: ${p.message}`, { providerID: p.providerID, field: p.field, severity: p.severity });
        }
        // `opencode auth login` asks for one login itself (the auth hook).
        if (result.logins.length > 0 && !isLoginCommand(process.argv)) {
          if (!isInteractive(process.env, process.argv)) tellPending(result.logins, loginDeps);
          // The full-screen TUI never waits on a login nobody asked for: it runs beside it.
          else if (tui) void loginInBackground(result.logins, loginDeps, () => reloader.reloadNow());
          else await loginAtStart(result.logins, providers, loginDeps);
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
