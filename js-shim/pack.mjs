// Packages the plugin as npm users get it (design.md §6, esbuild's pattern):
//
//   @vymalo/opencode-oauth2                 the shim (js-shim/dist/index.js),
//                                           js-shim/dist/binaries.json: the sha256 of
//                                           every packaged binary, checked by the shim,
//                                           and the `opencode-oauth2` command
//                                           (bin: js-shim/bin/opencode-oauth2.mjs, a
//                                           launcher of the platform package's binary)
//   @vymalo/opencode-oauth2-<os>-<arch>     one static sidecar binary in bin/, with npm's
//                                           `os`/`cpu`; no `bin`, no scripts; listed in
//                                           the main package's optionalDependencies
//
// The platform packages' package.json files are generated here; nothing of them is
// committed. Everything is staged under dist/.stage/<out>/ and `npm pack`ed into the
// output folder together with index.json (what was packed: names, tarballs, hashes,
// each package.json), which the packed end-to-end test serves as a local registry.
//
//   node js-shim/pack.mjs                        all six platforms into dist/npm/
//   node js-shim/pack.mjs --targets local --out dist/npm-local
//                                                this machine's platform only (tests)
//   node js-shim/pack.mjs --targets linux-x64,darwin-arm64 [--jobs N]
//
// --jobs: targets built at a time (default 1). go build already uses every core;
// two concurrent cross-compiles into a cold build cache failed here twice with
// "could not import ... (open : no such file or directory)", so 1 is the default.
// Cold, the six builds take ~7 min on this 2-core machine; warm, ~10 s.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildShim } from "./build.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, "..");
export const MAIN_PACKAGE = "@vymalo/opencode-oauth2";
/** The main package's `bin`: the launcher of the platform binary (relative to the package root). */
export const LAUNCHER = "js-shim/bin/opencode-oauth2.mjs";
const GO_BUILD_TIMEOUT_MS = 20 * 60_000; // one cold cross-compile on a loaded 2-core machine: ~4 min
const NPM_PACK_TIMEOUT_MS = 120_000;

/**
 * The supported platforms. `suffix` is the package name suffix the shim looks for
 * (js-shim/src/binary.ts platformPackage: linux|darwin|windows, x64|arm64); `os`/`cpu`
 * are npm's values (process.platform / process.arch); goos/goarch are Go's.
 */
export const TARGETS = [
  { suffix: "linux-x64", os: "linux", cpu: "x64", goos: "linux", goarch: "amd64" },
  { suffix: "linux-arm64", os: "linux", cpu: "arm64", goos: "linux", goarch: "arm64" },
  { suffix: "darwin-x64", os: "darwin", cpu: "x64", goos: "darwin", goarch: "amd64" },
  { suffix: "darwin-arm64", os: "darwin", cpu: "arm64", goos: "darwin", goarch: "arm64" },
  { suffix: "windows-x64", os: "win32", cpu: "x64", goos: "windows", goarch: "amd64" },
  { suffix: "windows-arm64", os: "win32", cpu: "arm64", goos: "windows", goarch: "arm64" },
].map((t) => ({
  ...t,
  name: `${MAIN_PACKAGE}-${t.suffix}`,
  exe: t.os === "win32" ? "opencode-oauth2.exe" : "opencode-oauth2",
}));

/** The target of this machine, or undefined when it is not supported. */
export function localTarget(platform = process.platform, arch = process.arch) {
  return TARGETS.find((t) => t.os === platform && t.cpu === arch);
}

export async function readRootPackage() {
  return JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8"));
}

/**
 * The root package.json must list every platform package as an optionalDependency
 * at exactly its own version (npm then installs the one matching os/cpu). Returns
 * the list of problems (empty when consistent).
 */
export function optionalDependencyProblems(rootPkg) {
  const problems = [];
  const deps = rootPkg.optionalDependencies ?? {};
  for (const t of TARGETS) {
    if (!(t.name in deps)) problems.push(`optionalDependencies lacks ${t.name}`);
    else if (deps[t.name] !== rootPkg.version) {
      problems.push(`optionalDependencies["${t.name}"] is "${deps[t.name]}", not the package version "${rootPkg.version}"`);
    }
  }
  for (const name of Object.keys(deps)) {
    if (!TARGETS.some((t) => t.name === name)) problems.push(`optionalDependencies has an unknown package ${name}`);
  }
  if (rootPkg.bin?.["opencode-oauth2"] !== LAUNCHER || !rootPkg.files?.includes(LAUNCHER)) {
    problems.push(`bin must be {"opencode-oauth2": "${LAUNCHER}"}, and files must list it`);
  }
  if (rootPkg.scripts && ["preinstall", "install", "postinstall"].some((s) => s in rootPkg.scripts)) {
    problems.push("the main package must not have install scripts (OpenCode installs plugins without running them)");
  }
  return problems;
}

