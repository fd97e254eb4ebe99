// Finds the sidecar binary: OPENCODE_OAUTH2_BINARY (never silently ignored),
// else the platform package @vymalo/opencode-oauth2-<os>-<arch>, else a
// development build <repo>/bin/opencode-oauth2 (first for the repository's own
// bundle; refused with OPENCODE_OAUTH2_FORBID_DEV_BUILD=1, so that a packed-package
// test cannot pass by accident). Before every spawn it must be executable and
// out of other users' reach (docs/security.md). Inputs are injectable for tests.

import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { attempt } from "./sidecar.js";

type BinarySource = "env" | "platform-package" | "dev-build";

interface ResolvedBinary { path: string; source: BinarySource }

interface ResolveInputs {
  platform: string; // process.platform
  arch: string; // process.arch
  env: Readonly<Record<string, string | undefined>>;
  /** Directory of the running shim (js-shim/dist in the package or the repo). */
  moduleDir: string;
  isFile: (p: string) => boolean;
  /** Like require.resolve; undefined when not found. */
  resolveModule: (specifier: string) => string | undefined;
}

const PACKAGE = "@vymalo/opencode-oauth2";
const OS_NAMES: Readonly<Record<string, string>> = { linux: "linux", darwin: "darwin", win32: "windows" };
const ARCH_NAMES: Readonly<Record<string, string>> = { x64: "x64", arm64: "arm64" };

/** Every supported Node platform/arch pair, as process.platform and process.arch say them. */
export const SUPPORTED_TARGETS: ReadonlyArray<{ platform: string; arch: string }> = Object.keys(OS_NAMES).flatMap(
  (platform) => Object.keys(ARCH_NAMES).map((arch) => ({ platform, arch })),
);

/** The platform package name for a Node platform/arch, or undefined when unsupported. */
export function platformPackage(platform: string, arch: string): string | undefined {
  const os = OS_NAMES[platform];
  const cpu = ARCH_NAMES[arch];
  return os === undefined || cpu === undefined ? undefined : `${PACKAGE}-${os}-${cpu}`;
}

export function binaryFileName(platform: string): string {
  return platform === "win32" ? "opencode-oauth2.exe" : "opencode-oauth2";
}

/** The platform packages of other platforms that are installed (a node_modules or lockfile from elsewhere). */
function foreignPackages(inp: ResolveInputs, own: string | undefined): string[] {
  const all = SUPPORTED_TARGETS.map((t) => platformPackage(t.platform, t.arch));
  return all.filter((p): p is string => p !== undefined && p !== own && inp.resolveModule(`${p}/package.json`) !== undefined);
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
  const devAllowed = devExists && !["1", "true", "yes"].includes(inp.env["OPENCODE_OAUTH2_FORBID_DEV_BUILD"]?.trim().toLowerCase() ?? "");

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
    const candidates = [manifest !== undefined ? join(dirname(manifest), "bin", exe) : undefined, inp.resolveModule(`${pkg}/bin/${exe}`)];
    const found = candidates.find((p): p is string => p !== undefined && inp.isFile(p));
    if (found !== undefined) return { path: found, source: "platform-package" };
  }

  if (devAllowed) return { path: dev, source: "dev-build" };

  const override_hint = `or set OPENCODE_OAUTH2_BINARY to the path of an opencode-oauth2 binary`;
  const devNote = devExists ? ` (a development build exists at ${dev}, but OPENCODE_OAUTH2_FORBID_DEV_BUILD=1 forbids using it)` : "";
  if (pkg === undefined) {
    throw new Error(
      `${PACKAGE} has no sidecar binary for this platform (${inp.platform}-${inp.arch}); ` +
        `supported: linux, darwin, windows on x64 and arm64. Build it from source ` +
        `(go build ./go/cmd/opencode-oauth2) and ${override_hint}${devNote}.`,
    );
  }
  const foreign = foreignPackages(inp, pkg);
  const foreignNote = foreign.length === 0 ? "" : ` Installed instead: ${foreign.join(", ")}, for another platform: the dependencies were installed ` +
    `on or for another machine (a node_modules folder or a lock file from another OS or CPU, or npm's --os/--cpu).`;
  const cache = openCodeCacheEntry(inp.moduleDir);
  const cacheNote = cache !== undefined ? ` OpenCode installed this plugin into ${cache}: delete that folder to make it reinstall the plugin.` : "";
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
    isFile: (p) => attempt(() => statSync(p).isFile(), false),
    resolveModule: (spec) => attempt<string | undefined>(() => req.resolve(spec), undefined),
  };
}

