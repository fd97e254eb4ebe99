// The OpenCode 2 adapter: `setup(ctx)` for each location (a project directory)
// the OpenCode 2 service serves. One sidecar per OpenCode process, shared by
// every location and kept across `opencode reload`. What is listed, what a
// token is and how a login runs are the sidecar's decisions; this file
// registers them with the host: provider and model transforms (config/apply's
// entries), http.request (the bearer; it wins over a stored credential),
// http.response (one renewal and resend after a 401), login methods (the
// sidecar's login; OpenCode's credential is a non-secret marker), and a
// re-apply plus provider reload on models/changed and headers/invalidate.

import { locateBinary } from "./binary.js";
import { MARKER, METHODS } from "./login.js";
import { HeaderCache, hasModels, type ApplyResult, type Notice } from "./protocol.js";
import { answerOrError, sha256Hex } from "./refusal.js";
import { errorMessage, isRecord, Sidecar, SidecarTimeoutError } from "./sidecar.js";

// What this plugin uses of OpenCode 2's plugin API (2.1.2).
type Draft<Fn> = { update: Fn };
interface ProviderInfo { name: string; package: string; activation?: string; settings: Record<string, unknown> }
interface ModelInfo { name: string; limit: { context: number; output: number; input?: number } }
interface HttpEvent { request: Request; response?: Response }
interface Credential { type: "oauth"; methodID: string; access: string; refresh: string; expires: number }
type Authorization = { url: string; instructions: string } & (
  | { mode: "auto"; callback: Promise<Credential> }
  | { mode: "code"; callback: (code: string) => Promise<Credential> }
);
interface LoginMethod {
  integrationID: string;
  method: { id: string; type: "oauth"; label: string };
  authorize: () => Promise<Authorization>;
  refresh: (c: Credential) => Promise<Credential>;
  label: () => string;
}
type IntegrationDraft = Draft<(id: string, fn: (i: { name: string }) => void) => void> & { method: Draft<(m: LoginMethod) => void> };
interface HostContext {
  app?: { version?: string };
  location: { directory: string; workspaceID?: string };
  provider: { transform(fn: (d: Draft<(id: string, fn: (p: ProviderInfo) => void) => void>) => void): Promise<unknown>; reload(): Promise<unknown> };
  model: { transform(fn: (d: Draft<(providerID: string, modelID: string, fn: (m: ModelInfo) => void) => void>) => void): Promise<unknown> };
  session: { hook(name: "http.request" | "http.response", fn: (e: HttpEvent) => Promise<void>, o: { providerID: string }): Promise<unknown> };
  integration: { transform(fn: (d: IntegrationDraft) => void): Promise<unknown> };
}

/** The model id that stands for "log in first" while a user-flow provider has no token. */
const SIGN_IN = "sign-in";
/** OpenCode 2 fails requests while a plugin takes more than 5 s to activate. */
const SETUP_BUDGET_MS = 4_000;
/** How long the sidecar outlives its last location (an `opencode reload` comes back within it). */
const LINGER_MS = 10_000;

function isHostContext(ctx: unknown): ctx is HostContext {
  const f = (o: unknown, k: string): boolean => isRecord(o) && typeof o[k] === "function";
  return isRecord(ctx) && f(ctx["provider"], "transform") && f(ctx["model"], "transform") && f(ctx["session"], "hook") && f(ctx["integration"], "transform");
}

// ------------------------------------------------------------ the shared sidecar

/**
 * The process's plugin state. OpenCode 2 evaluates an installed package once per
 * process, but a local plugin path once per location: the state lives on
 * globalThis (shared by every evaluation), so either way one sidecar serves all.
 */
interface Process { sidecar: Sidecar | undefined; hostVersion: string; locations: Map<string, Location>; linger: ReturnType<typeof setTimeout> | undefined }
const KEY = Symbol.for("@vymalo/opencode-oauth2/opencode2");
const g = globalThis as { [KEY]?: Process };
const proc: Process = (g[KEY] ??= { sidecar: undefined, hostVersion: "2", locations: new Map(), linger: undefined });
const { locations } = proc;

function shared(): Sidecar {
  if (proc.linger !== undefined) clearTimeout(proc.linger);
  proc.linger = undefined;
  if (proc.sidecar !== undefined) return proc.sidecar;
  const binary = locateBinary(import.meta.url);
  proc.sidecar = new Sidecar({
    binary: binary.path,
    verify: binary.verify,
    // The host opens the browser for its login command; the sidecar only prints, and waits for nobody.
    env: { ...process.env, OPENCODE_OAUTH2_BROWSER: "none", OPENCODE_OAUTH2_INTERACTIVE: "0" },
    initializeParams: () => ({
      interactive: false,
      hostVersion: proc.hostVersion,
      binary: { path: binary.path, source: binary.source, check: binary.check },
    }),
    onNotification: (method, params) => locations.get((params as Notice).location ?? "")?.notified(method, params as Notice),
    // A restarted sidecar knows no location: each applies again.
    onStarted: async () => void (await Promise.all([...locations.values()].filter((l) => l.applied !== undefined).map((l) => l.apply()))),
  });
  return proc.sidecar;
}

