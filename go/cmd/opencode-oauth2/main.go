// Command opencode-oauth2 is the sidecar of the OpenCode plugin
// @vymalo/opencode-oauth2 (`serve`, started by the plugin) and the command
// line for people and CI (package cli).
package main

import (
	"os"

	"github.com/vymalo/opencode-oauth2/go/internal/cli"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=..."
// (js-shim/pack.mjs and the Taskfile do).
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cli.Build{Version: version, Commit: commit}))
}
