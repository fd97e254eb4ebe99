// Finds the opencode-oauth2 sidecar binary. Order (design.md §6):
//   1. env OPENCODE_OAUTH2_BINARY (an explicit override; never silently ignored),
//   2. the platform package @vymalo/opencode-oauth2-<os>-<arch> (an optionalDependency),
//   3. a development build <repo>/bin/opencode-oauth2 (refused when
//      OPENCODE_OAUTH2_FORBID_DEV_BUILD=1, so a packed-package test cannot pass by accident).
// Every input is injectable so the rules are unit-tested without touching the machine.

import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
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

  const pkg = platformPackage(inp.platform, inp.arch);
  if (pkg !== undefined) {
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

  // js-shim/dist -> repo root
  const dev = join(inp.moduleDir, "..", "..", "bin", exe);
  const devExists = inp.isFile(dev);
  const forbidDev = truthy(inp.env["OPENCODE_OAUTH2_FORBID_DEV_BUILD"]);
  if (devExists && !forbidDev) return { path: dev, source: "dev-build" };

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
  throw new Error(
    `${PACKAGE}: the sidecar binary was not found: the platform package ${pkg} is not installed ` +
      `(it is an optional dependency of ${PACKAGE}). Reinstall ${PACKAGE} without ` +
      `--omit=optional / --no-optional (and without ignoring optional dependencies), ` +
      `${override_hint}${devNote}.`,
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