/** The generated package.json of one platform package. */
export function platformPackageJson(t, rootPkg) {
  return {
    name: t.name,
    version: rootPkg.version,
    description: `The ${t.suffix} sidecar binary of ${MAIN_PACKAGE}. Installed by it as an optional dependency; do not depend on it directly.`,
    license: rootPkg.license,
    repository: rootPkg.repository,
    os: [t.os],
    cpu: [t.cpu],
    files: [`bin/${t.exe}`],
    preferUnplugged: true,
  };
}

/** The main package's published package.json: the root one without development fields. */
export function mainPackageJson(rootPkg) {
  const { scripts: _scripts, devDependencies: _dev, ...published } = rootPkg;
  return published;
}

function run(cmd, args, { cwd = repoRoot, env = process.env, timeoutMs }) {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { cwd, env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 32 << 20, shell: process.platform === "win32" },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(" ")} failed${err.killed ? ` (killed after ${timeoutMs / 1000} s)` : ""}: ${err.message}\n${stderr}`));
        else resolvePromise({ stdout, stderr });
      },
    );
  });
}

async function sha256Of(file) {
  return createHash("sha256").update(await readFile(file)).digest("hex");
}

const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** Cross-compiles the sidecar for t into file (static: CGO_ENABLED=0). */
async function goBuild(t, file, version, commit) {
  await mkdir(dirname(file), { recursive: true });
  const env = { ...process.env, CGO_ENABLED: "0", GOOS: t.goos, GOARCH: t.goarch };
  const ldflags = `-s -w -X main.version=${version}${commit ? ` -X main.commit=${commit}` : ""}`;
  await run("go", ["build", "-trimpath", "-ldflags", ldflags, "-o", file, "./go/cmd/opencode-oauth2"], {
    env,
    timeoutMs: GO_BUILD_TIMEOUT_MS,
  });
}

async function npmPack(dir, out) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const { stdout } = await run(npm, ["pack", "--json", "--ignore-scripts", "--pack-destination", out], {
    cwd: dir,
    timeoutMs: NPM_PACK_TIMEOUT_MS,
  });
  const [info] = JSON.parse(stdout);
  return info;
}

/** Runs fn over items with at most `jobs` at a time; results in order. */
async function pool(items, jobs, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

export function parseTargets(spec) {
  if (spec === "all") return TARGETS;
  if (spec === "local") {
    const t = localTarget();
    if (!t) throw new Error(`this machine (${process.platform}-${process.arch}) is not a supported target`);
    return [t];
  }
  return spec.split(",").map((s) => {
    const t = TARGETS.find((x) => x.suffix === s.trim());
    if (!t) throw new Error(`unknown target "${s}"; known: ${TARGETS.map((x) => x.suffix).join(", ")}, all, local`);
    return t;
  });
}

/**
 * Builds and packs. Returns the index written to <out>/index.json:
 * {version, packages: [{name, tarball, packageJson, binary?, ...}], timings}.
 */
export async function pack({ targets = TARGETS, out = join(repoRoot, "dist", "npm"), jobs = 1, log = console.log } = {}) {
  const t0 = Date.now();
  const rootPkg = await readRootPackage();
  const problems = optionalDependencyProblems(rootPkg);
  if (problems.length > 0) throw new Error(`package.json is not ready to pack:\n  ${problems.join("\n  ")}`);
  const version = rootPkg.version;
  // The commit `opencode-oauth2 version` reports ("" outside a git checkout).
  const commit = await run("git", ["rev-parse", "HEAD"], { timeoutMs: 30_000 }).then(
    (r) => r.stdout.trim(),
    () => "",
  );
  out = resolve(out);
  const stage = join(repoRoot, "dist", ".stage", basename(out));
  await rm(stage, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const timings = {};

  // 1. The binaries and their packages (build, then pack, `jobs` targets at a time).
  const tParts = Date.now();
  let buildMs = 0;
  let packMs = 0;
  const packages = await pool(targets, jobs, async (t) => {
    const tb = Date.now();
    const dir = join(stage, t.suffix);
    const file = join(dir, "bin", t.exe);
    await goBuild(t, file, version, commit);
    const st = await stat(file);
    const sha256 = await sha256Of(file);
    buildMs += Date.now() - tb;
    log(`built ${t.name}: ${relative(repoRoot, file)} ${(st.size / 1048576).toFixed(1)} MiB in ${secs(tb)}`);
    const tp = Date.now();
    const pj = platformPackageJson(t, rootPkg);
    await writeFile(join(dir, "package.json"), `${JSON.stringify(pj, null, 2)}\n`);
    await writeFile(
      join(dir, "README.md"),
      `# ${t.name}\n\nThe ${t.suffix} build of the opencode-oauth2 sidecar, used by [${MAIN_PACKAGE}](https://www.npmjs.com/package/${MAIN_PACKAGE}), ` +
        `which lists it as an optional dependency: npm installs the one package matching the machine's \`os\` and \`cpu\`.\n` +
        `Do not install it directly. sha256 of \`bin/${t.exe}\`: \`${sha256}\`.\n`,
    );
    await copyFile(join(repoRoot, "LICENSE"), join(dir, "LICENSE"));
    const info = await npmPack(dir, out);
    packMs += Date.now() - tp;
    return {
      name: pj.name,
      version,
      tarball: info.filename,
      tarballSize: info.size,
      integrity: info.integrity,
      shasum: info.shasum,
      packageJson: pj,
      binary: { file: `bin/${t.exe}`, sha256, size: st.size },
    };
  });
  timings.platformPackagesMs = Date.now() - tParts;
  timings.crossCompileMs = buildMs; // summed over targets (they may overlap with jobs > 1)
  timings.platformPackMs = packMs;

  // 2. The main package: the bundle and the hashes of what was built.
  const tMain = Date.now();
  const mainDir = join(stage, "main");
  const distDir = join(mainDir, "js-shim", "dist");
  await mkdir(distDir, { recursive: true });
  await buildShim(join(distDir, "index.js"));
  const manifest = {
    package: MAIN_PACKAGE,
    version,
    binaries: Object.fromEntries(packages.map((p) => [p.name, p.binary])),
  };
  await writeFile(join(distDir, "binaries.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await mkdir(join(mainDir, "js-shim", "bin"), { recursive: true });
  await copyFile(join(repoRoot, LAUNCHER), join(mainDir, LAUNCHER));
  for (const f of ["README.md", "LICENSE"]) await copyFile(join(repoRoot, f), join(mainDir, f));
  const mainPj = mainPackageJson(rootPkg);
  await writeFile(join(mainDir, "package.json"), `${JSON.stringify(mainPj, null, 2)}\n`);
  const mainInfo = await npmPack(mainDir, out);
  const packedFiles = new Set(mainInfo.files.map((f) => f.path));
  for (const f of ["js-shim/dist/index.js", "js-shim/dist/binaries.json", LAUNCHER, "package.json"]) {
    if (!packedFiles.has(f)) throw new Error(`the main package tarball lacks ${f}: check "files" in package.json`);
  }
  timings.mainPackageMs = Date.now() - tMain;

  // Platform packages that were not built are still described (their package.json),
  // without a tarball: a registry serving index.json offers them as npm would see them.
  const described = TARGETS.filter((t) => !packages.some((p) => p.name === t.name)).map((t) => ({
    name: t.name,
    version,
    tarball: null,
    packageJson: platformPackageJson(t, rootPkg),
  }));
  const index = {
    version,
    packages: [
      {
        name: MAIN_PACKAGE,
        version,
        tarball: mainInfo.filename,
        tarballSize: mainInfo.size,
        integrity: mainInfo.integrity,
        shasum: mainInfo.shasum,
        packageJson: mainPj,
      },
      ...packages,
      ...described,
    ],
    timings: { ...timings, totalMs: Date.now() - t0 },
  };
  await writeFile(join(out, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  await rm(stage, { recursive: true, force: true });
  for (const p of index.packages.filter((x) => x.tarball)) {
    log(`packed ${p.tarball} ${(p.tarballSize / 1048576).toFixed(2)} MiB${p.binary ? ` (binary ${(p.binary.size / 1048576).toFixed(1)} MiB, sha256 ${p.binary.sha256})` : ""}`);
  }
  const fmt = (ms) => `${(ms / 1000).toFixed(1)} s`;
  log(
    `${relative(repoRoot, out) || out}: ${index.packages.filter((p) => p.tarball).length} tarballs in ${secs(t0)} ` +
      `(${jobs} at a time; go build ${fmt(timings.crossCompileMs)}, npm pack ${fmt(timings.platformPackMs)} summed over the platform packages; ` +
      `main package ${fmt(timings.mainPackageMs)})`,
  );
  return index;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const { values } = parseArgs({
    options: {
      targets: { type: "string", default: "all" },
      out: { type: "string" },
      jobs: { type: "string", default: "1" },
    },
  });
  const targets = parseTargets(values.targets);
  const out = values.out ?? join(repoRoot, "dist", values.targets === "all" ? "npm" : "npm-local");
  try {
    await pack({ targets, out, jobs: Number(values.jobs) || 1 });
  } catch (e) {
    console.error(`pack: ${e.message}`);
    process.exit(1);
  }
}
