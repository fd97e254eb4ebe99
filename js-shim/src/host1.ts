// The OpenCode 1 adapter: OpenCode 1's hooks forwarded to the sidecar, which
// judges (config, OAuth flows, tokens); this file caches headers for as long
// as the sidecar allows, and reports.

import type { Hooks, Plugin } from "@opencode-ai/plugin";
import { locateBinary } from "./binary.js";
import { atTerminal, isTUI, logLevel as hostLevel } from "./env.js";
import { authHook, isLoginCommand, loginAtStart, loginInBackground, say, tellPending, toast, type LoginDeps, type ProviderEntry } from "./login.js";
import { HeaderCache, hasModels, type ApplyResult, type Notice } from "./protocol.js";
import { logger, SERVICE } from "./log.js";
import { Reloader } from "./reload.js";
import { withRefusalRetry, type RefusalDeps } from "./refusal.js";
import { withResponsesRepair, type FetchFn } from "./responses-repair.js";
import { errorMessage, errorReason, isRecord, Sidecar } from "./sidecar.js";

/** What chat.headers returns when it answered synchronously (shared: a settled promise cannot change). */
const DONE: Promise<void> = Promise.resolve();

export const server: Plugin = async (input) => {
  let logLevel = hostLevel(undefined, process.env, process.argv);
  const log = logger(input.client, () => /^\s*(debug|trace)\s*$/i.test(logLevel ?? ""));
  let sidecar: Sidecar | undefined;

  // chat.headers state (the hot path reads only these).
  let managed = new Set<string>();
  const cache = new HeaderCache((p) =>
    getSidecar()
      .request("headers/get", p, lastApply?.loginTimeoutMs[p.providerID])
      .then((r) => (noteIssued(p.providerID, r.headers), r)),
  );

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
    tui ? toast(input.client, SERVICE, line, variant, 15_000) : say(line);

  function onNotification(method: string, params: unknown): void {
    const p = (params ?? {}) as Notice;
    const id = p.providerID ?? "";
    if (method === "log") log(p.level ?? "info", p.message ?? "", p.extra); // the sidecar's words name who speaks
    else if (method === "headers/invalidate") {
      cache.drop(id);
      reloader.loggedIn(id);
    } else if (method === "prompt") showPrompt(id, p);
    else log("debug", `${SERVICE}: ignoring unknown notification ${method}`);
  }

  /** Who waits for a provider's next prompt (the auth hook, which hands it to OpenCode). */
  const promptWaiters = new Map<string, (p: { url: string; text: string }) => void>();

  /** A login prompt, worded by the sidecar: on the terminal and as a toast. */
  function showPrompt(provider: string, p: Notice): void {
    const text = p.text ?? "";
    const waiter = promptWaiters.get(provider);
    promptWaiters.delete(provider);
    if (waiter !== undefined) return waiter({ url: p.url ?? "", text });
    // The full-screen TUI owns the terminal: a toast only, whose words promise no
    // key (Ctrl-C is a key there, not a signal).
    if (!tui) say(`${provider}: ${text}`);
    toast(input.client, `Log in: ${provider}`, p.toast ?? text, "info", p.toastMs ?? 120_000);
  }

  function getSidecar(): Sidecar {
    if (sidecar !== undefined) return sidecar;
    const binary = locateBinary(import.meta.url);
    sidecar = new Sidecar({
      binary: binary.path,
      verify: binary.verify,
      initializeParams: () => ({
        interactive: atTerminal(process.argv),
        hostPath: process.execPath, // the sidecar tells OpenCode's version from it
        logLevel,
        directory: input.directory || undefined,
        binary: { path: binary.path, source: binary.source, check: binary.check },
      }),
      onNotification,
      onStderr: (line) => log("debug", `${SERVICE} sidecar: ${line}`),
      onUnexpectedExit: (reason) => log("error", `${SERVICE}: ${reason}; it will be restarted on the next request`),
      // A restarted sidecar gets the last configuration again.
      onStarted: async () => {
        if (lastApply === undefined) return;
        await getSidecar().request("config/apply", { config: lastConfig }).then(
          (r) => void (managed = new Set(r.managed)),
          (e: unknown) => log("error", `${SERVICE}: re-applying the configuration failed: ${errorMessage(e)}`),
        );
      },
    });
    return sidecar;
  }

  async function apply(config: unknown): Promise<ApplyResult> {
    const result = await getSidecar().request("config/apply", { config });
    managed = new Set(result.managed);
    lastApply = result;
    reloader.invisible = new Set(result.logins.map((l) => l.providerID).filter((id) => !hasModels(result, id)));
    applyError = undefined;
    return result;
  }

  /** A later chat for a suspected provider tries config/apply once more (bounded by the sidecar's cooldown). */
  function retryApply(): Promise<void> {
    const failed = (e: unknown): void => void (applyError = errorMessage(e));
    return (retrying ??= apply(lastConfig).then(() => undefined, failed).finally(() => (retrying = undefined)));
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
    if (!managed.has(id)) await retryApply();
    if (!managed.has(id)) {
      if (applyError === undefined) return;
      const msg = `${SERVICE}: provider "${id}" is configured for OAuth2, but the opencode-oauth2 sidecar is not running: ${applyError}`;
      log("error", msg, { providerID: id });
      throw new Error(msg);
    }
    try {
      Object.assign(out.headers, await cache.headers(id, { modelID }));
    } catch (e) {
      const reason = errorReason(e);
      const msg = `${SERVICE}: ${errorMessage(e)}`; // a login that runs out: the sidecar's words, before this deadline
      log("error", msg, reason !== undefined ? { providerID: id, reason } : { providerID: id });
      throw new Error(msg);
    }
  }

  const tokenHeader = (id: string): string => lastApply?.tokenHeaders[id] ?? "Authorization";
  /** The token header values handed out per provider (the last few), to know a refused one as ours. */
  const issued = new Map<string, string[]>();
  function noteIssued(id: string, headers: unknown): void {
    const value = isRecord(headers) ? headers[tokenHeader(id)] : undefined;
    const list = issued.get(id) ?? [];
    if (typeof value === "string" && value !== "" && !list.includes(value)) issued.set(id, [...list, value].slice(-4));
  }
  const refusal: RefusalDeps = {
    header: tokenHeader,
    ours: (id, value) => issued.get(id)?.includes(value) ?? false,
    renew: async (id, refused) => {
      const value = (await cache.headers(id, { refused }))[tokenHeader(id)];
      if (value === undefined) throw new Error(`${SERVICE}: provider "${id}": no renewed token after the gateway refused one`);
      return value;
    },
  };

  /**
   * The entry OpenCode gets for a provider of the sidecar's (whose token it
   * notes). A managed provider's requests go through a fetch around the one an
   * earlier plugin may have set: one retry after a refused token (refusal.ts),
   * and for the sidecar's `responseApi` providers the repair of their event
   * streams (responses-repair.ts).
   */
  function withFetch(id: string, entry: Record<string, unknown>, previous?: ProviderEntry): ProviderEntry {
    noteIssued(id, isRecord(entry["options"]) ? entry["options"]["headers"] : undefined);
    if (lastApply === undefined || !lastApply.managed.includes(id)) return entry;
    const prev = previous?.options?.["fetch"];
    let fetch: FetchFn;
    if (typeof prev === "function" && composed.has(prev as FetchFn)) {
      fetch = prev as FetchFn; // ours already (a second config/apply)
    } else {
      fetch = withRefusalRetry(id, refusal, typeof prev === "function" ? (prev as FetchFn) : undefined);
      if (lastApply.responseApi.includes(id)) fetch = withResponsesRepair(fetch);
      composed.add(fetch);
    }
    return { ...entry, options: { ...(isRecord(entry["options"]) ? entry["options"] : {}), fetch } };
  }

  const loginDeps: LoginDeps = {
    login: async (providerID, flow) => {
      const params = flow === undefined ? { providerID } : flow === "paste" ? { providerID, paste: true } : { providerID, flow };
      const r = await getSidecar().request("login", params, lastApply?.loginTimeoutMs[providerID]);
      cache.drop(providerID); // the answer is the news: no headers/invalidate follows a login asked for
      return r;
    },
    cancel: () => sidecar?.notify("login/cancel", {}),
    paste: async (providerID, text) => void (await getSidecar().request("login/paste", { providerID, text })),
    entry: (id, entry) => withFetch(id, entry),
    log,
    client: input.client,
    nextPrompt: (providerID) => new Promise((resolve) => promptWaiters.set(providerID, resolve)),
  };

  const hooks: Hooks = {
    config: async (cfg) => {
      reloader.configuring = true;
      try {
        logLevel = hostLevel(cfg.logLevel, process.env, process.argv);
        lastConfig = jsonSafe(cfg);
        const declared = Object.entries(cfg.provider ?? {}).filter(([, e]) => isRecord(e) && isRecord(e.options) && isRecord(e.options["oauth2"]));
        suspected = new Set(declared.map(([id]) => id));
        const result = await apply(lastConfig).catch((e: unknown) => void (applyError = errorMessage(e)));
        if (result === undefined) {
          const msg = `no provider was registered: ${applyError}`;
          tell(msg, "error");
          log("error", `${SERVICE}: ${msg}`);
          return;
        }
        const providers = (cfg.provider ??= {});
        // apply() made result lastApply, which withFetch reads.
        for (const [id, entry] of Object.entries(result.providers)) providers[id] = withFetch(id, entry, providers[id]);
        for (const p of result.problems) {
          const skipped = p.severity === "error";
          if (skipped) tell(p.message, "warning");
          log(skipped ? "error" : "warn", `${SERVICE}: ${p.message}`, { providerID: p.providerID, field: p.field, severity: p.severity });
        }
        // `opencode auth login` asks for one login itself (the auth hook).
        if (result.logins.length > 0 && !isLoginCommand(process.argv)) {
          if (!result.interactive) tellPending(result.logins, loginDeps);
          // The full-screen TUI never waits on a login nobody asked for: it runs beside it.
          else if (tui) void loginInBackground(result.logins, loginDeps, () => reloader.reloadNow());
          else await loginAtStart(result.logins, providers, loginDeps);
        }
      } catch (e) {
        log("error", `${SERVICE}: the config hook failed: ${errorMessage(e)}`);
      } finally {
        reloader.configuring = false;
      }
    },

    event: async ({ event }) => reloader.event(event),

    auth: authHook(() => Object.keys(lastApply?.loginTimeoutMs ?? {}), () => lastApply?.logins.map((l) => l.providerID) ?? [], process.argv, loginDeps),

    // Hot path: a Set lookup for providers we do not manage, a Map lookup on a
    // cache hit. Both are answered synchronously with an already-resolved promise:
    // under Bun (OpenCode's runtime) an async function's frame costs as much as
    // the lookup itself (js-shim/bench/bench.mjs, docs/performance.md).
    // Everything else (a miss, a suspected provider) goes to headersSlow.
    "chat.headers": (inp, out) => {
      const id = inp.model.providerID;
      if (managed.has(id)) {
        const h = cache.hit(id);
        if (h !== undefined) {
          for (const k in h) out.headers[k] = h[k] as string;
          return DONE;
        }
      } else if (applyError === undefined || !suspected.has(id)) {
        return DONE;
      }
      return headersSlow(id, inp.model.id, out);
    },

    dispose: async () => {
      await sidecar?.dispose().catch((e: unknown) => log("warn", `${SERVICE}: stopping the sidecar failed: ${errorMessage(e)}`));
      await log.flush(3_000);
    },
  };
  return hooks;
};

/** The fetches withFetch made. */
const composed = new WeakSet<FetchFn>();

/** A copy of the config with only JSON values (JSON drops functions and symbols; a bigint, which it refuses, becomes a string). */
function jsonSafe(v: unknown): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
  return text === undefined ? {} : (JSON.parse(text) as unknown);
}
