// Recover from a refused token: when a gateway answers 401 (RFC 6750: a
// refusal is a 401, whatever a challenge says on another status) to a
// request that carried a bearer this plugin handed out, although that token is within its lifetime
// (revoked, keys rolled over, the gateway restarted), the sidecar is asked
// for a renewed one (headers/get with `refused`: it drops that token and
// renews once for all such requests) and the request is sent again, once.
// A second refusal is reported with the gateway's message and the
// provider's name; 403 is never retried; a body that cannot be sent twice
// (a stream) is not retried either.

import { createHash } from "node:crypto";
import type { FetchFn } from "./responses-repair.js";
import { attempt, isRecord } from "./sidecar.js";

export interface RefusalDeps {
  /** The header the provider's token goes in (Authorization unless configured otherwise). */
  header: (providerID: string) => string;
  /** Whether this value of that header was handed out by the plugin for the provider. */
  ours: (providerID: string, value: string) => boolean;
  /** A renewed value; `refused` is the sha256 (hex) of the refused one. */
  renew: (providerID: string, refused: string) => Promise<string>;
}

const wrapped = new WeakSet<FetchFn>();

/** A body fetch can send again: absent, or held in memory. */
function resendable(input: string | URL | Request, init: RequestInit | undefined): boolean {
  if (typeof input !== "string" && !(input instanceof URL)) return false;
  const b = init?.body;
  return b === undefined || b === null || typeof b === "string" || b instanceof ArrayBuffer || ArrayBuffer.isView(b) || b instanceof URLSearchParams;
}

/** The gateway's words (its JSON error's message, else its text) in its body's first 2,000 characters, without control characters, bounded. */
function words(body: string, status: number): string {
  const text = body.slice(0, 2000);
  const v: unknown = attempt(() => JSON.parse(text), undefined); // not JSON: the text as it is
  const e = isRecord(v) ? v["error"] : undefined;
  const m = isRecord(e) ? e["message"] : e;
  return (typeof m === "string" ? m : text).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, 500) || `HTTP ${status}`;
}

/**
 * A success that is an error: status 2xx with a JSON body whose `error` member
 * is set (a confused gateway). OpenCode would take it for an empty answer and
 * step again, without end; it becomes status 424 (a failed dependency, which
 * OpenCode does not retry) with the gateway's words and the provider's name.
 * Anything else is returned as it is (an event stream, or a body over 64 KiB
 * or of unknown length, is never read here).
 */
export async function answerOrError(providerID: string, res: Response): Promise<Response> {
  if (!res.ok || !/^application\/json\b/i.test(res.headers.get("content-type") ?? "")) return res;
  // An error body is small and says so: anything larger, or of unknown length,
  // passes untouched (nothing a gateway sends is buffered here without bound).
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (!(length >= 0 && length <= 64 << 10)) return res;
  const text = await res.clone().text();
  const v: unknown = attempt(() => JSON.parse(text), undefined);
  if (!isRecord(v) || v["error"] === undefined || v["error"] === null) return res;
  const message = `opencode-oauth2: provider "${providerID}": the gateway answered HTTP ${res.status} with an error: ${words(text, res.status)}`;
  return errorResponse(message, "gateway_error", 424);
}

/** An error as OpenCode shows it: a JSON body whose error.message it prints. */
function errorResponse(message: string, type: string, status: number, statusText = ""): Response {
  return new Response(JSON.stringify({ error: { message, type } }), { status, statusText, headers: { "content-type": "application/json" } });
}

export function sha256Hex(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** The provider's fetch (around `delegate`, globalThis.fetch when absent) with one retry after a refused token. */
export function withRefusalRetry(providerID: string, deps: RefusalDeps, delegate?: FetchFn): FetchFn {
  if (delegate !== undefined && wrapped.has(delegate)) return delegate;
  const base: FetchFn = delegate ?? ((input, init) => globalThis.fetch(input, init));
  const retrying: FetchFn = async (input, init) => {
    const res = await base(input, init);
    if (res.status !== 401) return answerOrError(providerID, res);
    const name = deps.header(providerID);
    const sent = new Headers(init?.headers).get(name);
    if (sent === null || !deps.ours(providerID, sent) || !resendable(input, init)) return res;
    await res.body?.cancel().catch(() => undefined);
    const fresh = await deps.renew(providerID, sha256Hex(sent));
    const headers = new Headers(init?.headers);
    headers.set(name, fresh);
    const again = await base(input, { ...init, headers });
    if (again.status !== 401) return answerOrError(providerID, again);
    const message =
      `opencode-oauth2: provider "${providerID}": the gateway refused a freshly renewed token too ` +
      `(HTTP ${again.status}): ${words(await again.text().catch(() => ""), again.status)}`;
    return errorResponse(message, "authentication_error", again.status, again.statusText);
  };
  wrapped.add(retrying);
  return retrying;
}
