// Bundles js-shim/src/index.ts into ONE ESM file, js-shim/dist/index.js, for
// OpenCode (Bun) and Node >= 20. @opencode-ai/plugin is used for types only;
// the build fails if anything from it (or any other package) is imported at
// run time, or if the module exports anything but its default plugin.
//
//   node js-shim/build.mjs          build dist/index.js
//   import { bundle } from "./build.mjs"   (tests: bundle other entry points)

import { build } from "esbuild";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const distFile = join(here, "dist", "index.js");

/** Bundles one source entry (relative to js-shim/) into outfile. */
export async function bundle(entry, outfile, { minify = false } = {}) {
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [join(here, entry)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    minify,
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    metafile: true,
  });
  const imported = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter((i) => i.external && !i.path.startsWith("node:"));
  if (imported.length > 0) {
    throw new Error(`${entry}: run-time imports of packages are not allowed: ${imported.map((i) => i.path).join(", ")}`);
  }
  return outfile;
}

/** Builds the plugin bundle (by default js-shim/dist/index.js; js-shim/pack.mjs builds into its staging dir). */
export async function buildShim(outfile = distFile) {
  await bundle("src/index.ts", outfile);
  const text = await readFile(outfile, "utf8");
  if (text.includes("@opencode-ai/")) throw new Error("dist/index.js refers to @opencode-ai/*: use `import type`");
  const mod = await import(`${pathToFileURL(outfile).href}?check=${Date.now()}`);
  const keys = Object.keys(mod);
  if (keys.length !== 1 || keys[0] !== "default" || typeof mod.default?.server !== "function" || typeof mod.default?.setup !== "function") {
    throw new Error(`dist/index.js must export only a default {id, server, setup}; it exports: ${keys.join(", ")}`);
  }
  return outfile;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const out = await buildShim();
  console.log(`built ${out}`);
}
