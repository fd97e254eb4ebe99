// Binary resolution: every source, every error message, with injected inputs.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, realpath, writeFile } from "node:fs/promises";
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

describe("verifyBinary: nobody else can replace what runs", () => {
  const me = 1000;
  const dirOf = (mode, uid = me, gid = me) => ({ uid, gid, mode: 0o40000 | mode, isDirectory: true });
  /** A tree: every path maps to its owner and mode; the binary is /home/u/.cache/pkg/bin/x. */
  function trust(over = {}, { platform = "linux", exec = true, real = (p) => p } = {}) {
    const tree = {
      "/": dirOf(0o755, 0, 0),
      "/home": dirOf(0o755, 0, 0),
      "/home/u": dirOf(0o700),
      "/home/u/.cache": dirOf(0o755),
      "/home/u/.cache/pkg": dirOf(0o755),
      "/home/u/.cache/pkg/bin": dirOf(0o755),
      "/home/u/.cache/pkg/bin/x": { uid: me, gid: me, mode: 0o100755, isDirectory: false },
      ...over,
    };
    return {
      platform,
      uid: me,
      gid: me,
      realpath: (p) => {
        const r = real(p);
        if (!(r in tree)) throw new Error(`ENOENT: ${r}`);
        return r;
      },
      stat: (p) => tree[p],
      isExecutable: () => exec,
    };
  }
  const bin = { path: "/home/u/.cache/pkg/bin/x", source: "platform-package" };

  test("a binary of this user, in directories only this user (and root) can write: it runs, by its canonical path", () => {
    const r = b.verifyBinary({ ...bin, path: "/link" }, trust({}, { real: (p) => (p === "/link" ? bin.path : p) }));
    assert.deepEqual(r, { path: bin.path, source: "platform-package", check: "owner and permissions checked" });
  });

  const refused = [
    ["a directory above belongs to another user (a package planted in a shared directory)", { "/home/u/.cache/pkg": dirOf(0o755, 65534, 65534) }, "/home/u/.cache/pkg belongs to another user (uid 65534)"],
    ["the binary belongs to another user", { "/home/u/.cache/pkg/bin/x": { uid: 65534, gid: 65534, mode: 0o100755, isDirectory: false } }, "/home/u/.cache/pkg/bin/x belongs to another user"],
    ["a directory above is writable by every user", { "/home/u/.cache": dirOf(0o777) }, "/home/u/.cache is writable by every user"],
    ["the binary is writable by every user", { "/home/u/.cache/pkg/bin/x": { uid: me, gid: me, mode: 0o100777, isDirectory: false } }, "bin/x is writable by every user"],
    ["a directory above is writable by another group", { "/home/u/.cache/pkg/bin": dirOf(0o775, me, 50) }, "/home/u/.cache/pkg/bin is writable by the group 50"],
  ];
  for (const [name, over, why] of refused) {
    test(`refused: ${name}`, () => {
      assert.throws(
        () => b.verifyBinary(bin, trust(over)),
        (e) => e.message.includes("refusing to start the sidecar binary") && e.message.includes(why) && e.message.includes("another user could replace it"),
      );
    });
  }

  const allowed = [
    ["a sticky world-writable directory above (as /tmp)", { "/home": dirOf(0o1777, 0, 0) }],
    ["a directory writable by this user's own group", { "/home/u/.cache/pkg": dirOf(0o775) }],
    ["root's directories and files", { "/home/u/.cache/pkg/bin/x": { uid: 0, gid: 0, mode: 0o100755, isDirectory: false } }],
  ];
  for (const [name, over] of allowed) {
    test(`allowed: ${name}`, () => assert.equal(b.verifyBinary(bin, trust(over)).path, bin.path));
  }

  for (const [source, fix] of [["platform-package", /reinstall @vymalo\/opencode-oauth2, or run chmod \+x/], ["dev-build", /Run chmod \+x/], ["env", /OPENCODE_OAUTH2_BINARY points at/]]) {
    test(`${source}: a binary without the execute permission is a clear error`, () => {
      assert.throws(() => b.verifyBinary({ ...bin, source }, trust({}, { exec: false })), (e) => fix.test(e.message) && e.message.includes("not executable"));
    });
  }

  test("a binary that is not there: names it", () => {
    assert.throws(() => b.verifyBinary({ ...bin, path: "/nowhere/x" }, trust()), /the sidecar binary \/nowhere\/x cannot be found/);
  });

  test("Windows: executable is all that is checked, and the log says so", () => {
    assert.match(b.verifyBinary(bin, trust({ "/home/u/.cache": dirOf(0o777) }, { platform: "win32" })).check, /no owner check on Windows/);
  });
});

