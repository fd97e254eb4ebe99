// Packaging (js-shim/pack.mjs): the platform packages, their names and npm fields
// agree with what the shim looks for; the root package.json lists them all as
// optionalDependencies at its own version; the packed tarballs (when packed) carry
// what they must and nothing that runs at install time.

import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  LAUNCHER,
  localTarget,
  mainPackageJson,
  MAIN_PACKAGE,
  optionalDependencyProblems,
  parseTargets,
  platformPackageJson,
  readRootPackage,
  repoRoot,
  TARGETS,
} from "../pack.mjs";
import { cleanupTmp, importSrc, makeTmp } from "../test-support/helpers.mjs";
import { startRegistry } from "../test-support/npm-registry.mjs";

const execFileAsync = promisify(execFile);
let b;
let root;
before(async () => {
  b = await importSrc("binary");
  root = await readRootPackage();
});
after(cleanupTmp);

describe("platform packages", () => {
  test("six targets: linux, darwin, windows × x64, arm64, named as the shim looks them up", () => {
    assert.equal(TARGETS.length, 6);
    assert.deepEqual(
      TARGETS.map((t) => ({ platform: t.os, arch: t.cpu })),
      b.SUPPORTED_TARGETS.map((t) => ({ platform: t.platform, arch: t.arch })),
    );
    for (const t of TARGETS) {
      assert.equal(b.platformPackage(t.os, t.cpu), t.name, t.suffix);
      assert.equal(t.exe, b.binaryFileName(t.os)); // resolveBinary looks in the package's bin/
      assert.equal(t.goarch, { x64: "amd64", arm64: "arm64" }[t.cpu]);
      assert.equal(t.goos, { linux: "linux", darwin: "darwin", win32: "windows" }[t.os]);
    }
  });

  test("package.json: npm's os/cpu values, the version of the main package, no bin, no scripts, no entry point", () => {
    for (const t of TARGETS) {
      const pj = platformPackageJson(t, root);
      assert.equal(pj.name, t.name);
      assert.equal(pj.version, root.version);
      assert.deepEqual(pj.os, [t.os]);
      assert.deepEqual(pj.cpu, [t.cpu]);
      assert.deepEqual(pj.files, [`bin/${t.exe}`]);
      for (const k of ["bin", "scripts", "main", "exports", "dependencies", "optionalDependencies"]) assert.ok(!(k in pj), `${t.name} has ${k}`);
    }
    assert.deepEqual(
      TARGETS.map((t) => platformPackageJson(t, root).os[0]),
      ["linux", "linux", "darwin", "darwin", "win32", "win32"],
    );
  });

  test("--targets: all, local, a list; unknown names are refused", () => {
    assert.equal(parseTargets("all").length, 6);
    assert.deepEqual(parseTargets("local"), [localTarget()]);
    assert.deepEqual(parseTargets("linux-arm64,windows-x64").map((t) => t.name), [
      `${MAIN_PACKAGE}-linux-arm64`,
      `${MAIN_PACKAGE}-windows-x64`,
    ]);
    assert.throws(() => parseTargets("win32-x64"), /unknown target "win32-x64"; known: linux-x64/);
  });
});

describe("the main package", () => {
  test("package.json lists every platform package as an optionalDependency at exactly its own version", () => {
    assert.deepEqual(optionalDependencyProblems(root), []);
    assert.deepEqual(Object.keys(root.optionalDependencies).sort(), TARGETS.map((t) => t.name).sort());
  });

  test("inconsistencies are caught before packing", () => {
    const deps = Object.fromEntries(TARGETS.map((t) => [t.name, root.version]));
    const bad = { ...root, optionalDependencies: { ...deps, [TARGETS[0].name]: "^0.0.1", "@vymalo/opencode-oauth2-freebsd-x64": root.version } };
    delete bad.optionalDependencies[TARGETS[1].name];
    const problems = optionalDependencyProblems(bad).join("\n");
    assert.match(problems, /"@vymalo\/opencode-oauth2-linux-x64"\] is "\^0\.0\.1", not the package version/);
    assert.match(problems, /lacks @vymalo\/opencode-oauth2-linux-arm64/);
    assert.match(problems, /unknown package @vymalo\/opencode-oauth2-freebsd-x64/);
    assert.match(optionalDependencyProblems({ ...root, scripts: { postinstall: "x" } }).join("\n"), /must not have install scripts/);
  });

  test("bin: the opencode-oauth2 command is the launcher, which the package ships", () => {
    assert.deepEqual(root.bin, { "opencode-oauth2": LAUNCHER });
    assert.ok(root.files.includes(LAUNCHER));
    assert.match(optionalDependencyProblems({ ...root, bin: undefined }).join("\n"), /bin must be/);
    assert.deepEqual(mainPackageJson(root).bin, root.bin);
  });

  test("files: the bundle and binaries.json; the published package.json has no development fields", () => {
    assert.ok(root.files.includes("js-shim/dist/index.js"));
    assert.ok(root.files.includes("js-shim/dist/binaries.json"));
    const pub = mainPackageJson(root);
    assert.ok(!("scripts" in pub) && !("devDependencies" in pub));
    assert.deepEqual(pub.optionalDependencies, root.optionalDependencies);
    assert.equal(pub.exports["./server"], "./js-shim/dist/index.js");
  });
});

// The artifacts themselves, when packed (task package:local / task package).
const packedDir = resolve(repoRoot, process.env.OPENCODE_OAUTH2_PACKED_DIR ?? join("dist", "npm-local"));
const indexFile = join(packedDir, "index.json");
const packed = existsSync(indexFile);

