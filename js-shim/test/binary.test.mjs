// Binary resolution: every source, every error message, with injected inputs.

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { cleanupTmp, importSrc } from "../test-support/helpers.mjs";

let b;
before(async () => {
  b = await importSrc("binary");
});
after(cleanupTmp);

const moduleDir = "/pkg/node_modules/@vymalo/opencode-oauth2/js-shim/dist";
const pkgDir = "/pkg/node_modules/@vymalo/opencode-oauth2-linux-x64";
const devBuild = "/pkg/node_modules/@vymalo/opencode-oauth2/bin/opencode-oauth2";

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
        files: [join(pkgDir, "bin/opencode-oauth2"), devBuild],
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
