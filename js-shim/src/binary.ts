// Finds the opencode-oauth2 sidecar binary. Order (design.md §6):
//   1. env OPENCODE_OAUTH2_BINARY (an explicit override; never silently ignored),
//   2. the platform package @vymalo/opencode-oauth2-<os>-<arch> (an optionalDependency),
//   3. a development build <repo>/bin/opencode-oauth2 (refused when
//      OPENCODE_OAUTH2_FORBID_DEV_BUILD=1, so a packed-package test cannot pass by accident);
//      it comes before 2 for the repository's own bundle (one without binaries.json).
// Then checks it before the first spawn (verifyBinary): it must be executable, and a
// binary from the platform package must have the sha256 recorded in this package's
// js-shim/dist/binaries.json (written by js-shim/pack.mjs); otherwise it is refused.
// The hash is computed once per installed binary: a stamp next to binaries.json
// records the file version (size, mtime, ctime, inode) that had the right sha256,
// and a later start with the same version skips the 10 MB read (docs/security.md).
// Overrides and development builds are not hashed (the log says so).
// Every input is injectable so the rules are unit-tested without touching the machine.

import { createHash } from "node:crypto";
import { accessSync, closeSync, constants, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export type BinarySource = "env" | "platform-package" | "dev-build";

export interface ResolvedBinary {
  path: string;
  source: BinarySource;
}

export interface ResolveInputs {
  /** process.platform */
  platform: string;
  /** process.arch */
  arch: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Directory of the running shim (js-shim/dist in the package or the repo). */
  moduleDir: string;
  /** True when p is an existing regular file. */
  isFile: (p: string) => boolean;
  /** Resolves a module specifier like require.resolve; returns undefined when not found. */
  resolveModule: (specifier: string) => string | undefined;
}

const PACKAGE = "@vymalo/opencode-oauth2";
const OS_NAMES: Readonly<Record<string, string>> = { linux: "linux", darwin: "darwin", win32: "windows" };
const ARCH_NAMES: Readonly<Record<string, string>> = { x64: "x64", arm64: "arm64" };

/** Every supported Node platform/arch pair, as process.platform and process.arch say them. */
export const SUPPORTED_TARGETS: ReadonlyArray<{ platform: string; arch: string }> = Object.keys(OS_NAMES).flatMap(
  (platform) => Object.keys(ARCH_NAMES).map((arch) => ({ platform, arch })),
);

function truthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes"].includes(v.trim().toLowerCase());
}

/** The platform package name for a Node platform/arch, or undefined when unsupported. */
export function platformPackage(platform: string, arch: string): string | undefined {
  const os = OS_NAMES[platform];
  const cpu = ARCH_NAMES[arch];
  return os === undefined || cpu === undefined ? undefined : `${PACKAGE}-${os}-${cpu}`;
}

export function binaryFileName(platform: string): string {
  return platform === "win32" ? "opencode-oauth2.exe" : "opencode-oauth2";
}

/** Where the binary sits inside its platform package. */
export function binaryPathInPackage(platform: string): string {
  return `bin/${binaryFileName(platform)}`;
}

/** The platform packages of other platforms that are installed (a node_modules or lockfile from elsewhere). */
function foreignPackages(inp: ResolveInputs, own: string | undefined): string[] {
  return SUPPORTED_TARGETS.map((t) => platformPackage(t.platform, t.arch))
    .filter((p): p is string => p !== undefined && p !== own)
    .filter((p) => inp.resolveModule(`${p}/package.json`) !== undefined);
}

/** When the shim runs from OpenCode's plugin cache, the folder to delete to make OpenCode reinstall it. */
function openCodeCacheEntry(moduleDir: string): string | undefined {
  const marker = `${sep}opencode${sep}packages${sep}`;
  const i = moduleDir.indexOf(marker);
  if (i < 0) return undefined;
  const nm = moduleDir.indexOf(`${sep}node_modules${sep}`, i + marker.length);
  return nm < 0 ? undefined : moduleDir.slice(0, nm);
}

