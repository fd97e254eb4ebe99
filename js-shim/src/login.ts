// First contact (OpenCode 1): a user-flow provider without a token is invisible
// to OpenCode, so the plugin gets the first token itself: in a terminal, in the
// config hook (then the provider's entry, with its models, replaces the one
// OpenCode got); in the full-screen TUI, beside it; without a terminal, it says
// which command logs in; `opencode auth login` runs it through the auth hook.

import type { AuthHook, Config } from "@opencode-ai/plugin";
import { SERVICE, type Client } from "./log.js";
import type { LoginResult, PendingLogin } from "./protocol.js";
import { errorMessage, errorReason, quietly } from "./sidecar.js";

export type ProviderEntry = NonNullable<Config["provider"]>[string];

/** What the first-contact code needs from the plugin. */
export interface LoginDeps {
  /** Sends `login` (deadline: the sidecar's loginTimeoutMs). */
  login: (providerID: string, flow: string | undefined) => Promise<LoginResult>;
  /** Sends `login/cancel`. */
  cancel: () => void;
  /** Hands a paste login the address the user's browser ended on (`login/paste`). */
  paste: (providerID: string, text: string) => Promise<void>;
  /** Turns the sidecar's entry into the one OpenCode gets (stream repair). */
  entry: (id: string, entry: Record<string, unknown>) => ProviderEntry;
  log: (level: "warn" | "error", message: string, extra?: Record<string, unknown>) => void;
  client: Client;
  /** The next login prompt for a provider, which OpenCode then shows (not the plugin). */
  nextPrompt: (providerID: string) => Promise<{ url: string; text: string }>;
}

/** One line on OpenCode's stderr, where the person who started it looks. */
export function say(line: string, { newLine = false } = {}): void {
  quietly(() => process.stderr.write(`${newLine ? "\n" : ""}${SERVICE}: ${line}\n`));
}

/** A toast in the TUI; outside the TUI the call is answered and ignored. */
export function toast(client: Client, title: string, message: string, variant: "info" | "warning" | "error", duration: number): void {
  quietly(() => client.tui.showToast({ body: { title, message, variant, duration } }).catch(() => undefined));
}

/** Without a terminal: say, where the user looks, how each provider logs in. */
export function tellPending(pending: readonly PendingLogin[], deps: LoginDeps): void {
  for (const p of pending) {
    say(p.message);
    deps.log("warn", `${SERVICE}: ${p.message}`, { providerID: p.providerID });
    toast(deps.client, `Log in: ${p.name}`, p.message, "warning", 15_000);
  }
}

/** In a terminal: each pending login in turn; a failed one does not stop the next; Ctrl-C ends them all. */
export async function loginAtStart(pending: readonly PendingLogin[], providers: Record<string, ProviderEntry>, deps: LoginDeps): Promise<void> {
  let interrupted = false;
  const onInterrupt = (): void => {
    if (!interrupted) say("Ctrl-C: the logins are cancelled; OpenCode starts without them.");
    interrupted = true;
    deps.cancel();
  };
  process.on("SIGINT", onInterrupt);
  try {
    for (const p of pending) {
      if (interrupted) {
        say(p.message);
        continue;
      }
      say(p.announce);
      try {
        const r = await deps.login(p.providerID, undefined);
        providers[p.providerID] = deps.entry(p.providerID, r.provider);
        say(r.message);
      } catch (e) {
        if (errorReason(e) !== "cancelled") say(errorMessage(e));
        say(p.message);
        deps.log("warn", `${SERVICE}: ${errorMessage(e)}`, { providerID: p.providerID });
      }
    }
  } finally {
    process.removeListener("SIGINT", onInterrupt);
  }
}

