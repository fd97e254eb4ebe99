// The sidecar's answers (protocol/protocol.md), as the pinned sidecar of this
// package sends them: the shim and its sidecar ship together, so an answer is
// taken as typed (a sidecar of another version is refused at initialize).

/** A provider entry for OpenCode's config (OpenCode 1's shape). */
type Entry = Record<string, unknown>;
interface Problem { providerID: string; field: string; severity: "error" | "warning"; message: string }
/** A user-flow provider without a usable token; `message` names the command that logs in, `announce` precedes its login at start. */
export interface PendingLogin { providerID: string; name: string; flow: string; timeoutMs: number; message: string; announce: string }
export interface HeadersResult { headers: Record<string, string>; cacheUntil?: number }
export interface LoginResult { providerID: string; provider: Entry; models: number; message: string }

export interface ApplyResult {
  providers: Record<string, Entry>;
  managed: string[];
  /** Managed providers registered with the Responses API (their streams are repaired). */
  responseApi: string[];
  problems: Problem[];
  logins: PendingLogin[];
  /** How long to wait for a login of each user-flow provider, or a headers/get that may run one (the sidecar's ends first). */
  loginTimeoutMs: Record<string, number>;
  /** The header each managed provider's token goes in. */
  tokenHeaders: Record<string, string>;
  /** The sidecar's decision: a login may wait for a person (a terminal, OPENCODE_OAUTH2_INTERACTIVE, CI). */
  interactive: boolean;
}

interface HeadersParams {
  providerID: string;
  modelID?: string;
  /** The sha256 (hex) of a value the gateway refused: the sidecar renews it. */
  refused?: string;
}

/**
 * Each provider's headers, reused until the sidecar's cacheUntil, with one
 * headers/get in flight per provider. An answer that arrives after drop()
 * (a login, an invalidation) is not cached: it may hold the old token.
 */
export class HeaderCache {
  private readonly hits = new Map<string, { headers: Record<string, string>; until: number }>();
  private readonly inflight = new Map<string, Promise<Record<string, string>>>();
  private readonly generation = new Map<string, number>();

  constructor(private readonly get: (p: HeadersParams) => Promise<HeadersResult>) {}

  /** The cached headers, while they are valid. */
  hit(id: string): Record<string, string> | undefined {
    const h = this.hits.get(id);
    return h !== undefined && h.until > Date.now() ? h.headers : undefined;
  }

  drop(id: string): void {
    this.hits.delete(id);
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  clear(): void {
    this.hits.clear();
  }

  /** The cached headers, else a headers/get's; with `refused`, always a new headers/get. */
  headers(id: string, extra: Omit<HeadersParams, "providerID"> = {}): Promise<Record<string, string>> {
    const hit = this.hit(id);
    if (extra.refused === undefined) {
      if (hit !== undefined) return Promise.resolve(hit);
      const running = this.inflight.get(id);
      if (running !== undefined) return running;
    } else this.drop(id);
    const gen = this.generation.get(id) ?? 0;
    const p = this.get({ providerID: id, ...extra })
      .then((r) => {
        if (r.cacheUntil !== undefined && r.cacheUntil > Date.now() && (this.generation.get(id) ?? 0) === gen) {
          this.hits.set(id, { headers: r.headers, until: r.cacheUntil });
        }
        return r.headers;
      })
      .finally(() => this.inflight.get(id) === p && this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }
}

/** Whether the provider's entry lists models (one without is listed only after a login). */
export function hasModels(r: ApplyResult | undefined, id: string): boolean {
  const models = r?.providers[id]?.["models"];
  return typeof models === "object" && models !== null && Object.keys(models).length > 0;
}

/** The params of the sidecar's notifications (log, prompt, headers/invalidate, models/changed). */
export interface Notice {
  providerID?: string;
  location?: string;
  level?: "debug" | "info" | "warn" | "error";
  extra?: Record<string, unknown>;
  /** A prompt's parts; `text`, all of it for a terminal; `toast`, for a toast (no key), shown `toastMs`. */
  message?: string;
  url?: string;
  userCode?: string;
  text?: string;
  toast?: string;
  toastMs?: number;
}
