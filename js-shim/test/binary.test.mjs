// Binary resolution: every source, every error message, with injected inputs.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFile, chmod, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import { cleanupTmp, importSrc, makeTmp } from "../test-support/helpers.mjs";

let b;
before(async () => {
  b = await importSrc("binary");
});
after(cleanupTmp);

const moduleDir = "/pkg/node_modules/@vymalo/opencode-oauth2/js-shim/dist";
const pkgDir = "/pkg/node_modules/@vymalo/opencode-oauth2-linux-x64";
const devBuild = "/pkg/node_modules/@vymalo/opencode-oauth2/bin/opencode-oauth2";
const manifestFile = join(moduleDir, "binaries.json");

function inputs({ platform = "linux", arch = "x64", env = {}, files = [], modules = {} } = {}) {
  const set = new Set(files);
  return {
    platform,
    arch,
    env,
    moduleDir,
    isFile: (p) => set.has(p),
    resolveModule: (spec) => modules[spec],
  };
}

describe("platformPackage", () => {
  for (const [platform, arch, want] of [
    ["linux", "x64", "@vymalo/opencode-oauth2-linux-x64"],
    ["linux", "arm64", "@vymalo/opencode-oauth2-linux-arm64"],
    ["darwin", "arm64", "@vymalo/opencode-oauth2-darwin-arm64"],
    ["darwin", "x64", "@vymalo/opencode-oauth2-darwin-x64"],
    ["win32", "x64", "@vymalo/opencode-oauth2-windows-x64"],
    ["win32", "arm64", "@vymalo/opencode-oauth2-windows-arm64"],
    ["freebsd", "x64", undefined],
    ["linux", "ia32", undefined],
  ]) {
    test(`${platform}/${arch}`, () => assert.equal(b.platformPackage(platform, arch), want));
  }
  test("windows binary has .exe", () => {
    assert.equal(b.binaryFileName("win32"), "opencode-oauth2.exe");
    assert.equal(b.binaryFileName("linux"), "opencode-oauth2");
  });
});

