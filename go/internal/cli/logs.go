package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

func (c *cli) newLogsCmd() *cobra.Command {
	var lines int
	var path bool
	cmd := c.command(&cobra.Command{
		Use: "logs", Short: "The sidecar's recent log lines (what the plugin did in OpenCode).",
		Long: `The sidecar that OpenCode starts writes its lifecycle (start, configuration,
logins, renewals, model syncs, problems) to its own log file, so that OpenCode's
start stays silent when nothing is wrong; warnings and errors also reach
OpenCode's log. The file is opencode-oauth2/sidecar.log in the XDG state
directory (~/.local/state on Linux), rotated at 1 MiB, or $OPENCODE_OAUTH2_LOG_FILE.
No line ever holds a token or a secret.
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		file := logging.DefaultFile(c.getenv)
		if file == "" {
			return failf(exitFailure, "the log file is turned off (%s=none)", logging.EnvLogFile)
		}
		if path {
			fmt.Fprintln(c.stdout, file)
			return nil
		}
		all, err := logLines(file)
		if err != nil {
			return withCode(exitFailure, err)
		}
		if len(all) == 0 {
			fmt.Fprintf(c.stderr, "No log lines yet (%s): the sidecar writes there once OpenCode has started it.\n", file)
			return nil
		}
		if lines > 0 && len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintln(c.stdout, strings.Join(all, "\n"))
		return nil
	})
	fs := cmd.Flags()
	fs.IntVarP(&lines, "lines", "n", 40, "how many of the last lines to show (0: all)")
	fs.BoolVar(&path, "path", false, "print the log file's path only")
	return cmd
}

// logLines are the lines of the sidecar's log: the rotated file's, then the
// current one's.
func logLines(file string) ([]string, error) {
	var all []string
	for _, f := range []string{file + ".1", file} {
		data, err := safefile.Read(f, 4*logging.MaxFileBytes)
		if err != nil && !safefile.IsNotExist(err) {
			return nil, err
		}
		if text := strings.TrimRight(string(data), "\n"); text != "" {
			all = append(all, strings.Split(text, "\n")...)
		}
	}
	return all, nil
}
