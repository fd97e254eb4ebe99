// Models after a login made elsewhere (the command line, another OpenCode)
// while this OpenCode runs: a provider that OpenCode could not list for want
// of a token appears once the instance is reloaded, which runs the config
// hooks again (OpenCode's TUI does the same after /connect). The reload waits
// until no session is busy, and happens at most once per plugin instance.

import type { Client } from "./log.js";
import { quietly } from "./sidecar.js";

type Event = { type: string; properties?: unknown };

export class Reloader {
  /** Providers OpenCode could not list at the last config/apply. */
  invisible = new Set<string>();
  /** The config hook is running (its own logins are merged there). */
  configuring = false;
  private readonly busy = new Set<string>();
  private wanted = false;
  private done = false;

  constructor(
    private readonly client: Client,
    private readonly warn: (message: string) => void,
  ) {}

  /** The provider's token changed for a reason this plugin did not cause (headers/invalidate). */
  loggedIn(id: string): void {
    if (!this.configuring && this.invisible.has(id)) this.reloadNow();
  }

  /** A login this plugin ran beside the TUI ended: reload once no session is busy. */
  reloadNow(): void {
    this.wanted = true;
    this.maybeReload();
  }

  /** OpenCode's events: which sessions are busy. */
  event(e: Event): void {
    const p = (e.properties ?? {}) as { sessionID?: string; status?: { type?: string } };
    if (p.sessionID === undefined || (e.type !== "session.status" && e.type !== "session.idle")) return;
    if (e.type === "session.status" && p.status?.type !== "idle") this.busy.add(p.sessionID);
    else this.busy.delete(p.sessionID);
    this.maybeReload();
  }

  private maybeReload(): void {
    if (!this.wanted || this.done || this.busy.size > 0) return;
    this.done = true;
    this.warn("opencode-oauth2: a login happened while OpenCode ran; reloading the instance so that the provider's models appear");
    quietly(() => this.client.instance.dispose().catch(() => undefined)); // an OpenCode without the route throws
  }
}