function release(): void {
  if (locations.size > 0 || proc.sidecar === undefined) return;
  proc.linger = setTimeout(() => {
    proc.linger = undefined;
    if (locations.size > 0) return;
    const s = proc.sidecar;
    proc.sidecar = undefined;
    void s?.dispose();
  }, LINGER_MS);
  proc.linger.unref?.();
}

function setAll(h: Headers, values: Record<string, string>): void {
  for (const [k, v] of Object.entries(values)) h.set(k, v);
}

/** A login that cannot start: OpenCode prints the instructions (why), then the failure. */
function refuse(why: string): Promise<Authorization> {
  const callback = Promise.reject(new Error(why));
  callback.catch(() => undefined);
  return Promise.resolve({ url: "", instructions: why, mode: "auto", callback });
}

// ------------------------------------------------------------ one location

class Location {
  applied: ApplyResult | undefined;
  private readonly cache = new HeaderCache((p) => shared().request("headers/get", { ...p, location: this.key }));
  private readonly hooked = new Set<string>();
  private readonly prompts = new Map<string, (p: { url: string; text: string }) => void>();
  private reapplying: Promise<void> | undefined;
  /** A config/apply is under way: its answer has what a notification before it announces. */
  private applying = 0;
  closed = false;

  constructor(readonly key: string, private readonly ctx: HostContext) {}

  /** config/apply for this location: the sidecar reads the location's OpenCode config files. */
  async apply(timeoutMs?: number): Promise<ApplyResult> {
    this.applying++;
    try {
      this.applied = await shared().request("config/apply", { location: this.key, directory: this.ctx.location.directory }, timeoutMs);
      this.cache.clear();
      return this.applied;
    } finally {
      this.applying--;
    }
  }

  /** The transforms, hooks and login methods, registered once per setup. */
  async register(): Promise<void> {
    await this.ctx.provider.transform((d) => {
      for (const [id, e] of Object.entries(this.applied?.providers ?? {})) {
        const options = isRecord(e["options"]) ? e["options"] : {};
        d.update(id, (p) => {
          p.name ||= String(e["name"] ?? id);
          p.package ||= String(e["npm"] ?? "@ai-sdk/openai-compatible");
          p.settings = { ...p.settings, baseURL: options["baseURL"] };
          p.activation = "enabled";
        });
      }
    });
    await this.ctx.model.transform((d) => {
      for (const [id, e] of Object.entries(this.applied?.providers ?? {})) {
        const models = isRecord(e["models"]) ? e["models"] : {};
        for (const [mid, m] of Object.entries(models)) {
          if (!isRecord(m)) continue;
          d.update(id, mid, (x) => {
            if (typeof m["name"] === "string") x.name = m["name"];
            const limit = m["limit"];
            if (isRecord(limit) && typeof limit["context"] === "number" && typeof limit["output"] === "number") {
              x.limit = { ...x.limit, context: limit["context"], output: limit["output"] };
            }
          });
        }
      }
      // A first run: a provider nobody has logged in to yet has no models, and
      // OpenCode 2 would only say "Model unavailable". One entry in its model
      // list says, in the sidecar's words, which command logs in; a request
      // to it fails with the same words.
      for (const l of this.applied?.logins ?? []) {
        if (!hasModels(this.applied, l.providerID)) d.update(l.providerID, SIGN_IN, (x) => void (x.name = l.message));
      }
    });
    await this.hookProviders();
    // Login methods: for the user-flow providers, and for the providers whose
    // oauth2 block has an error, whose methods answer with that error (where an
    // OpenCode 2 user looks when a provider does not work: its login).
    const a = this.applied;
    const broken = new Map((a?.problems ?? []).filter((p) => p.severity === "error" && !(p.providerID in (a?.providers ?? {}))).map((p) => [p.providerID, p.message]));
    const ids = [...Object.keys(a?.loginTimeoutMs ?? {}), ...[...broken.keys()].filter((id) => a?.managed.includes(id))];
    if (ids.length === 0) return;
    await this.ctx.integration.transform((d) => {
      for (const id of ids) {
        const name = String(a?.providers[id]?.["name"] ?? id);
        d.update(id, (i) => void (i.name ||= name));
        const problem = broken.get(id);
        for (const m of METHODS) {
          d.method.update({
            integrationID: id,
            method: { id: m.id, type: "oauth", label: m.label },
            authorize: () => (problem === undefined ? this.authorize(id, m.id, m.flow) : refuse(`opencode-oauth2: ${problem}`)),
            refresh: async (c) => c,
            label: () => `${name} (opencode-oauth2)`,
          });
        }
      }
    });
  }

