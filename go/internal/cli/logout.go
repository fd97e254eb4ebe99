package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

func (c *cli) newLogoutCmd() *cobra.Command {
	var all, localOnly bool
	cmd := c.command(&cobra.Command{
		Use: "logout <provider>... | --all", Short: "Delete the cached tokens and revoke them at the server.",
		Long: `The tokens are removed from the cache first (running OpenCode sessions stop
using them within seconds), then revoked (RFC 7009) when the server has a
revocation endpoint: the refresh token (token_type_hint=refresh_token), then the
access token. What was revoked is reported on stderr. Cached model lists are kept.
A server without a revocation endpoint, or one that cannot revoke self-contained
access tokens, is not a failure: the report says until when such a token stays valid.
Exit code 1 means a revocation request failed (the local tokens are deleted anyway).
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		switch {
		case all && len(args) > 0:
			return failf(exitUsage, "give provider ids or --all, not both")
		case !all && len(args) == 0:
			return failf(exitUsage, "missing the provider id (or --all)")
		}
		s, ps, err := c.open(cf, args...)
		if err != nil {
			return err
		}
		defer s.Close()
		if len(ps) == 0 {
			s.sayNoProviders()
			return nil
		}
		failed := 0
		for _, p := range ps {
			if !logoutOne(ctx, c, p, localOnly) {
				failed++
			}
		}
		if failed > 0 {
			return failf(exitFailure, "logout incomplete for %d of %d providers (see above)", failed, len(ps))
		}
		return nil
	})
	fs := cmd.Flags()
	fs.BoolVar(&all, "all", false, "log out of every managed provider")
	fs.BoolVar(&localOnly, "local-only", false, "only delete the cached tokens; do not contact the server")
	return cmd
}

// logoutOne deletes and then revokes one provider's tokens (engine's
// Provider.Logout), reporting on stderr. It is false when the tokens could
// not be deleted or a revocation request failed.
func logoutOne(ctx context.Context, c *cli, p *service.Provider, localOnly bool) bool {
	cfg := p.Config
	name := displayName(cfg)
	r, err := p.Logout(ctx, localOnly)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: could not delete the cached tokens: %v\n", name, err)
		return false
	}
	for _, err := range r.LeftoverErrs {
		fmt.Fprintf(c.stderr, "%s: could not delete a cache file of an earlier configuration: %v\n", name, err)
	}
	if r.Leftovers > 0 {
		fmt.Fprintf(c.stderr, "%s: deleted %d cache file(s) of an earlier configuration.\n", name, r.Leftovers)
	}
	if !r.Had && r.Leftovers == 0 && len(r.LeftoverErrs) == 0 {
		fmt.Fprintf(c.stderr, "%s: no tokens were cached.\n", name)
		return true
	}
	if r.Had {
		fmt.Fprintf(c.stderr, "%s: deleted the cached tokens.\n", name)
	}
	if localOnly {
		fmt.Fprintf(c.stderr, "  not revoked (--local-only): the tokens stay valid at %s until they expire.\n", cfg.Issuer)
		return r.OK()
	}
	for _, v := range r.Revocations {
		switch {
		case v.Err == nil:
			fmt.Fprintf(c.stderr, "  revoked the %s at %s.\n", v.What, cfg.Issuer)
		case errors.Is(v.Err, oauth.ErrNoRevocationEndpoint):
			fmt.Fprintf(c.stderr, "  not revoked: %s has no revocation endpoint, so the %s stays valid at the server%s.\n",
				cfg.Issuer, v.What, untilText(v.Expires, c.now()))
		case errors.Is(v.Err, oauth.ErrUnsupportedTokenType):
			fmt.Fprintf(c.stderr, "  not revoked: the server cannot revoke this %s (self-contained token); it stays valid%s.\n",
				v.What, untilText(v.Expires, c.now()))
		default:
			fmt.Fprintf(c.stderr, "  %v\n", explain("could not revoke the "+v.What, v.Err))
		}
	}
	return r.OK()
}

func untilText(t, now time.Time) string {
	if t.IsZero() {
		return " until it expires"
	}
	if !t.After(now) {
		return " no longer: it expired " + when(t, now)
	}
	return " until it expires " + when(t, now)
}