describe("the packed tarballs", { skip: packed ? false : `${indexFile} not there (task package:local)` }, () => {
  const tar = (file, flags, member) =>
    execFileSync("tar", [flags, join(packedDir, file), ...(member ? ["--", member] : [])], { encoding: "utf8" });

  test("main tarball: bundle, binaries.json with the hash of every packed binary, no install scripts", () => {
    const index = JSON.parse(readFileSync(indexFile, "utf8"));
    const main = index.packages.find((p) => p.name === MAIN_PACKAGE);
    const listing = tar(main.tarball, "tzf").split("\n").filter(Boolean).sort();
    assert.deepEqual(listing, [
      "package/LICENSE",
      "package/README.md",
      "package/js-shim/bin/opencode-oauth2.mjs",
      "package/js-shim/dist/binaries.json",
      "package/js-shim/dist/index.js",
      "package/package.json",
    ]);
    const manifest = JSON.parse(tar(main.tarball, "xzOf", "package/js-shim/dist/binaries.json"));
    const built = index.packages.filter((p) => p.binary);
    assert.deepEqual(manifest.binaries, Object.fromEntries(built.map((p) => [p.name, p.binary])));
    assert.equal(manifest.version, index.version);
    const pj = JSON.parse(tar(main.tarball, "xzOf", "package/package.json"));
    assert.ok(!pj.scripts, "no scripts at all in the published main package");
    for (const t of TARGETS) assert.equal(pj.optionalDependencies[t.name], index.version);
  });

  test("platform tarballs: one executable binary whose sha256 is the recorded one, no scripts", () => {
    const index = JSON.parse(readFileSync(indexFile, "utf8"));
    for (const p of index.packages.filter((x) => x.binary)) {
      const listing = tar(p.tarball, "tzvf");
      const line = listing.split("\n").find((l) => l.endsWith(`package/${p.binary.file}`));
      assert.ok(line, `${p.tarball}:\n${listing}`);
      assert.match(line, /^-rwxr-xr-x /, "the binary keeps its execute bit in the tarball");
      const pj = JSON.parse(tar(p.tarball, "xzOf", "package/package.json"));
      assert.ok(!pj.scripts && !pj.bin, `${p.name}: no scripts, no bin`);
      const bytes = execFileSync("tar", ["xzOf", join(packedDir, p.tarball), "--", `package/${p.binary.file}`], { maxBuffer: 64 << 20 });
      assert.equal(createHash("sha256").update(bytes).digest("hex"), p.binary.sha256);
      assert.equal(bytes.length, p.binary.size);
    }
  });

  // #17: `npx @vymalo/opencode-oauth2 <cmd>` and node_modules/.bin/opencode-oauth2 work.
  test("installed with npm, node_modules/.bin/opencode-oauth2 runs the platform binary", { timeout: 240_000 }, async () => {
    const index = JSON.parse(readFileSync(indexFile, "utf8"));
    const registry = await startRegistry(packedDir);
    try {
      const dir = await makeTmp("oc-oauth2-bin-");
      const env = { ...process.env, npm_config_cache: join(dir, ".npm-cache"), npm_config_registry: registry.url, OPENCODE_OAUTH2_BINARY: "" };
      for (const k of Object.keys(env)) if (k.startsWith("npm_") && !["npm_config_cache", "npm_config_registry"].includes(k)) delete env[k];
      const npm = process.platform === "win32" ? "npm.cmd" : "npm";
      // Asynchronously: the registry answers from this process.
      await execFileAsync(npm, ["init", "-y"], { cwd: dir, env, timeout: 60_000 });
      await execFileAsync(npm, ["install", "--no-audit", "--no-fund", `${MAIN_PACKAGE}@latest`], { cwd: dir, env, timeout: 180_000 });
      const bin = join(dir, "node_modules", ".bin", process.platform === "win32" ? "opencode-oauth2.cmd" : "opencode-oauth2");
      assert.ok(existsSync(bin), `${bin} is missing`);
      const run = (cmd, args) =>
        execFileAsync(cmd, args, { cwd: dir, env: { ...env, OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1" }, timeout: 60_000 }).then(
          (r) => ({ status: 0, ...r }),
          (e) => ({ status: e.code, stdout: e.stdout, stderr: e.stderr }),
        );

      const v = await run(bin, ["version", "--json"]);
      assert.equal(v.status, 0, v.stderr);
      const doc = JSON.parse(v.stdout);
      assert.equal(doc.version, index.version);
      assert.equal(doc.protocol, 1);
      assert.match(doc.commit, /^[0-9a-f]{40}$/);

      // The exit code is the binary's; the hint names a command that works here.
      const typo = await run(bin, ["statsu"]);
      assert.equal(typo.status, 2, typo.stderr);
      assert.match(typo.stderr, /unknown command "statsu"; did you mean "status"\?/);

      // Through npx (npm exec), the package's bin is on PATH for that run only:
      // hints say npx.
      const viaNpx = await run(npm, ["exec", "--", "opencode-oauth2", "statsu"]);
      assert.equal(viaNpx.status, 2, viaNpx.stderr);
      assert.match(viaNpx.stderr, /Run `npx @vymalo\/opencode-oauth2 help` for the commands\./);

      // A binary another user could replace is refused, as by the plugin.
      const target = localTarget();
      const pkgDir = join(dir, "node_modules", "@vymalo", `opencode-oauth2-${target.suffix}`);
      chmodSync(pkgDir, 0o777);
      const open = await run(bin, ["version"]);
      assert.equal(open.status, 1);
      assert.match(open.stderr, /another user could replace it \(.* is writable by every user\)/);
      chmodSync(pkgDir, 0o755);
    } finally {
      await registry.close();
    }
  });
});
