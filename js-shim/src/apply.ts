// OpenCode 1's provider entries: the fetch a managed provider's requests go
// through, and the config as JSON.

import type { Config } from "@opencode-ai/plugin";
import type { ApplyResult } from "./protocol.js";
import { withRefusalRetry, type RefusalDeps } from "./refusal.js";
import { withResponsesRepair, type FetchFn } from "./responses-repair.js";
import { isRecord } from "./sidecar.js";

export type ProviderEntry = NonNullable<Config["provider"]>[string];

/**
 * The fetch a managed provider's requests go through, around the fetch an
 * earlier plugin may have set: one retry after a refused token
 * (refusal.ts), and for a Responses API provider (npm @ai-sdk/openai) the
 * repair of its event streams (responses-repair.ts), for the providers in the
 * sidecar's `responseApi` list.
 */
export function withFetch(id: string, entry: Record<string, unknown>, previous: ProviderEntry | undefined, r: ApplyResult, refusal: RefusalDeps): ProviderEntry {
  if (!r.managed.includes(id)) return entry;
  const prev = previous?.options?.["fetch"];
  let fetch: FetchFn;
  if (typeof prev === "function" && composed.has(prev as FetchFn)) {
    fetch = prev as FetchFn; // ours already (a second config/apply)
  } else {
    fetch = withRefusalRetry(id, refusal, typeof prev === "function" ? (prev as FetchFn) : undefined);
    if (r.responseApi.includes(id)) fetch = withResponsesRepair(fetch);
    composed.add(fetch);
  }
  return { ...entry, options: { ...(isRecord(entry["options"]) ? entry["options"] : {}), fetch } };
}

/** The fetches withFetch made. */
const composed = new WeakSet<FetchFn>();

/** A copy of the config with only JSON values (functions and symbols dropped). */
export function jsonSafe(v: unknown): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "function" || typeof x === "symbol" ? undefined : typeof x === "bigint" ? x.toString() : x,
  );
  return text === undefined ? {} : (JSON.parse(text) as unknown);
}
