package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

func (c *cli) newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := c.command(&cobra.Command{
		Use: "version", Short: "Version, commit, Go, protocol and platform (--json).",
		Long: `The protocol version is the version of the JSON-RPC protocol spoken with the
OpenCode plugin (protocol/protocol.md); a plugin and a binary must agree on it.
`,
	}, false, func(ctx context.Context, cf *commonFlags, args []string) error {
		v := currentVersion(c.build)
		if asJSON {
			return writeJSON(c, v)
		}
		dirty := ""
		if v.Modified {
			dirty = " (modified)"
		}
		_, err := fmt.Fprintf(c.stdout, "opencode-oauth2 %s\ncommit:   %s%s\ngo:       %s\nprotocol: %d\nplatform: %s\n",
			v.Version, v.Commit, dirty, v.Go, v.Protocol, v.Platform)
		return err
	})
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// versionJSON is the document of `version --json`.
type versionJSON struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"` // built from a checkout with changes
	Go       string `json:"go"`
	Protocol int    `json:"protocol"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

// currentVersion is the version document of build b (its commit, else
// Go's VCS stamp, if any).
func currentVersion(b Build) versionJSON {
	v := versionJSON{Version: b.Version, Commit: cmp.Or(b.Commit, "unknown"), Go: runtime.Version(), Protocol: protocol.ProtocolVersion,
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok && b.Commit == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

// writeJSON prints v as indented JSON on stdout.
func writeJSON(c *cli, v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
