package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCmd prints cobra's completion script for a shell; the
// scripts ask the binary for the words (commands, flags, provider ids).
func (c *cli) newCompletionCmd(root *cobra.Command) *cobra.Command {
	var providers bool
	shells := []string{"bash", "zsh", "fish"}
	cmd := c.command(&cobra.Command{
		Use: "completion bash|zsh|fish", Short: "Print a shell completion script (commands, flags, provider ids).",
		ValidArgs: shells,
		Long: `Install it with, for example:
  bash:  opencode-oauth2 completion bash > ~/.local/share/bash-completion/completions/opencode-oauth2
  zsh:   opencode-oauth2 completion zsh > "${fpath[1]}/_opencode-oauth2"
  fish:  opencode-oauth2 completion fish > ~/.config/fish/completions/opencode-oauth2.fish
The scripts ask the command itself for the words to complete; provider ids are
those of the config found from the current directory (no network), as listed by
` + "`opencode-oauth2 completion --providers`" + `.
`,
	}, true, func(_ context.Context, cf *commonFlags, args []string) error {
		if providers {
			ids, err := c.providerIDs(cf)
			for _, id := range ids {
				fmt.Fprintln(c.stdout, id)
			}
			return err
		}
		if len(args) != 1 {
			return failf(exitUsage, "name one shell: bash, zsh or fish")
		}
		switch args[0] {
		case "bash":
			return root.GenBashCompletionV2(c.stdout, true)
		case "zsh":
			return root.GenZshCompletion(c.stdout)
		case "fish":
			return root.GenFishCompletion(c.stdout, true)
		}
		return failf(exitUsage, "no completion for shell %q%s; bash, zsh and fish are supported", args[0], didYouMean(args[0], shells))
	})
	cmd.Flags().BoolVar(&providers, "providers", false, "list the provider ids of the config, one per line")
	return cmd
}

// providerIDs are the managed provider ids and those skipped for config
// errors (no network).
func (c *cli) providerIDs(cf *commonFlags) ([]string, error) {
	s, _, err := c.open(cf)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.allIDs(), nil
}