describe("resolveBinary", () => {
  test("env override wins over everything", () => {
    const r = b.resolveBinary(
      inputs({
        env: { OPENCODE_OAUTH2_BINARY: "/opt/oc/opencode-oauth2" },
        files: ["/opt/oc/opencode-oauth2", join(pkgDir, "bin/opencode-oauth2"), devBuild],
        modules: { "@vymalo/opencode-oauth2-linux-x64/package.json": join(pkgDir, "package.json") },
      }),
    );
    assert.deepEqual(r, { path: "/opt/oc/opencode-oauth2", source: "env" });
  });

  test("env override pointing at nothing is an error, not a silent fallback", () => {
    assert.throws(
      () => b.resolveBinary(inputs({ env: { OPENCODE_OAUTH2_BINARY: "/nope/x" }, files: [devBuild] })),
      (e) => {
        assert.match(e.message, /OPENCODE_OAUTH2_BINARY is set to "\/nope\/x"/);
        assert.match(e.message, /is not a file/);
        return true;
      },
    );
  });

  test("a relative env override is made absolute", () => {
    const r = b.resolveBinary(inputs({ env: { OPENCODE_OAUTH2_BINARY: "rel/bin" }, files: [resolve("rel/bin")] }));
    assert.equal(r.path, resolve("rel/bin"));
  });

  test("empty env override is ignored", () => {
    const r = b.resolveBinary(inputs({ env: { OPENCODE_OAUTH2_BINARY: "" }, files: [devBuild] }));
    assert.equal(r.source, "dev-build");
  });

  test("platform package via its package.json", () => {
    const r = b.resolveBinary(
      inputs({
        files: [join(pkgDir, "bin/opencode-oauth2"), devBuild, manifestFile],
        modules: { "@vymalo/opencode-oauth2-linux-x64/package.json": join(pkgDir, "package.json") },
      }),
    );
    assert.deepEqual(r, { path: join(pkgDir, "bin/opencode-oauth2"), source: "platform-package" });
  });

  test("platform package resolved by the binary path when package.json is not exported", () => {
    const p = join(pkgDir, "bin/opencode-oauth2");
    const r = b.resolveBinary(inputs({ files: [p], modules: { "@vymalo/opencode-oauth2-linux-x64/bin/opencode-oauth2": p } }));
    assert.deepEqual(r, { path: p, source: "platform-package" });
  });

  test("windows platform package uses the .exe", () => {
    const dir = "/pkg/node_modules/@vymalo/opencode-oauth2-windows-arm64";
    const r = b.resolveBinary(
      inputs({
        platform: "win32",
        arch: "arm64",
        files: [join(dir, "bin/opencode-oauth2.exe")],
        modules: { "@vymalo/opencode-oauth2-windows-arm64/package.json": join(dir, "package.json") },
      }),
    );
    assert.equal(r.path, join(dir, "bin/opencode-oauth2.exe"));
  });

  test("platform package installed but its binary missing falls through", () => {
    const r = b.resolveBinary(
      inputs({ files: [devBuild], modules: { "@vymalo/opencode-oauth2-linux-x64/package.json": join(pkgDir, "package.json") } }),
    );
    assert.equal(r.source, "dev-build");
  });

  test("development build two levels above js-shim/dist", () => {
    const r = b.resolveBinary(inputs({ files: [devBuild] }));
    assert.deepEqual(r, { path: devBuild, source: "dev-build" });
  });

  test("nothing found: names the package and the fix", () => {
    assert.throws(
      () => b.resolveBinary(inputs()),
      (e) => {
        assert.match(e.message, /platform package @vymalo\/opencode-oauth2-linux-x64 is not installed/);
        assert.match(e.message, /--omit=optional/);
        assert.match(e.message, /OPENCODE_OAUTH2_BINARY/);
        assert.doesNotMatch(e.message, /development build/);
        return true;
      },
    );
  });

  for (const v of ["1", "true"]) {
    test(`OPENCODE_OAUTH2_FORBID_DEV_BUILD=${v} refuses the dev build and says so`, () => {
      assert.throws(
        () => b.resolveBinary(inputs({ env: { OPENCODE_OAUTH2_FORBID_DEV_BUILD: v }, files: [devBuild] })),
        (e) => {
          assert.match(e.message, /@vymalo\/opencode-oauth2-linux-x64 is not installed/);
          assert.match(e.message, /a development build exists at .* but OPENCODE_OAUTH2_FORBID_DEV_BUILD=1 forbids using it/);
          return true;
        },
      );
    });
  }

  test("OPENCODE_OAUTH2_FORBID_DEV_BUILD does not affect the platform package", () => {
    const r = b.resolveBinary(
      inputs({
        env: { OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1" },
        files: [join(pkgDir, "bin/opencode-oauth2"), devBuild],
        modules: { "@vymalo/opencode-oauth2-linux-x64/package.json": join(pkgDir, "package.json") },
      }),
    );
    assert.equal(r.source, "platform-package");
  });

  test("unsupported platform: says which and how to proceed", () => {
    assert.throws(
      () => b.resolveBinary(inputs({ platform: "freebsd", arch: "x64" })),
      (e) => {
        assert.match(e.message, /no sidecar binary for this platform \(freebsd-x64\)/);
        assert.match(e.message, /supported: linux, darwin, windows on x64 and arm64/);
        assert.match(e.message, /OPENCODE_OAUTH2_BINARY/);
        return true;
      },
    );
  });

  test("unsupported platform still uses a dev build or the env override", () => {
    assert.equal(b.resolveBinary(inputs({ platform: "freebsd", arch: "x64", files: [devBuild] })).source, "dev-build");
  });

  test("defaultResolveInputs finds this repository's layout", () => {
    const inp = b.defaultResolveInputs(new URL("../dist/index.js", import.meta.url).href);
    assert.equal(inp.platform, process.platform);
    assert.match(inp.moduleDir, /js-shim[\\/]dist$/);
    assert.equal(inp.isFile(new URL(import.meta.url).pathname), true);
    assert.equal(inp.isFile("/definitely/not/here"), false);
    assert.equal(inp.resolveModule("@vymalo/opencode-oauth2-nonexistent/package.json"), undefined);
  });
});

describe("resolveBinary: the repository's bundle and clear errors", () => {
  const modules = { "@vymalo/opencode-oauth2-linux-x64/package.json": join(pkgDir, "package.json") };

  test("the repository's bundle (no binaries.json) prefers its development build to an installed platform package", () => {
    const r = b.resolveBinary(inputs({ files: [join(pkgDir, "bin/opencode-oauth2"), devBuild], modules }));
    assert.deepEqual(r, { path: devBuild, source: "dev-build" });
  });

  test("... unless the development build is forbidden", () => {
    const r = b.resolveBinary(
      inputs({ env: { OPENCODE_OAUTH2_FORBID_DEV_BUILD: "1" }, files: [join(pkgDir, "bin/opencode-oauth2"), devBuild], modules }),
    );
    assert.equal(r.source, "platform-package");
  });

  test("a packaged bundle (binaries.json beside it) uses the platform package", () => {
    const r = b.resolveBinary(inputs({ files: [join(pkgDir, "bin/opencode-oauth2"), devBuild, manifestFile], modules }));
    assert.equal(r.source, "platform-package");
  });

  test("missing package, another platform's installed instead: says the install came from another machine", () => {
    assert.throws(
      () =>
        b.resolveBinary(
          inputs({
            files: [manifestFile],
            modules: { "@vymalo/opencode-oauth2-darwin-arm64/package.json": "/pkg/node_modules/@vymalo/opencode-oauth2-darwin-arm64/package.json" },
          }),
        ),
      (e) => {
        assert.match(e.message, /the platform package @vymalo\/opencode-oauth2-linux-x64 is not installed/);
        assert.match(e.message, /for linux-x64/);
        assert.match(e.message, /Installed instead: @vymalo\/opencode-oauth2-darwin-arm64, for another platform/);
        assert.match(e.message, /lock file from another OS or CPU/);
        assert.match(e.message, /--omit=optional/);
        return true;
      },
    );
  });

  test("missing package inside OpenCode's plugin cache: names the folder to delete", () => {
    const entry = "/home/u/.cache/opencode/packages/@vymalo/opencode-oauth2@latest";
    const inp = { ...inputs(), moduleDir: `${entry}/node_modules/@vymalo/opencode-oauth2/js-shim/dist` };
    assert.throws(
      () => b.resolveBinary(inp),
      (e) => {
        assert.match(e.message, /platform package @vymalo\/opencode-oauth2-linux-x64 is not installed/);
        assert.ok(e.message.includes(`OpenCode installed this plugin into ${entry}: delete that folder`), e.message);
        return true;
      },
    );
  });

  for (const [platform, arch] of [["freebsd", "x64"], ["linux", "ia32"], ["win32", "ia32"], ["aix", "ppc64"]]) {
    test(`wrong platform ${platform}-${arch}: no package is looked up, the message names the platform`, () => {
      const looked = [];
      assert.throws(
        () => b.resolveBinary({ ...inputs({ platform, arch }), resolveModule: (s) => (looked.push(s), undefined) }),
        (e) => {
          assert.ok(e.message.includes(`no sidecar binary for this platform (${platform}-${arch})`), e.message);
          assert.match(e.message, /supported: linux, darwin, windows on x64 and arm64/);
          assert.match(e.message, /go build \.\/go\/cmd\/opencode-oauth2/);
          return true;
        },
      );
      assert.deepEqual(looked, []);
    });
  }
});

describe("verifyBinary", () => {
  const bin = join(pkgDir, "bin/opencode-oauth2");
  const good = "a".repeat(64);
  const bad = "b".repeat(64);
  const manifest = (binaries) => JSON.stringify({ package: "@vymalo/opencode-oauth2", version: "1.2.3", binaries });
  const identity = { size: 10, mtimeMs: 1, ctimeMs: 2, ino: 3 };
  function vinputs({ platform = "linux", arch = "x64", texts = {}, hash = good, executable = true, id = identity } = {}) {
    const hashed = [];
    return {
      hashed,
      texts,
      platform,
      arch,
      moduleDir,
      readText: (p) => texts[p],
      writeText: (p, text) => {
        texts[p] = text;
      },
      identify: () => (typeof id === "function" ? id() : id),
      sha256: (p) => {
        hashed.push(p);
        if (hash instanceof Error) throw hash;
        return hash;
      },
      isExecutable: () => executable,
    };
  }
  const withManifest = (extra = {}) => ({
    [manifestFile]: manifest({ "@vymalo/opencode-oauth2-linux-x64": { file: "bin/opencode-oauth2", sha256: good, size: 1 } }),
    ...extra,
  });

  test("hashed once per installed binary: the stamp holds while the file version does", () => {
    const inp = vinputs({ texts: withManifest() });
    b.verifyBinary({ path: bin, source: "platform-package" }, inp);
    assert.equal(inp.hashed.length, 1);
    const r = b.verifyBinary({ path: bin, source: "platform-package" }, inp);
    assert.equal(r.check, "sha256 verified (unchanged since it was hashed)");
    assert.equal(inp.hashed.length, 1, "not hashed again");
    for (const [what, changed] of [
      ["size", { ...identity, size: 11 }],
      ["mtime", { ...identity, mtimeMs: 9 }],
      ["ctime (content rewritten, mtime forged)", { ...identity, ctimeMs: 9 }],
      ["inode (file replaced)", { ...identity, ino: 9 }],
    ]) {
      const again = vinputs({ texts: { ...inp.texts }, id: changed });
      b.verifyBinary({ path: bin, source: "platform-package" }, again);
      assert.equal(again.hashed.length, 1, `a new ${what} is hashed again`);
    }
    const other = vinputs({ texts: { ...inp.texts, [manifestFile]: manifest({ "@vymalo/opencode-oauth2-linux-x64": { file: "bin/opencode-oauth2", sha256: bad, size: 1 } }) } });
    assert.throws(() => b.verifyBinary({ path: bin, source: "platform-package" }, other), /sha256 mismatch/, "a stamp for another expected hash counts for nothing");
  });

  test("a file that changes while it is hashed is not stamped; a mismatch is never stamped", () => {
    let n = 0;
    const moving = vinputs({ texts: withManifest(), id: () => ({ ...identity, ctimeMs: ++n }) });
    b.verifyBinary({ path: bin, source: "platform-package" }, moving);
    assert.equal(moving.texts[join(moduleDir, b.STAMP_FILE)], undefined);
    const wrong = vinputs({ texts: withManifest(), hash: bad });
    assert.throws(() => b.verifyBinary({ path: bin, source: "platform-package" }, wrong));
    assert.equal(wrong.texts[join(moduleDir, b.STAMP_FILE)], undefined);
  });

  test("platform package with the recorded sha256: verified", () => {
    const inp = vinputs({ texts: withManifest() });
    const r = b.verifyBinary({ path: bin, source: "platform-package" }, inp);
    assert.deepEqual(r, { path: bin, source: "platform-package", check: "sha256 verified" });
    assert.deepEqual(inp.hashed, [bin]);
  });

  test("an override is not hashed, and says so", () => {
    const inp = vinputs();
    const r = b.verifyBinary({ path: "/opt/x", source: "env" }, inp);
    assert.equal(r.check, "sha256 not checked: an OPENCODE_OAUTH2_BINARY override");
    assert.deepEqual(inp.hashed, []);
  });

  test("a development build is not hashed, and says so", () => {
    const inp = vinputs();
    const r = b.verifyBinary({ path: devBuild, source: "dev-build" }, inp);
    assert.equal(r.check, "sha256 not checked: a development build");
    assert.deepEqual(inp.hashed, []);
  });

  test("sha256 mismatch: names the file, the expected and the actual hash", () => {
    assert.throws(
      () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs({ texts: withManifest(), hash: bad })),
      (e) => {
        assert.ok(e.message.includes(`refusing to start the sidecar binary ${bin}`), e.message);
        assert.ok(e.message.includes(`sha256 mismatch for ${bin}: expected ${good}`), e.message);
        assert.ok(e.message.includes(`actual ${bad}`), e.message);
        assert.ok(e.message.includes(manifestFile), e.message);
        assert.match(e.message, /modified or replaced after installation/);
        return true;
      },
    );
  });

  test("sha256 mismatch from a version skew says which versions differ", () => {
    const texts = withManifest({ [join(pkgDir, "package.json")]: JSON.stringify({ name: "x", version: "1.2.2" }) });
    assert.throws(
      () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs({ texts, hash: bad })),
      /The installed @vymalo\/opencode-oauth2-linux-x64 is version 1\.2\.2, but @vymalo\/opencode-oauth2 is 1\.2\.3: both must be the same version/,
    );
  });

  test("no binaries.json: fail closed, naming it", () => {
    assert.throws(
      () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs()),
      (e) => {
        assert.ok(e.message.includes(`its sha256 cannot be checked because ${manifestFile} is missing or unreadable`), e.message);
        return true;
      },
    );
  });

  test("binaries.json without this platform: fail closed, naming the package", () => {
    const texts = { [manifestFile]: manifest({ "@vymalo/opencode-oauth2-darwin-arm64": { file: "bin/opencode-oauth2", sha256: good, size: 1 } }) };
    assert.throws(
      () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs({ texts })),
      /records no sha256 for @vymalo\/opencode-oauth2-linux-x64/,
    );
  });

  for (const [what, text] of [
    ["not JSON", "{"],
    ["a bad hash", manifest({ "@vymalo/opencode-oauth2-linux-x64": { file: "bin/opencode-oauth2", sha256: "xyz" } })],
    ["no binaries", JSON.stringify({ version: "1" })],
  ]) {
    test(`binaries.json with ${what}: fail closed`, () => {
      assert.throws(
        () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs({ texts: { [manifestFile]: text } })),
        (e) => e.message.startsWith(`@vymalo/opencode-oauth2: refusing to start the sidecar binary ${bin}: ${manifestFile}`),
      );
    });
  }

  test("an unreadable binary: fail closed", () => {
    assert.throws(
      () => b.verifyBinary({ path: bin, source: "platform-package" }, vinputs({ texts: withManifest(), hash: new Error("EACCES") })),
      /cannot be read to check its sha256: EACCES/,
    );
  });

  for (const [source, path, fix] of [
    ["platform-package", bin, /did not keep its execute permission: reinstall @vymalo\/opencode-oauth2, or run chmod \+x/],
    ["dev-build", devBuild, /Run chmod \+x/],
    ["env", "/opt/x", /OPENCODE_OAUTH2_BINARY points at \/opt\/x, which is not executable/],
  ]) {
    test(`${source}: a binary without the execute permission is a clear error before any hashing`, () => {
      const inp = vinputs({ texts: withManifest(), executable: false });
      assert.throws(() => b.verifyBinary({ path, source }, inp), (e) => fix.test(e.message) && e.message.includes("not executable"));
      assert.deepEqual(inp.hashed, []);
    });
  }
});

