import type { PluginInput } from "@opencode-ai/plugin";
import { quietly } from "./sidecar.js";

export const SERVICE = "opencode-oauth2";
export type Client = PluginInput["client"];
type Level = "debug" | "info" | "warn" | "error";

export type Log = ((level: Level, message: string, extra?: Record<string, unknown>) => void) & {
  /** Waits (at most timeoutMs) for the log calls still in flight. */
  flush: (timeoutMs: number) => Promise<void>;
};

/**
 * Logging into OpenCode's log, for warnings and errors only (everything
 * when OpenCode runs at DEBUG): each client.app.log is an HTTP call into
 * OpenCode's server, which costs a starting OpenCode hundreds of ms and
 * tens of MiB, so a start with nothing wrong makes none (the sidecar keeps
 * its own log file: `opencode-oauth2 logs`). Calls in flight are flushed on
 * dispose: a short command must not lose the line that says what is wrong.
 */
export function logger(client: Client, debug: () => boolean): Log {
  const inflight = new Set<Promise<unknown>>();
  const log = (level: Level, message: string, extra?: Record<string, unknown>): void => {
    if ((level === "debug" || level === "info") && !debug()) return;
    // Logging must never throw into OpenCode.
    quietly(() => {
      const body = extra === undefined ? { service: SERVICE, level, message } : { service: SERVICE, level, message, extra };
      const p: Promise<unknown> = client.app.log({ body }).catch(() => undefined);
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    });
  };
  const flush = async (timeoutMs: number): Promise<void> => {
    if (inflight.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  };
  return Object.assign(log, { flush });
}
