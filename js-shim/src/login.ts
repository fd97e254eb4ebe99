// First contact: a user-flow provider without a token is
// invisible to OpenCode, so the plugin gets the first token itself.
//   - at start in a terminal: the pending logins run one after another in the
//     config hook (browser or device code, as the sidecar says), then the
//     provider's entry, with its models, replaces the one OpenCode gets;
//   - at start without a terminal: one line per provider on stderr (and a
//     toast, and OpenCode's log) naming the command that logs in;
//   - `opencode auth login`: the auth hook (authHook) runs the same login.
// The sidecar words every message; this file only routes them.

import type { AuthHook, Config, PluginInput } from "@opencode-ai/plugin";
import { loginDeadline, type LoginResult, type PendingLogin } from "./protocol.js";
import { errorMessage, isRecord, RpcError } from "./sidecar.js";

const SERVICE = "opencode-oauth2";
type Client = PluginInput["client"];
type ProviderEntry = NonNullable<Config["provider"]>[string];

/** What the first-contact code needs from the plugin. */
export interface LoginDeps {
  /** Sends `login` (deadline: the login's timeout plus a margin). */
  login: (providerID: string, flow: string | undefined, timeoutMs: number) => Promise<LoginResult>;
  /** Sends `login/cancel`. */
  cancel: () => void;
  /** Hands a paste login the address the user's browser ended on (`login/paste`). */
  paste: (providerID: string, text: string) => Promise<void>;
  /** Turns the sidecar's entry into the one OpenCode gets (stream repair). */
  entry: (id: string, entry: Record<string, unknown>) => ProviderEntry;
  /** A warning or error for OpenCode's log. */
  log: (level: "warn" | "error", message: string, extra?: Record<string, unknown>) => void;
  client: Client;
  /**
   * The next login prompt for a provider (its URL and text), which is then not
   * shown by the plugin itself: OpenCode shows it.
   */
  nextPrompt: (providerID: string) => Promise<{ url: string; text: string }>;
}

/** One line on OpenCode's stderr, where the person who started it looks. */
export function say(line: string, { newLine = false } = {}): void {
  try {
    process.stderr.write(`${newLine ? "\n" : ""}${SERVICE}: ${line}\n`);
  } catch {
    /* no stderr */
  }
}

/** A toast in the TUI; outside the TUI the call is answered and ignored. */
export function toast(client: Client, title: string, message: string, variant: "info" | "warning" | "error", duration: number): void {
  try {
    void client.tui.showToast({ body: { title, message, variant, duration } }).then(
      () => undefined,
      () => undefined,
    );
  } catch {
    /* no TUI */
  }
}

/** Without a terminal: say, where the user looks, how each provider logs in. */
export function tellPending(pending: readonly PendingLogin[], deps: LoginDeps): void {
  for (const p of pending) {
    say(p.message);
    deps.log("warn", `${SERVICE}: ${p.message}`, { providerID: p.providerID });
    toast(deps.client, `Log in: ${p.name}`, p.message, "warning", 15_000);
  }
}

/**
 * In a terminal: each pending login in turn, announced; a refused or timed
 * out login does not stop the next; Ctrl-C ends them all and OpenCode starts.
 */
export async function loginAtStart(
  pending: readonly PendingLogin[],
  providers: Record<string, ProviderEntry>,
  deps: LoginDeps,
): Promise<void> {
  let interrupted = false;
  const onInterrupt = (): void => {
    if (!interrupted) say("Ctrl-C: the logins are cancelled; OpenCode starts without them.");
    interrupted = true;
    deps.cancel();
  };
  process.on("SIGINT", onInterrupt);
  try {
    for (const [i, p] of pending.entries()) {
      if (interrupted) {
        say(p.message);
        continue;
      }
      const how = p.flow === "device_code" ? "a code to enter in a browser" : "your browser";
      const count = pending.length > 1 ? ` (${i + 1} of ${pending.length})` : "";
      say(`logging in to ${p.name} (${p.providerID})${count} with ${how}; Ctrl-C to skip.`);
      try {
        const r = await deps.login(p.providerID, undefined, loginDeadline(p.timeoutMs));
        providers[p.providerID] = deps.entry(p.providerID, r.provider);
        say(r.message);
      } catch (e) {
        const reason = e instanceof RpcError && isRecord(e.data) ? String(e.data["reason"] ?? "") : "";
        if (reason !== "cancelled") say(`${errorMessage(e)}`);
        say(p.message);
        deps.log("warn", `${SERVICE}: ${errorMessage(e)}`, { providerID: p.providerID });
      }
    }
  } finally {
    process.removeListener("SIGINT", onInterrupt);
  }
}

/**
 * In the full-screen TUI: the pending logins run one after another beside
 * OpenCode, which starts at once (the browser opened by the sidecar, its URL
 * and code in a toast); each success is reported to loggedIn (OpenCode then
 * reloads, and the provider's models appear); a failure is a toast.
 */
