// Shared helpers for js-shim/test/*.test.mjs. Kept outside test/ because
// `node --test js-shim/test/` runs every .mjs file under that directory.

import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundle } from "../build.mjs";

export const shimDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = join(shimDir, "..");
export const goBinaryPath = join(repoRoot, "bin", process.platform === "win32" ? "opencode-oauth2.exe" : "opencode-oauth2");
export const fakeSidecarScript = join(shimDir, "test-support", "fake-sidecar.mjs");

const tmpRoots = [];

/** A fresh temp directory, removed by cleanupTmp(). */
export async function makeTmp(prefix = "oc-oauth2-") {
  const d = await mkdtemp(join(tmpdir(), prefix));
  tmpRoots.push(d);
  return d;
}

export async function cleanupTmp() {
  while (tmpRoots.length > 0) {
    const d = tmpRoots.pop();
    await rm(d, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
  }
}

/**
 * Bundles a src/*.ts module with esbuild into a temp dir and imports it, so
 * tests exercise the same TypeScript the plugin is built from.
 */
export async function importSrc(name) {
  const dir = await makeTmp("oc-oauth2-build-");
  const out = await bundle(`src/${name}.ts`, join(dir, `${name}.mjs`));
  return import(pathToFileURL(out).href);
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

async function newestMtime(dir) {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestMtime(p));
    else if (e.name.endsWith(".go") || e.name === "go.mod" || e.name === "go.sum") newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

/**
 * The real sidecar, <repo>/bin/opencode-oauth2: built with `go build` when it
 * is missing or older than a Go source file (written to a temp name, then
 * renamed, so a concurrent reader never sees half a file).
 */
export async function ensureGoBinary() {
  const have = await stat(goBinaryPath).then((s) => s.mtimeMs, () => 0);
  const src = Math.max(await newestMtime(join(repoRoot, "go")), (await stat(join(repoRoot, "go.mod"))).mtimeMs);
  if (have > 0 && have >= src) return goBinaryPath;
  const tmp = `${goBinaryPath}.tmp-${process.pid}`;
  await run("go", ["build", "-o", tmp, "./go/cmd/opencode-oauth2"], { cwd: repoRoot, timeout: 300_000 });
  await rename(tmp, goBinaryPath);
  return goBinaryPath;
}

/** Writes an executable shell script and returns its path. */
export async function writeScript(dir, name, body) {
  const p = join(dir, name);
  await writeFile(p, `#!/bin/sh\n${body}\n`);
  await chmod(p, 0o755);
  return p;
}

/** A wrapper script that runs the fake sidecar with this Node. */
export async function fakeSidecarBinary(dir) {
  return writeScript(dir, "fake-sidecar", `exec "${process.execPath}" "${fakeSidecarScript}" "$@"`);
}

/**
 * protocol.md matching: objects as subsets, arrays element by element with
 * the same length, "<any>" matches anything, "<string>" any string. Returns a
 * list of mismatch descriptions (empty = match).
 */
export function matchExpect(expect, actual, path = "$") {
  if (expect === "<any>") return [];
  if (expect === "<string>") return typeof actual === "string" ? [] : [`${path}: expected a string, got ${JSON.stringify(actual)}`];
  if (Array.isArray(expect)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${JSON.stringify(actual)}`];
    if (actual.length !== expect.length) return [`${path}: expected ${expect.length} elements, got ${actual.length}: ${JSON.stringify(actual)}`];
    return expect.flatMap((e, i) => matchExpect(e, actual[i], `${path}[${i}]`));
  }
  if (expect !== null && typeof expect === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    return Object.entries(expect).flatMap(([k, e]) =>
      k in actual ? matchExpect(e, actual[k], `${path}.${k}`) : [`${path}.${k}: missing`],
    );
  }
  return Object.is(expect, actual) ? [] : [`${path}: expected ${JSON.stringify(expect)}, got ${JSON.stringify(actual)}`];
}

/** Resolves when predicate() is truthy, polling; rejects after timeoutMs. */
export async function waitFor(predicate, timeoutMs = 5000, what = "condition") {
  const start = Date.now();
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
