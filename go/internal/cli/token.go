package cli

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func (c *cli) newTokenCmd() *cobra.Command {
	var header, login, asJSON bool
	cmd := c.command(&cobra.Command{
		Use: "token <provider>", Short: "Print a valid access token (--header: the whole Authorization line).",
		Long: `The token is the one OpenCode uses: the command shares the cache (and its lock)
with running OpenCode sessions. It never prompts unless --login is given.

Examples:
  curl -H "$(opencode-oauth2 token --header acme)" https://gateway.example/v1/models
  TOKEN=$(opencode-oauth2 token acme) || exit
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		s, p, err := c.openOne(cf, args)
		if err != nil {
			return err
		}
		defer s.Close()
		mode, timeout := tokens.NoLogin, 2*time.Minute
		if login {
			mode, timeout = tokens.AllowLogin, p.Config.LoginTimeout+time.Minute
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		tok, err := p.Token(ctx, mode)
		if err != nil {
			return c.tokenError(p.Config, "no access token for "+displayName(p.Config), err, " (or pass --login)")
		}
		// The only place the command line prints a secret: on stdout, on request.
		value := tok.AccessToken.Reveal()
		switch {
		case asJSON: // the document of `token --json`
			return writeJSON(c, struct {
				AccessToken string    `json:"accessToken"`
				TokenType   string    `json:"tokenType"`
				ExpiresAt   time.Time `json:"expiresAt,omitzero"`
			}{value, cmp.Or(tok.TokenType, "Bearer"), tok.ExpiresAt.UTC()})
		case header:
			value = p.Config.HeaderName() + ": " + p.Config.HeaderValue(tok.TokenType, value)
		}
		_, err = fmt.Fprintln(c.stdout, value)
		return err
	})
	fs := cmd.Flags()
	fs.BoolVar(&header, "header", false, "print the whole header line (\"Authorization: Bearer <token>\", or the provider's tokenHeader and tokenScheme) instead of the bare token")
	fs.BoolVar(&login, "login", false, "log in interactively when a login is needed (otherwise exit 3)")
	fs.BoolVar(&asJSON, "json", false, "print JSON: {accessToken, tokenType, expiresAt}")
	return cmd
}
