// A checkout of this repository used as a local plugin path ("plugin": ["/path/to/checkout"]):
// OpenCode 2 loads a directory's root index.js, OpenCode 1 the package's main. Both get the
// bundle that `task build` writes (the published package has no such file: its entry is the bundle).
export { default } from "./js-shim/dist/index.js";
