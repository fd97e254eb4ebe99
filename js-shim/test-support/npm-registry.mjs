// A minimal npm registry on 127.0.0.1 serving the tarballs js-shim/pack.mjs wrote
// (its index.json), so that OpenCode (and npm) install @vymalo/opencode-oauth2 BY
// NAME exactly as from the public registry: packument with dist-tags.latest, then
// the tarball, with npm choosing the optional platform package by os/cpu.
// Platform packages described in index.json without a tarball (not built for this
// run) have a packument whose tarball is 404, as a registry that has them would
// offer them: npm must never download them on another platform.
// Anything else is 404. Every request is recorded (requests()).

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

/** Starts the registry for the packed folder dir. Resolves {url, requests(), close()}. */
export async function startRegistry(dir) {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
  const log = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    log.push(`${req.method} ${path}`);
    const send = (status, type, body) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    const notFound = () => send(404, "application/json", JSON.stringify({ error: "Not found" }));
    const tarballPrefix = "/-/tarballs/";
    if (path.startsWith(tarballPrefix)) {
      const file = path.slice(tarballPrefix.length);
      const p = index.packages.find((x) => x.tarball === file);
      if (!p) return notFound();
      return send(200, "application/octet-stream", readFileSync(join(dir, file)));
    }
    const p = index.packages.find((x) => `/${x.name}` === path);
    if (!p || req.method !== "GET") return notFound();
    const base = `http://${req.headers.host}`;
    let dist;
    if (p.tarball) {
      const bytes = readFileSync(join(dir, p.tarball));
      dist = {
        tarball: `${base}${tarballPrefix}${p.tarball}`,
        shasum: createHash("sha1").update(bytes).digest("hex"),
        integrity: `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
      };
    } else {
      dist = { tarball: `${base}/-/not-built/${p.name}-${p.version}.tgz` };
    }
    const packument = {
      _id: p.name,
      name: p.name,
      "dist-tags": { latest: p.version },
      versions: { [p.version]: { ...p.packageJson, _id: `${p.name}@${p.version}`, dist } },
      time: { [p.version]: "2026-01-01T00:00:00.000Z" },
    };
    return send(200, "application/json", JSON.stringify(packument));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests: () => [...log],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
