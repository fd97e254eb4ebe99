// The sidecar's answers (protocol/protocol.md), as the pinned sidecar of this
// package sends them: the shim and its sidecar ship together, so an answer is
// taken as typed (a sidecar of another version is refused at initialize).

/** A provider entry for OpenCode's config (OpenCode 1's shape). */
export type Entry = Record<string, unknown>;

export interface Problem {
  providerID: string;
  field: string;
  severity: "error" | "warning";
  message: string;
}

export interface PendingLogin {
  providerID: string;
  name: string;
  flow: string;
  timeoutMs: number;
  message: string;
}

export interface ApplyResult {
  providers: Record<string, Entry>;
  managed: string[];
  /** Managed providers registered with the Responses API (their streams are repaired). */
  responseApi: string[];
  problems: Problem[];
  /** User-flow providers without a usable token. */
  logins: PendingLogin[];
  /** How long a login of each user-flow provider may take. */
  loginTimeoutMs: Record<string, number>;
  /** The header each managed provider's token goes in. */
  tokenHeaders: Record<string, string>;
}

export interface HeadersResult {
  headers: Record<string, string>;
  cacheUntil?: number;
}

export interface LoginResult {
  providerID: string;
  provider: Entry;
  models: number;
  message: string;
}

/** Headers the shim may reuse until `until` (unix ms). */
export interface CachedHeaders {
  headers: Record<string, string>;
  until: number;
}

/** How long to wait for a login that may take timeoutMs: a little longer, so the sidecar's own timeout speaks first. */
export function loginDeadline(timeoutMs: number): number {
  return timeoutMs + Math.max(5_000, timeoutMs / 10);
}

/** The params of the sidecar's notifications (log, prompt, headers/invalidate, models/changed). */
export interface Notice {
  providerID?: string;
  location?: string;
  kind?: string;
  level?: string;
  message?: string;
  extra?: Record<string, unknown>;
  url?: string;
  userCode?: string;
  expiresAt?: number;
  text?: string;
}