describe("locateBinary on a real installed layout", () => {
  const { platform, arch } = process;
  const os = { linux: "linux", darwin: "darwin", win32: "windows" }[platform];
  const skip = os === undefined || !["x64", "arm64"].includes(arch) || platform === "win32";
  const exe = "opencode-oauth2";

  /** node_modules/@vymalo/{opencode-oauth2/js-shim/dist/{index.js,binaries.json}, opencode-oauth2-<os>-<arch>/bin/<exe>}. */
  async function installed({ sha256, mode = 0o755 } = {}) {
    const root = await makeTmp("oc-oauth2-layout-");
    const nm = join(root, "node_modules", "@vymalo");
    const dist = join(nm, "opencode-oauth2", "js-shim", "dist");
    const pkg = join(nm, `opencode-oauth2-${os}-${arch}`);
    await mkdir(dist, { recursive: true });
    await mkdir(join(pkg, "bin"), { recursive: true });
    await writeFile(join(nm, "opencode-oauth2", "package.json"), JSON.stringify({ name: "@vymalo/opencode-oauth2", version: "9.9.9" }));
    await writeFile(join(pkg, "package.json"), JSON.stringify({ name: `@vymalo/opencode-oauth2-${os}-${arch}`, version: "9.9.9" }));
    const binary = join(pkg, "bin", exe);
    const content = `#!/bin/sh\necho ${root}\n`;
    await writeFile(binary, content);
    await chmod(binary, mode);
    const actual = createHash("sha256").update(content).digest("hex");
    await writeFile(
      join(dist, "binaries.json"),
      JSON.stringify({
        package: "@vymalo/opencode-oauth2",
        version: "9.9.9",
        binaries: { [`@vymalo/opencode-oauth2-${os}-${arch}`]: { file: `bin/${exe}`, sha256: sha256 ?? actual, size: content.length } },
      }),
    );
    const index = join(dist, "index.js");
    await writeFile(index, "export default {};\n");
    return { binary, moduleUrl: pathToFileURL(index).href, actual };
  }

  const saved = {};
  before(() => {
    for (const k of ["OPENCODE_OAUTH2_BINARY", "OPENCODE_OAUTH2_FORBID_DEV_BUILD"]) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
  });

  test("finds the platform package next to it and verifies it", { skip }, async () => {
    const { binary, moduleUrl } = await installed();
    const r = b.locateBinary(moduleUrl);
    assert.deepEqual(r, { path: binary, source: "platform-package", check: "sha256 verified" });
  });

  test("a binary changed after installation is refused", { skip }, async () => {
    const { binary, moduleUrl, actual } = await installed();
    await appendFile(binary, "# tampered\n");
    assert.throws(
      () => b.locateBinary(moduleUrl),
      (e) => {
        assert.ok(e.message.includes(`sha256 mismatch for ${binary}: expected ${actual}, actual `), e.message);
        return true;
      },
    );
  });

  test("a binary without the execute bit is refused with the fix", { skip }, async () => {
    const { binary, moduleUrl } = await installed({ mode: 0o644 });
    assert.throws(() => b.locateBinary(moduleUrl), new RegExp(`The sidecar binary ${binary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not executable`));
  });

  test("an installed binary is hashed once; rewritten with the same size and a forged mtime, it is hashed again and refused", { skip }, async () => {
    const { binary, moduleUrl } = await installed();
    const t = 1_700_000_000; // whole seconds: utimes round-trips them exactly
    await utimes(binary, t, t);
    assert.equal(b.locateBinary(moduleUrl).check, "sha256 verified");
    assert.equal(b.locateBinary(moduleUrl).check, "sha256 verified (unchanged since it was hashed)");
    const text = await readFile(binary, "utf8");
    await writeFile(binary, text.replace(/echo/, "ECHO"));
    await utimes(binary, t, t);
    assert.equal((await stat(binary)).mtimeMs, t * 1000, "same size, same mtime: only ctime tells");
    assert.throws(() => b.locateBinary(moduleUrl), /sha256 mismatch/);
  });
});