// ---------------------------------------------------------------- trust

/** Written by js-shim/pack.mjs beside the bundle of a packed package (the repository's bundle has none). */
const MANIFEST_FILE = "binaries.json";

interface VerifiedBinary extends ResolvedBinary {
  check: string; // what was checked, for the log
}

/** What the trust check reads of the machine (injectable for tests). */
interface TrustInputs {
  platform: string;
  uid: number;
  gid: number;
  realpath: (p: string) => string; // throws when p does not exist
  stat: (p: string) => { uid: number; gid: number; mode: number; isDirectory: boolean };
  isExecutable: (p: string) => boolean; // by this process
}

/**
 * Why another user could replace the binary, or undefined when nobody but this
 * user (and root) can: the file and every directory above it must belong to
 * this user or root and be writable by nobody else (a sticky directory such as
 * /tmp may be: others cannot rename or remove what is not theirs; a group may
 * write only when it is this user's own group). npm verified what it installed;
 * this check closes what comes after (a package planted in a shared directory
 * that module resolution walks up to, a file swapped between a check and the
 * spawn) and is cheap enough to run before every spawn.
 */
function untrusted(real: string, inp: TrustInputs): string | undefined {
  for (let cur = real; ; cur = dirname(cur)) {
    const st = inp.stat(cur);
    if (st.uid !== inp.uid && st.uid !== 0) return `${cur} belongs to another user (uid ${st.uid})`;
    const sticky = st.isDirectory && (st.mode & 0o1000) !== 0;
    if ((st.mode & 0o002) !== 0 && !sticky) return `${cur} is writable by every user`;
    if ((st.mode & 0o020) !== 0 && st.gid !== inp.gid && !sticky) return `${cur} is writable by the group ${st.gid}`;
    if (dirname(cur) === cur) return undefined;
  }
}

/**
 * Checks a resolved binary before each spawn: executable, and out of other
 * users' reach (untrusted). Returns its canonical path, which is what runs.
 */
export function verifyBinary(bin: ResolvedBinary, inp: TrustInputs): VerifiedBinary {
  let real: string;
  try {
    real = inp.realpath(bin.path);
  } catch (e) {
    throw new Error(`${PACKAGE}: the sidecar binary ${bin.path} cannot be found: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!inp.isExecutable(real)) {
    const fix =
      bin.source === "platform-package"
        ? `The package manager did not keep its execute permission: reinstall ${PACKAGE}, or run chmod +x "${real}".`
        : `Run chmod +x "${real}".`;
    const what = bin.source === "env" ? `OPENCODE_OAUTH2_BINARY points at ${real}, which` : `The sidecar binary ${real}`;
    throw new Error(`${PACKAGE}: ${what} is not executable. ${fix}`);
  }
  if (inp.platform === "win32") return { path: real, source: bin.source, check: "executable (no owner check on Windows)" };
  const why = untrusted(real, inp);
  if (why !== undefined) {
    throw new Error(
      `${PACKAGE}: refusing to start the sidecar binary ${real}: another user could replace it (${why}). ` +
        `Install ${PACKAGE} where only you can write (OpenCode's own plugin cache is), or set OPENCODE_OAUTH2_BINARY to a binary in such a place.`,
    );
  }
  return { path: real, source: bin.source, check: "owner and permissions checked" };
}

function defaultTrustInputs(platform: string): TrustInputs {
  return {
    platform,
    uid: process.getuid?.() ?? -1,
    gid: process.getgid?.() ?? -1,
    realpath: (p) => realpathSync(p),
    stat: (p) => {
      const st = statSync(p);
      return { uid: st.uid, gid: st.gid, mode: st.mode, isDirectory: st.isDirectory() };
    },
    isExecutable: (p) => platform === "win32" || attempt(() => (accessSync(p, constants.X_OK), true), false),
  };
}

/**
 * Resolves and checks the sidecar binary for the shim running from moduleUrl
 * (import.meta.url); `verify` checks it again (before each restart).
 */
export function locateBinary(moduleUrl: string): VerifiedBinary & { verify: () => void } {
  const inp = defaultResolveInputs(moduleUrl);
  const trust = defaultTrustInputs(inp.platform);
  const bin = verifyBinary(resolveBinary(inp), trust);
  return { ...bin, verify: () => void verifyBinary(bin, trust) };
}