/** In the full-screen TUI: the pending logins in turn beside OpenCode; loggedIn(id) makes it reload; a failure is a toast. */
export async function loginInBackground(pending: readonly PendingLogin[], deps: LoginDeps, loggedIn: (id: string) => void): Promise<void> {
  for (const p of pending) {
    try {
      const r = await deps.login(p.providerID, undefined);
      toast(deps.client, `Logged in: ${p.name}`, r.message, "info", 10_000);
      loggedIn(p.providerID);
    } catch (e) {
      deps.log("warn", `${SERVICE}: ${errorMessage(e)}`, { providerID: p.providerID });
      toast(deps.client, `Not logged in: ${p.name}`, `${errorMessage(e)}\n${p.message}`, "warning", 15_000);
    }
  }
}

/** The login methods: OpenCode 2's id, OpenCode 1's label (scripts rely on these: `-m Browser`), the sidecar's flow. */
export const METHODS = [
  { id: "browser", label: "Browser", flow: "authorization_code" },
  { id: "device", label: "Device code", flow: "device_code" },
  { id: "paste", label: "Browser on another machine", flow: "paste" },
] as const;

/** What OpenCode stores as the credential of a managed gateway: not a secret (the tokens stay in the sidecar's store). */
export const MARKER = "opencode-oauth2-managed";

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
 * reload that follows, the next one), else SERVICE, whose methods then ask
 * which gateway (a select prompt). The callback names that gateway, so OpenCode
 * files its auth.json entry (MARKER) under it.
 */
export function authHook(gateways: () => readonly string[], pending: () => readonly string[], argv: readonly string[], deps: LoginDeps): AuthHook {
  const target = (): string | undefined => {
    const i = argv.findIndex((a) => /^(-p|--provider)(=|$)/.test(a));
    const flag = argv[i] ?? "";
    const p = flag.includes("=") ? flag.slice(flag.indexOf("=") + 1) : argv[i + 1];
    const ids = gateways();
    if (i >= 0 && p !== undefined && ids.includes(p)) return p;
    return ids.length === 1 ? ids[0] : pending().find((id) => ids.includes(id));
  };
  const method = ({ label, flow }: (typeof METHODS)[number]): AuthHook["methods"][number] => ({
    type: "oauth",
    label,
    prompts:
      target() !== undefined ? [] : [{ type: "select", key: "gateway", message: "Gateway", options: gateways().map((id) => ({ label: id, value: id })) }],
    authorize: async (inputs) => {
      const id = target() ?? inputs?.["gateway"] ?? "";
      // The login starts now, so that OpenCode can show its URL and code (the
      // TUI's /connect dialog, or "Go to:" in the terminal); the callback waits
      // for its end.
      const prompt = deps.nextPrompt(id);
      const result = deps.login(id, flow);
      result.catch(() => undefined);
      const first = await Promise.race([
        prompt,
        result.then(() => undefined, (e: unknown) => ({ url: "", text: errorMessage(e) })),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000).unref?.()),
      ]);
      // The outcome, below OpenCode's "Waiting for authorization" spinner.
      const failed = (e: unknown): { type: "failed" } => {
        say(errorMessage(e), { newLine: true });
        return { type: "failed" };
      };
      const finish = (): Promise<{ type: "success"; provider: string; key: string } | { type: "failed" }> =>
        result.then((r) => (say(r.message, { newLine: true }), { type: "success", provider: id, key: MARKER }), failed);
      const shown = { url: first?.url ?? "", instructions: first?.text ?? `${SERVICE}: logging in to ${id} (${label})` };
      if (flow !== "paste") return { ...shown, method: "auto", callback: finish };
      // A browser on another machine: OpenCode asks for the address it ended on.
      const pasted = (code: string): Promise<{ type: "success"; provider: string; key: string } | { type: "failed" }> =>
        deps.paste(id, code).then(finish, (e: unknown) => {
          const r = failed(e);
          deps.cancel();
          return r;
        });
      return { ...shown, method: "code", callback: pasted };
    },
  });
  return {
    get provider(): string {
      return target() ?? SERVICE;
    },
    get methods(): AuthHook["methods"] {
      return METHODS.map(method);
    },
  };
}
