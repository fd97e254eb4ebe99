package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

func (c *cli) newModelsCmd() *cobra.Command {
	var refresh, asJSON bool
	cmd := c.command(&cobra.Command{
		Use: "models <provider>", Short: "The gateway's models with their display names (--refresh, --json).",
		Long: `Shows the cached list (what OpenCode registers at its next start); when nothing
is cached yet, or with --refresh, the gateway's /models endpoint is asked now,
with a token obtained without prompting, and the cache is updated for OpenCode too.
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		s, p, err := c.openOne(cf, args)
		if err != nil {
			return err
		}
		defer s.Close()
		if refresh || len(p.Catalog.Models()) == 0 {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if err := p.Sync(ctx); err != nil {
				if he, ok := errors.AsType[*models.HTTPError](err); ok { // the gateway refused: what to check there
					return failf(exitFailure, "%w\n  → %s", err, gatewayHint(p.Config, he.StatusCode))
				}
				return c.tokenError(p.Config, "model sync for "+displayName(p.Config)+" failed", err, "")
			}
		}
		list := p.Catalog.Models()
		if asJSON {
			return writeJSON(c, modelsJSON{p.Config.ID, p.Entry.Load().LastSyncAt.UTC(), append([]models.Model{}, list...)})
		}
		if len(list) == 0 {
			fmt.Fprintf(c.stderr, "The gateway of %s lists no models.\n", displayName(p.Config))
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCONTEXT\tMAX OUTPUT")
		for _, m := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", redact.Clean(m.ID, 200), redact.Clean(m.Name, 200), count(m.ContextLength), count(m.MaxOutputTokens))
		}
		return tw.Flush()
	})
	fs := cmd.Flags()
	fs.BoolVar(&refresh, "refresh", false, "fetch the list from the gateway now and update the cache")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// modelsJSON is the document of `models --json`.
type modelsJSON struct {
	Provider   string         `json:"provider"`
	LastSyncAt time.Time      `json:"lastSyncAt,omitzero"`
	Models     []models.Model `json:"models"`
}

func count(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// gatewayHint says what to check when the gateway refuses a request.
func gatewayHint(p config.Provider, status int) string {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("The gateway did not accept the token. Check that it trusts tokens from %s and expects their audience "+
			"(set resources or audience in the oauth2 block if it needs a specific one), and that the token is not expired or revoked.", p.Issuer)
	case http.StatusForbidden:
		scopes, who := "none configured", "the user"
		if len(p.Scopes) > 0 {
			scopes = fmt.Sprint(p.Scopes)
		}
		if !p.Flow.Interactive() {
			who = fmt.Sprintf("client %q", p.ClientID)
		}
		return fmt.Sprintf("The gateway accepted the token but refused access. Check the scopes requested (%s), the audience of the token, "+
			"and that %s is allowed to use the gateway (roles or groups at the identity provider).", scopes, who)
	case http.StatusNotFound:
		return "The gateway has no models endpoint there. Check baseURL, or set modelsURL in the oauth2 block."
	}
	return "Check the gateway's logs and status."
}