  /** http.request and http.response for every managed provider not hooked yet. */
  private async hookProviders(): Promise<void> {
    for (const id of this.applied?.managed ?? []) {
      if (this.hooked.has(id)) continue;
      this.hooked.add(id);
      const only = { providerID: id };
      await this.ctx.session.hook("http.request", async (ev) => setAll(ev.request.headers, await this.cache.headers(id)), only);
      await this.ctx.session.hook("http.response", async (ev) => {
        if (ev.response === undefined) return;
        if (ev.response.status !== 401) {
          ev.response = await answerOrError(id, ev.response);
          return; // RFC 6750: a refusal is a 401, nothing else
        }
        const sent = ev.request.headers.get(this.applied?.tokenHeaders[id] ?? "Authorization");
        if (sent === null) return;
        await ev.response.body?.cancel().catch(() => undefined);
        const fresh = await this.cache.headers(id, { refused: sha256Hex(sent) });
        const again = new Request(ev.request);
        setAll(again.headers, fresh);
        ev.response = await answerOrError(id, await fetch(again));
      }, only);
    }
  }

  /**
   * A login method: the sidecar's login runs; its first prompt is what OpenCode
   * shows. "paste" (a browser on another machine) asks OpenCode for the address
   * the browser ended on, and hands it to the login.
   */
  private async authorize(id: string, methodID: string, flow: string): Promise<Authorization> {
    const prompt = new Promise<{ url: string; text: string }>((resolve) => this.prompts.set(id, resolve));
    const paste = flow === "paste";
    const params = { providerID: id, location: this.key, ...(paste ? { paste: true } : { flow }) };
    const done = shared()
      .request("login", params, this.applied?.loginTimeoutMs[id])
      .then(async () => {
        this.cache.drop(id); // the answer is the news: no headers/invalidate follows a login asked for
        await this.refresh();
        return { type: "oauth" as const, methodID, access: MARKER, refresh: MARKER, expires: Date.now() + 10 * 365 * 86_400_000 };
      });
    done.catch(() => undefined); // OpenCode awaits the callback later
    // A login that ends before its first prompt (refused at once, the server
    // unreachable) still gives OpenCode its words: the instructions, then the failure.
    const ended = done.then(() => "logged in", (e: unknown) => `opencode-oauth2: ${errorMessage(e)}`);
    const first = await Promise.race([prompt, ended.then((text) => ({ url: "", text }))]);
    const shown = { url: first.url, instructions: first.text };
    if (!paste) return { ...shown, mode: "auto", callback: done };
    return { ...shown, mode: "code", callback: (code) => shared().request("login/paste", { providerID: id, location: this.key, text: code }).then(() => done) };
  }

  /** Apply again and let OpenCode list the providers anew (a login, a new catalog). */
  refresh(): Promise<void> {
    return (this.reapplying ??= this.apply()
      .then(() => this.hookProviders())
      .then(() => (this.closed ? undefined : this.ctx.provider.reload()))
      .then(() => undefined, () => undefined)
      .finally(() => (this.reapplying = undefined)));
  }

  notified(method: string, p: Notice): void {
    const id = p.providerID ?? "";
    if (method === "prompt") {
      const waiter = this.prompts.get(id);
      this.prompts.delete(id);
      // OpenCode shows the URL itself; a device login's code ends the sidecar's words.
      waiter?.({ url: p.url ?? "", text: [p.message, p.userCode].filter(Boolean).join(" ") });
    } else if (method === "headers/invalidate") {
      this.cache.drop(id);
      if (!hasModels(this.applied, id)) void this.refresh();
    } else if (method === "models/changed" && this.applying === 0) {
      void this.refresh();
    }
  }
}

/**
 * `setup` for OpenCode 2: quick (cached models at once; a first start with
 * nothing cached waits for the sidecar's bounded boot), the rest in the
 * background. Returns the cleanup OpenCode calls on reload and stop.
 */
export async function setup(ctx: unknown): Promise<(() => void) | undefined> {
  if (!isHostContext(ctx)) return undefined; // OpenCode 1's preview context
  proc.hostVersion = ctx.app?.version ?? proc.hostVersion;
  const ws = ctx.location.workspaceID;
  const key = ws === undefined || ws === "" ? ctx.location.directory : `${ctx.location.directory}#${ws}`;
  const loc = new Location(key, ctx);
  locations.set(key, loc);
  // Slow (a first start fetching its first token): the rest arrives with
  // models/changed. Anything else (no binary, a config file OpenCode cannot
  // read either) fails the plugin, which OpenCode shows in its log and in
  // `opencode plugin list`, the one place OpenCode 2 lets a plugin speak.
  await loc.apply(SETUP_BUDGET_MS).catch((e: unknown) => {
    if (e instanceof SidecarTimeoutError) return;
    locations.delete(key);
    release();
    throw new Error(`opencode-oauth2: ${errorMessage(e)}`);
  });
  await loc.register();
  return () => {
    loc.closed = true;
    if (locations.get(key) !== loc) return; // a newer setup serves this location
    locations.delete(key);
    proc.sidecar?.notify("location/close", { location: key });
    release();
  };
}
