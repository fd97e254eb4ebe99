package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func (c *cli) newTokenCmd() *cobra.Command {
	var o tokenOptions
	cmd := c.command(&cobra.Command{
		Use: "token <provider>", Short: "Print a valid access token (--header: the whole Authorization line).",
		Long: `The token is the one OpenCode uses: the command shares the cache (and its lock)
with running OpenCode sessions. It never prompts unless --login is given.

Examples:
  curl -H "$(opencode-oauth2 token --header acme)" https://gateway.example/v1/models
  TOKEN=$(opencode-oauth2 token acme) || exit
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		return runToken(ctx, c, cf, o, args)
	})
	fs := cmd.Flags()
	fs.BoolVar(&o.header, "header", false, "print the whole header line (\"Authorization: Bearer <token>\", or the provider's tokenHeader and tokenScheme) instead of the bare token")
	fs.BoolVar(&o.login, "login", false, "log in interactively when a login is needed (otherwise exit 3)")
	fs.BoolVar(&o.json, "json", false, "print JSON: {accessToken, tokenType, expiresAt}")
	return cmd
}

type tokenOptions struct {
	header bool // print "Authorization: Bearer ..."
	login  bool // allow an interactive login
	json   bool
}

// tokenJSON is the document of `token --json`.
type tokenJSON struct {
	AccessToken string     `json:"accessToken"`
	TokenType   string     `json:"tokenType"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

func runToken(ctx context.Context, c *cli, cf *commonFlags, o tokenOptions, args []string) error {
	s, p, err := c.openOne(cf, args)
	if err != nil {
		return err
	}
	defer s.Close()
	mode, timeout := tokens.NoLogin, 2*time.Minute
	if o.login {
		mode, timeout = tokens.AllowLogin, p.Config.LoginTimeout+time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := p.Token(ctx, mode)
	if err != nil {
		return c.tokenError(p.Config, "no access token for "+displayName(p.Config), err, " (or pass --login)")
	}
	// The only place the command line prints a secret: on stdout, on request.
	if o.json {
		typ := tok.TokenType
		if typ == "" {
			typ = "Bearer"
		}
		return writeJSON(c, tokenJSON{AccessToken: tok.AccessToken.Reveal(), TokenType: typ, ExpiresAt: timePtr(tok.ExpiresAt)})
	}
	value := tok.AccessToken.Reveal()
	if o.header {
		cfg := p.Config
		value = cfg.HeaderName() + ": " + cfg.HeaderValue(tok.TokenType, tok.AccessToken.Reveal())
	}
	_, err = fmt.Fprintln(c.stdout, value)
	return err
}
