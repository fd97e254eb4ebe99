// What the sidecar answers, read defensively (config/apply, headers/get), and
// the fetch a managed provider's requests go through.

import type { Config } from "@opencode-ai/plugin";
import type { PendingLogin } from "./login.js";
import { parsePending } from "./login.js";
import { withRefusalRetry, type RefusalDeps } from "./refusal.js";
import { withResponsesRepair, type FetchFn } from "./responses-repair.js";
import { isRecord } from "./sidecar.js";

export type ProviderEntry = NonNullable<Config["provider"]>[string];

export interface Problem {
  providerID: string;
  field: string;
  severity: string;
  message: string;
}

export interface ApplyResult {
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

export interface CachedHeaders {
  headers: Record<string, string>;
  until: number;
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);
}

export function parseApply(v: unknown): ApplyResult {
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
export function withFetch(id: string, entry: Record<string, unknown>, previous: ProviderEntry | undefined, r: ApplyResult, refusal: RefusalDeps): ProviderEntry {
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

export function parseHeaders(v: unknown): { headers: Record<string, string>; cacheUntil: number | undefined } {
  const r = isRecord(v) ? v : {};
  const headers: Record<string, string> = {};
  const raw = r["headers"];
  if (isRecord(raw)) for (const [k, x] of Object.entries(raw)) if (typeof x === "string") headers[k] = x;
  const until = r["cacheUntil"];
  return { headers, cacheUntil: typeof until === "number" && Number.isFinite(until) ? until : undefined };
}

/** A copy of the config with only JSON values (functions and symbols dropped). */
export function jsonSafe(v: unknown): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "function" || typeof x === "symbol" ? undefined : typeof x === "bigint" ? x.toString() : x,
  );
  return text === undefined ? {} : (JSON.parse(text) as unknown);
}
