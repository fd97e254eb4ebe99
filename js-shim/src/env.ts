// What the plugin alone sees of its host: a terminal, the full-screen TUI, the
// log level OpenCode runs at (the sidecar decides from them).

import { isatty } from "node:tty";
import { attempt } from "./sidecar.js";

/**
 * What the plugin alone sees of a person at a terminal (protocol: `interactive`;
 * the sidecar decides, with OPENCODE_OAUTH2_INTERACTIVE and CI): not
 * `opencode serve`/`web`/`acp` (a server, whoever is at its terminal), and a
 * terminal on stdin (not piped, not /dev/null) and on stdout or stderr.
 */
export function atTerminal(argv: readonly string[]): boolean {
  if (argv.some((a) => a === "serve" || a === "web" || a === "acp")) return false;
  const tty = (fd: number): boolean => attempt(() => isatty(fd), false);
  return tty(0) && (tty(1) || tty(2));
}

/** OpenCode 1's commands; any other first argument (or none) starts the full-screen TUI. */
const COMMANDS = new Set(["completion", "acp", "mcp", "attach", "run", "debug", "providers", "auth", "agent", "upgrade", "uninstall",
  "serve", "web", "models", "stats", "export", "import", "github", "session", "plugin", "plug", "db"]);

/**
 * OpenCode runs its full-screen TUI (`opencode`, `opencode <project>`, `opencode pr
 * <n>`): the terminal is in raw mode there, so nothing may wait on the terminal or
 * write to it (Ctrl-C is a key, not a signal).
 */
export function isTUI(argv: readonly string[]): boolean {
  const first = argv.slice(2).find((a) => !a.startsWith("-"));
  return first === undefined || !COMMANDS.has(first);
}

/** The level OpenCode runs at (`--log-level`, its config, OPENCODE_LOG_LEVEL), as written: the sidecar reads it. */
export function logLevel(cfgLevel: unknown, env: NodeJS.ProcessEnv, argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => a === "--log-level" || a.startsWith("--log-level="));
  const v = (i < 0 ? undefined : argv[i]?.includes("=") ? argv[i]?.split("=")[1] : argv[i + 1]) ?? cfgLevel ?? env["OPENCODE_LOG_LEVEL"];
  return typeof v === "string" ? v : undefined;
}
