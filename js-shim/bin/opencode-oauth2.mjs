#!/usr/bin/env node
// The `opencode-oauth2` command of the npm package (`npx @vymalo/opencode-oauth2 ...`,
// node_modules/.bin/opencode-oauth2): finds the sidecar binary the way the plugin does
// (js-shim/src/binary.ts) and runs it with this process's arguments and terminal.
//   1. OPENCODE_OAUTH2_BINARY, 2. the platform package @vymalo/opencode-oauth2-<os>-<arch>
//   (refused when another user could replace it, as the plugin refuses it),
//   3. a development build <repo>/bin/opencode-oauth2 (unless OPENCODE_OAUTH2_FORBID_DEV_BUILD).
// The exit code is the binary's; a binary killed by a signal kills this process with it.
// Plain JavaScript with no dependencies: it must start fast and run on any Node >= 20.

import { spawn } from "node:child_process";
import { realpathSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = "@vymalo/opencode-oauth2";
const here = dirname(fileURLToPath(import.meta.url));
const exe = process.platform === "win32" ? "opencode-oauth2.exe" : "opencode-oauth2";
const isFile = (p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

function fail(message) {
  process.stderr.write(`opencode-oauth2: ${message}\n`);
  process.exit(1);
}

function findBinary() {
  const override = process.env.OPENCODE_OAUTH2_BINARY?.trim();
  if (override) {
    const p = resolve(override);
    if (!isFile(p)) fail(`OPENCODE_OAUTH2_BINARY is set to "${override}", but ${p} is not a file.`);
    return verified("OPENCODE_OAUTH2_BINARY", p);
  }
  const os = { linux: "linux", darwin: "darwin", win32: "windows" }[process.platform];
  const cpu = { x64: "x64", arm64: "arm64" }[process.arch];
  const pkg = os && cpu ? `${PACKAGE}-${os}-${cpu}` : undefined;
  if (pkg) {
    try {
      const p = join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), "bin", exe);
      if (isFile(p)) return verified(pkg, p);
    } catch {
      // not installed: try a development build
    }
  }
  const dev = join(here, "..", "..", "bin", exe);
  const forbid = ["1", "true", "yes"].includes((process.env.OPENCODE_OAUTH2_FORBID_DEV_BUILD ?? "").trim().toLowerCase());
  if (!forbid && isFile(dev)) return verified("a development build", dev);
  if (!pkg) fail(`no binary for this platform (${process.platform}-${process.arch}); set OPENCODE_OAUTH2_BINARY to one built from source.`);
  fail(
    `the platform package ${pkg} is not installed (an optional dependency of ${PACKAGE}); ` +
      `reinstall ${PACKAGE} with its optional dependencies (not with --omit=optional), or set OPENCODE_OAUTH2_BINARY.`,
  );
}

/**
 * The platform package's binary by its canonical path, refused when another user could
 * replace it or a directory above it (the rule of js-shim/src/binary.ts, untrusted()).
 */
function verified(what, path) {
  const real = realpathSync(path);
  if (process.platform === "win32") return real;
  const uid = process.getuid(), gid = process.getgid();
  for (let cur = real; ; cur = dirname(cur)) {
    const st = statSync(cur);
    const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
    const open = st.uid !== uid && st.uid !== 0 ? `belongs to another user (uid ${st.uid})`
      : (st.mode & 0o002) && !sticky ? "is writable by every user"
      : (st.mode & 0o020) && st.gid !== gid && !sticky ? `is writable by the group ${st.gid}` : "";
    if (open) fail(`refusing to run ${real} (${what}): another user could replace it (${cur} ${open}); reinstall ${PACKAGE} where only you can write.`);
    if (dirname(cur) === cur) return real;
  }
}

// Run through npx (npm exec), the binary is on PATH only for this run: its hints
// must say `npx @vymalo/opencode-oauth2 ...` to work once typed in the shell.
const env = process.env.npm_command === "exec" ? { ...process.env, OPENCODE_OAUTH2_COMMAND: `npx ${PACKAGE}` } : process.env;
const child = spawn(findBinary(), process.argv.slice(2), { stdio: "inherit", env });
// Ctrl-C reaches the binary from the terminal (same process group): this process
// only waits for its exit code. Signals sent to this process alone are passed on.
process.on("SIGINT", () => {});
for (const sig of ["SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("error", (err) => fail(`cannot run the binary: ${err.message}`));
child.on("exit", (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