export function resolveBinary(inp: ResolveInputs): ResolvedBinary {
  const exe = binaryFileName(inp.platform);

  const override = inp.env["OPENCODE_OAUTH2_BINARY"];
  if (override !== undefined && override.trim() !== "") {
    const p = resolve(override.trim());
    if (!inp.isFile(p)) {
      throw new Error(
        `OPENCODE_OAUTH2_BINARY is set to "${override}", but ${p} is not a file. ` +
          `Point it at an opencode-oauth2 binary or unset it to use the installed platform package.`,
      );
    }
    return { path: p, source: "env" };
  }

  // js-shim/dist -> repo root
  const dev = join(inp.moduleDir, "..", "..", "bin", exe);
  const devExists = inp.isFile(dev);
  const forbidDev = truthy(inp.env["OPENCODE_OAUTH2_FORBID_DEV_BUILD"]);
  const devAllowed = devExists && !forbidDev;

  const pkg = platformPackage(inp.platform, inp.arch);
  // The repository's own bundle (no binaries.json beside it: only js-shim/pack.mjs
  // writes one) with a development build next to it ignores a platform package that
  // npm installed into the repository (the main package's optionalDependencies are
  // the repository's own): that package is a published release, not this checkout.
  const repoBundle = devAllowed && !inp.isFile(join(inp.moduleDir, MANIFEST_FILE));
  if (pkg !== undefined && !repoBundle) {
    // package.json first (the package directory), then the file itself, in
    // case the platform package restricts what may be resolved.
    const manifest = inp.resolveModule(`${pkg}/package.json`);
    const candidates = [
      ...(manifest !== undefined ? [join(dirname(manifest), "bin", exe)] : []),
      ...[inp.resolveModule(`${pkg}/bin/${exe}`)].filter((p): p is string => p !== undefined),
    ];
    for (const p of candidates) {
      if (inp.isFile(p)) return { path: p, source: "platform-package" };
    }
  }

  if (devAllowed) return { path: dev, source: "dev-build" };

  const override_hint = `or set OPENCODE_OAUTH2_BINARY to the path of an opencode-oauth2 binary`;
  const devNote = devExists
    ? ` (a development build exists at ${dev}, but OPENCODE_OAUTH2_FORBID_DEV_BUILD=1 forbids using it)`
    : "";
  if (pkg === undefined) {
    throw new Error(
      `${PACKAGE} has no sidecar binary for this platform (${inp.platform}-${inp.arch}); ` +
        `supported: linux, darwin, windows on x64 and arm64. Build it from source ` +
        `(go build ./go/cmd/opencode-oauth2) and ${override_hint}${devNote}.`,
    );
  }
  const foreign = foreignPackages(inp, pkg);
  const foreignNote =
    foreign.length > 0
      ? ` Installed instead: ${foreign.join(", ")}, for another platform: the dependencies were installed ` +
        `on or for another machine (a node_modules folder or a lock file from another OS or CPU, or npm's --os/--cpu).`
      : "";
  const cache = openCodeCacheEntry(inp.moduleDir);
  const cacheNote =
    cache !== undefined ? ` OpenCode installed this plugin into ${cache}: delete that folder to make it reinstall the plugin.` : "";
  throw new Error(
    `${PACKAGE}: the sidecar binary was not found: the platform package ${pkg} is not installed ` +
      `(it is an optional dependency of ${PACKAGE}, for ${inp.platform}-${inp.arch}).${foreignNote} Reinstall ${PACKAGE} ` +
      `with its optional dependencies (not with --omit=optional / --no-optional, nor omit=optional in an .npmrc ` +
      `or npm_config_omit), ${override_hint}${devNote}.${cacheNote}`,
  );
}

/** The real inputs, for the shim running from moduleUrl (import.meta.url). */
export function defaultResolveInputs(moduleUrl: string): ResolveInputs {
  const req = createRequire(moduleUrl);
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    moduleDir: dirname(fileURLToPath(moduleUrl)),
    isFile: (p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    },
    resolveModule: (spec) => {
      try {
        return req.resolve(spec);
      } catch {
        return undefined;
      }
    },
  };
}

// ---------------------------------------------------------------- verification

/** The file, next to the bundle, that records the sha256 of every packaged binary. */
export const MANIFEST_FILE = "binaries.json";