describe("locateBinary on a real installed layout", () => {
  const { platform, arch } = process;
  const os = { linux: "linux", darwin: "darwin", win32: "windows" }[platform];
  const skip = os === undefined || !["x64", "arm64"].includes(arch) || platform === "win32";
  const exe = "opencode-oauth2";

  /** <root>/node_modules/@vymalo/{opencode-oauth2/js-shim/dist/{index.js,binaries.json}, opencode-oauth2-<os>-<arch>/bin/<exe>}. */
  async function installed({ mode = 0o755 } = {}) {
    const root = await makeTmp("oc-oauth2-layout-");
    await chmod(root, 0o700);
    const nm = join(root, "node_modules", "@vymalo");
    const dist = join(nm, "opencode-oauth2", "js-shim", "dist");
    const pkg = join(nm, `opencode-oauth2-${os}-${arch}`);
    await mkdir(dist, { recursive: true });
    await mkdir(join(pkg, "bin"), { recursive: true });
    await writeFile(join(nm, "opencode-oauth2", "package.json"), JSON.stringify({ name: "@vymalo/opencode-oauth2", version: "9.9.9" }));
    await writeFile(join(pkg, "package.json"), JSON.stringify({ name: `@vymalo/opencode-oauth2-${os}-${arch}`, version: "9.9.9" }));
    const binary = join(pkg, "bin", exe);
    await writeFile(binary, `#!/bin/sh\necho ${root}\n`);
    await chmod(binary, mode);
    await writeFile(join(dist, "binaries.json"), "{}");
    const index = join(dist, "index.js");
    await writeFile(index, "export default {};\n");
    return { root, pkg, binary, moduleUrl: pathToFileURL(index).href };
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

  test("finds the platform package next to it and checks it", { skip }, async () => {
    const { binary, moduleUrl } = await installed();
    const r = b.locateBinary(moduleUrl);
    assert.equal(r.path, await realpath(binary));
    assert.equal(r.check, "owner and permissions checked");
    r.verify();
  });

  test("a directory above made writable by every user after the first check: the next start (verify) refuses it", { skip }, async () => {
    const { pkg, moduleUrl } = await installed();
    const r = b.locateBinary(moduleUrl);
    await chmod(pkg, 0o777);
    assert.throws(() => r.verify(), /is writable by every user/);
    assert.throws(() => b.locateBinary(moduleUrl), /another user could replace it/);
  });

  test("a platform package owned by another user is refused", { skip: skip || process.getuid?.() !== 0 }, async () => {
    const { pkg, moduleUrl } = await installed();
    await chown(pkg, 65534, 65534);
    assert.throws(() => b.locateBinary(moduleUrl), /belongs to another user \(uid 65534\)/);
  });

  // Played by a second user (setpriv, as root): a platform package planted in a shared,
  // world-writable directory that module resolution walks up to is never run, and
  // neither is a program that user renames over the binary after the first check.
  const asRoot = !skip && process.getuid?.() === 0 && existsSync("/usr/bin/setpriv");
  const asNobody = (cmd) => execFileSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd]);
  test("another user's package planted in a world-writable ancestor is never run", { skip: !asRoot }, async () => {
    const shared = await makeTmp("oc-oauth2-shared-");
    await chmod(shared, 0o777); // like a shared directory without the sticky bit
    const pkg = join(shared, "node_modules", "@vymalo", `opencode-oauth2-${os}-${arch}`);
    asNobody(`mkdir -p '${pkg}/bin' && printf '{"name":"x","version":"9.9.9"}' > '${pkg}/package.json' && printf '#!/bin/sh\\ntouch ${shared}/ran\\n' > '${pkg}/bin/${exe}' && chmod 755 '${pkg}/bin/${exe}'`);
    // The plugin installed below the shared directory, without its own platform package.
    const dist = join(shared, "app", "node_modules", "@vymalo", "opencode-oauth2", "js-shim", "dist");
    await mkdir(dist, { recursive: true });
    await writeFile(join(dist, "binaries.json"), "{}");
    await writeFile(join(dist, "index.js"), "export default {};\n");
    assert.throws(() => b.locateBinary(pathToFileURL(join(dist, "index.js")).href), /another user could replace it \(.*(belongs to another user \(uid 65534\)|is writable by every user)\)/);
    assert.ok(!existsSync(join(shared, "ran")), "the planted program never ran");
  });

  test("a program another user renames over the binary after the first check is refused at the next start", { skip: !asRoot }, async () => {
    const { root, pkg, moduleUrl } = await installed();
    const r = b.locateBinary(moduleUrl);
    // The attacker can only get at it through a directory they may write: give them one.
    await chmod(root, 0o755);
    await chmod(join(pkg, "bin"), 0o777);
    asNobody(`printf '#!/bin/sh\\ntouch ${root}/ran\\n' > '${pkg}/bin/evil' && chmod 755 '${pkg}/bin/evil' && mv -f '${pkg}/bin/evil' '${r.path}'`);
    assert.throws(() => r.verify(), /another user could replace it/);
    assert.ok(!existsSync(join(root, "ran")));
  });

  test("a binary without the execute bit is refused with the fix", { skip }, async () => {
    const { moduleUrl } = await installed({ mode: 0o644 });
    assert.throws(() => b.locateBinary(moduleUrl), /The sidecar binary .* is not executable/);
  });
});
