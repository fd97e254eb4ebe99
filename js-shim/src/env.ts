// What the plugin learns of its host: whether a person is at a terminal, the
// log level OpenCode runs at, OpenCode's version.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isatty } from "node:tty";
import { attempt, isRecord } from "./sidecar.js";

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

/**
 * OpenCode's version, for the sidecar's logs, when it can be told cheaply:
 * OPENCODE_VERSION, else the npm package the running binary came from
 * (node_modules/opencode-ai/bin/opencode -> ../package.json).
 */
export function hostVersion(env: NodeJS.ProcessEnv): string | undefined {
  const v = env["OPENCODE_VERSION"];
  if (v !== undefined && v !== "") return v;
  const pkg: unknown = attempt(() => JSON.parse(readFileSync(join(dirname(process.execPath), "..", "package.json"), "utf8")), undefined);
  const ours = isRecord(pkg) && typeof pkg["name"] === "string" && pkg["name"].startsWith("opencode");
  return ours && typeof pkg["version"] === "string" ? pkg["version"] : undefined;
}