export interface BinaryEntry {
  /** Path inside the platform package, e.g. bin/opencode-oauth2. */
  file: string;
  /** Lower-case hex. */
  sha256: string;
  size: number;
}

/** js-shim/dist/binaries.json, as js-shim/pack.mjs writes it. */
export interface BinaryManifest {
  package: string;
  version: string;
  /** By platform package name. */
  binaries: Record<string, BinaryEntry>;
}

export interface VerifyInputs {
  platform: string;
  arch: string;
  /** Directory of the running shim; binaries.json is read from there. */
  moduleDir: string;
  /** The text of a file, or undefined when it cannot be read. */
  readText: (p: string) => string | undefined;
  /** The sha256 (lower-case hex) of a file's content; throws when it cannot be read. */
  sha256: (p: string) => string;
  /** True when the file may be executed by this process (always true on Windows). */
  isExecutable: (p: string) => boolean;
  /** What identifies a version of a file on disk, or undefined when it cannot be told. */
  identify: (p: string) => FileIdentity | undefined;
  /** Writes a file (the stamp); failures are ignored (a read-only install hashes at every start). */
  writeText: (p: string, text: string) => void;
}

/**
 * A file version as the kernel sees it. ctime and the inode change with any
 * write, rename or chmod and cannot be set by a process, so a file whose
 * content changed does not keep them (size and mtime alone can be forged).
 */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

/** Next to binaries.json: the binary verified last, so it is hashed once per installation. */
export const STAMP_FILE = ".binary-verified.json";

/** Whether the stamp says this very file version was hashed and had the expected sha256. */
function stamped(text: string | undefined, path: string, sha256: string, id: FileIdentity): boolean {
  if (text === undefined) return false;
  try {
    const v: unknown = JSON.parse(text);
    return (
      isRecord(v) &&
      v["path"] === path &&
      v["sha256"] === sha256 &&
      v["size"] === id.size &&
      v["mtimeMs"] === id.mtimeMs &&
      v["ctimeMs"] === id.ctimeMs &&
      v["ino"] === id.ino
    );
  } catch {
    return false;
  }
}

export interface VerifiedBinary extends ResolvedBinary {
  /** What was checked, for the log: "sha256 verified" or why it was not checked. */
  check: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses binaries.json; throws a message saying what is wrong with it. */
export function parseManifest(text: string, where: string): BinaryManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(v) || typeof v["version"] !== "string" || !isRecord(v["binaries"])) {
    throw new Error(`${where} does not have the expected shape ({package, version, binaries})`);
  }
  const binaries: Record<string, BinaryEntry> = {};
  for (const [name, e] of Object.entries(v["binaries"])) {
    if (!isRecord(e) || typeof e["file"] !== "string" || typeof e["sha256"] !== "string" || !SHA256_HEX.test(e["sha256"])) {
      throw new Error(`${where}: the entry for ${name} has no valid file and sha256`);
    }
    binaries[name] = { file: e["file"], sha256: e["sha256"], size: typeof e["size"] === "number" ? e["size"] : -1 };
  }
  return { package: typeof v["package"] === "string" ? v["package"] : PACKAGE, version: v["version"], binaries };
}

/** The version in the platform package's package.json (bin/<exe> -> ../package.json), for messages. */
function installedVersion(binaryPath: string, inp: VerifyInputs): string | undefined {
  const text = inp.readText(join(dirname(binaryPath), "..", "package.json"));
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) && typeof v["version"] === "string" ? v["version"] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a resolved binary before it is first started. Throws (fail closed) when it
 * is not executable, or when it came from the platform package and its sha256 is not
 * the one this package recorded (or cannot be checked at all).
 */