export async function loginInBackground(pending: readonly PendingLogin[], deps: LoginDeps, loggedIn: (id: string) => void): Promise<void> {
  for (const p of pending) {
    try {
      const r = await deps.login(p.providerID, undefined, loginDeadline(p.timeoutMs));
      toast(deps.client, `Logged in: ${p.name}`, r.message, "info", 10_000);
      loggedIn(p.providerID);
    } catch (e) {
      deps.log("warn", `${SERVICE}: ${errorMessage(e)}`, { providerID: p.providerID });
      toast(deps.client, `Not logged in: ${p.name}`, `${errorMessage(e)}\n${p.message}`, "warning", 15_000);
    }
  }
}

/** The two login methods, by label (scripts rely on these: `-m Browser`). */
export const METHOD_LABELS = { Browser: "authorization_code", "Device code": "device_code", "Browser on another machine": "paste" } as const;
type MethodLabel = keyof typeof METHOD_LABELS;

/** The id OpenCode lists the plugin under when several gateways need logins. */
export const AUTH_PROVIDER = "opencode-oauth2";

/** What OpenCode stores in its auth.json for a managed gateway: not a secret. */
export const PLACEHOLDER_KEY = "opencode-oauth2-managed";

/** The value of `-p`/`--provider` on OpenCode's command line, if any. */
export function providerFlag(argv: readonly string[]): string | undefined {
  for (const [i, a] of argv.entries()) {
    if (a === "-p" || a === "--provider") return argv[i + 1];
    const m = /^(?:-p|--provider)=(.*)$/.exec(a);
    if (m !== null) return m[1];
  }
  return undefined;
}

/** `opencode auth login` (or `providers login`) is running: a login is asked for explicitly. */
export function isLoginCommand(argv: readonly string[]): boolean {
  return argv.some((a, i) => (a === "auth" || a === "providers") && argv[i + 1] === "login");
}

/**
 * OpenCode's auth hook: `opencode auth login -p <id> -m Browser|"Device code"`,
 * and the TUI's /connect. OpenCode reads `provider` (one id per plugin) when it
 * lists the plugins' providers, after the config hook, and matches `-p` against
 * it; so `provider` is the gateway named by `-p` when it is one of ours, else the
 * only gateway, else the first one that needs a login (after a login and the
 * reload that follows, the next one), else AUTH_PROVIDER, whose methods then ask
 * which gateway (a select prompt). The callback names that gateway, so OpenCode
 * files its auth.json entry under it; the entry is PLACEHOLDER_KEY, not a secret
 * (the tokens stay in the sidecar's store).
 */
export function authHook(
  gateways: () => Readonly<Record<string, number>>,
  pending: () => readonly string[],
  argv: readonly string[],
  deps: LoginDeps,
): AuthHook {
  const target = (): string | undefined => {
    const p = providerFlag(argv);
    const ids = Object.keys(gateways());
    if (p !== undefined && ids.includes(p)) return p;
    if (ids.length === 1) return ids[0];
    return pending().find((id) => ids.includes(id));
  };
  const method = (label: MethodLabel): AuthHook["methods"][number] => ({
    type: "oauth",
    label,
    prompts:
      target() !== undefined
        ? []
        : [{ type: "select", key: "gateway", message: "Gateway", options: Object.keys(gateways()).map((id) => ({ label: id, value: id })) }],
    authorize: async (inputs) => {
      const id = target() ?? inputs?.["gateway"] ?? "";
      const timeout = gateways()[id] ?? 300_000;
      // The login starts now, so that OpenCode can show its URL and code (the
      // TUI's /connect dialog, or "Go to:" in the terminal); the callback waits
      // for its end.
      const prompt = deps.nextPrompt(id);
      const result = deps.login(id, METHOD_LABELS[label], loginDeadline(timeout));
      result.catch(() => undefined);
      const first = await Promise.race([
        prompt,
        result.then(
          () => undefined,
          (e: unknown) => ({ url: "", text: errorMessage(e) }),
        ),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000).unref?.()),
      ]);
      const finish = async (): Promise<{ type: "success"; provider: string; key: string } | { type: "failed" }> => {
        try {
          // (below OpenCode's "Waiting for authorization" spinner)
          say((await result).message, { newLine: true });
          return { type: "success", provider: id, key: PLACEHOLDER_KEY };
        } catch (e) {
          say(errorMessage(e), { newLine: true });
          return { type: "failed" };
        }
      };
      const url = first?.url ?? "";
      const instructions = first?.text ?? `opencode-oauth2: logging in to ${id} (${label})`;
      if (METHOD_LABELS[label] !== "paste") return { url, instructions, method: "auto", callback: finish };
      // A browser on another machine: OpenCode asks for the address it ended on.
      return {
        url,
        instructions,
        method: "code",
        callback: async (code: string) => {
          try {
            await deps.paste(id, code);
          } catch (e) {
            say(errorMessage(e), { newLine: true });
            deps.cancel();
            return { type: "failed" };
          }
          return finish();
        },
      };
    },
  });
  return {
    get provider(): string {
      return target() ?? AUTH_PROVIDER;
    },
    get methods(): AuthHook["methods"] {
      return [method("Browser"), method("Device code"), method("Browser on another machine")];
    },
  };
}