export function verifyBinary(bin: ResolvedBinary, inp: VerifyInputs): VerifiedBinary {
  if (!inp.isExecutable(bin.path)) {
    const fix =
      bin.source === "platform-package"
        ? `The package manager did not keep its execute permission: reinstall ${PACKAGE}, or run chmod +x "${bin.path}".`
        : `Run chmod +x "${bin.path}".`;
    const what = bin.source === "env" ? `OPENCODE_OAUTH2_BINARY points at ${bin.path}, which` : `The sidecar binary ${bin.path}`;
    throw new Error(`${PACKAGE}: ${what} is not executable. ${fix}`);
  }
  if (bin.source === "env") return { ...bin, check: "sha256 not checked: an OPENCODE_OAUTH2_BINARY override" };
  if (bin.source === "dev-build") return { ...bin, check: "sha256 not checked: a development build" };

  const pkg = platformPackage(inp.platform, inp.arch) ?? "the platform package";
  const manifestPath = join(inp.moduleDir, MANIFEST_FILE);
  const refuse = `${PACKAGE}: refusing to start the sidecar binary ${bin.path}`;
  const text = inp.readText(manifestPath);
  if (text === undefined) {
    throw new Error(
      `${refuse}: its sha256 cannot be checked because ${manifestPath} is missing or unreadable ` +
        `(it is part of the published package). Reinstall ${PACKAGE}, or set OPENCODE_OAUTH2_BINARY to a binary you trust.`,
    );
  }
  let manifest: BinaryManifest;
  try {
    manifest = parseManifest(text, manifestPath);
  } catch (e) {
    throw new Error(`${refuse}: ${e instanceof Error ? e.message : String(e)}. Reinstall ${PACKAGE}.`);
  }
  const entry = manifest.binaries[pkg];
  if (entry === undefined) {
    throw new Error(
      `${refuse}: ${manifestPath} (${PACKAGE} ${manifest.version}) records no sha256 for ${pkg}, so this build of ` +
        `${PACKAGE} was not packaged for ${inp.platform}-${inp.arch}. Install a published release, or set OPENCODE_OAUTH2_BINARY.`,
    );
  }
  const stampPath = join(inp.moduleDir, STAMP_FILE);
  const before = inp.identify(bin.path);
  if (before !== undefined && stamped(inp.readText(stampPath), bin.path, entry.sha256, before)) {
    return { ...bin, check: "sha256 verified (unchanged since it was hashed)" };
  }
  let actual: string;
  try {
    actual = inp.sha256(bin.path);
  } catch (e) {
    throw new Error(`${refuse}: it cannot be read to check its sha256: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (actual !== entry.sha256) {
    const installed = installedVersion(bin.path, inp);
    const versionNote =
      installed !== undefined && installed !== manifest.version
        ? ` The installed ${pkg} is version ${installed}, but ${PACKAGE} is ${manifest.version}: both must be the same version.`
        : ` The file was modified or replaced after installation.`;
    throw new Error(
      `${refuse}: sha256 mismatch for ${bin.path}: expected ${entry.sha256}, actual ${actual} ` +
        `(the expected hash is recorded by ${PACKAGE} ${manifest.version} in ${manifestPath}).${versionNote} Reinstall ${PACKAGE}.`,
    );
  }
  // Stamp only a version that did not change while it was hashed.
  const after = inp.identify(bin.path);
  if (before !== undefined && after !== undefined && JSON.stringify(before) === JSON.stringify(after)) {
    try {
      inp.writeText(stampPath, JSON.stringify({ path: bin.path, sha256: entry.sha256, ...after }));
    } catch {
      /* a read-only installation: hashed again at the next start */
    }
  }
  return { ...bin, check: "sha256 verified" };
}

/** sha256 of a file, read in 1 MiB chunks. */
export function sha256File(p: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(p, "r");
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

export function defaultVerifyInputs(inp: Pick<ResolveInputs, "platform" | "arch" | "moduleDir">): VerifyInputs {
  return {
    platform: inp.platform,
    arch: inp.arch,
    moduleDir: inp.moduleDir,
    readText: (p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    },
    sha256: sha256File,
    identify: (p) => {
      try {
        const st = statSync(p);
        return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
      } catch {
        return undefined;
      }
    },
    writeText: (p, text) => writeFileSync(p, text, { mode: 0o600 }),
    isExecutable: (p) => {
      if (inp.platform === "win32") return true;
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Resolves and checks the sidecar binary for the shim running from moduleUrl (import.meta.url). */
export function locateBinary(moduleUrl: string): VerifiedBinary {
  const inp = defaultResolveInputs(moduleUrl);
  return verifyBinary(resolveBinary(inp), defaultVerifyInputs(inp));
}
