package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/engine"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

var logoutCommand = command{
	name:    "logout",
	args:    "<provider>... | --all",
	summary: "Delete the cached tokens of providers and revoke them at the authorization server.",
	help: `The tokens are removed from the cache first (running OpenCode sessions stop
using them within seconds), then revoked (RFC 7009) when the server has a
revocation endpoint: the refresh token (token_type_hint=refresh_token), then the
access token. What was revoked is reported on stderr. Cached model lists are kept.
A server without a revocation endpoint, or one that cannot revoke self-contained
access tokens, is not a failure: the report says until when such a token stays valid.
Exit code 1 means a revocation request failed (the local tokens are deleted anyway).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		var o logoutOptions
		fs.BoolVar(&o.all, "all", false, "log out of every managed provider")
		fs.BoolVar(&o.localOnly, "local-only", false, "only delete the cached tokens; do not contact the server")
		return func(ctx context.Context, c *cli, cf *commonFlags, args []string) error {
			return runLogout(ctx, c, cf, o, args)
		}
	},
}

type logoutOptions struct {
	all       bool
	localOnly bool
}

func runLogout(ctx context.Context, c *cli, cf *commonFlags, o logoutOptions, args []string) error {
	switch {
	case o.all && len(args) > 0:
		return failf(exitUsage, "give provider ids or --all, not both")
	case !o.all && len(args) == 0:
		return failf(exitUsage, "missing the provider id (or --all)")
	}
	s, err := c.open(cf)
	if err != nil {
		return err
	}
	defer s.Close()
	ps, err := s.providers(args)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		fmt.Fprintf(c.stderr, "No provider with an oauth2 block in the OpenCode config (read from %s).\n", s.sourcesText())
		return nil
	}
	failed := 0
	for _, p := range ps {
		if !logoutOne(ctx, c, p, o.localOnly) {
			failed++
		}
	}
	if failed > 0 {
		return failf(exitFailure, "logout incomplete for %d of %d providers (see above)", failed, len(ps))
	}
	return nil
}

// logoutOne deletes and then revokes one provider's tokens, reporting on
// stderr. It is false when the tokens could not be deleted or a revocation
// request failed.
func logoutOne(ctx context.Context, c *cli, p *engine.Provider, localOnly bool) bool {
	cfg := p.Config()
	name := displayName(cfg)
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	old, err := p.Forget(fctx)
	cancel()
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: could not delete the cached tokens: %v\n", name, err)
		return false
	}
	leftovers := p.Leftovers()
	ok := true
	for _, l := range leftovers {
		if err := p.RemoveLeftover(l); err != nil {
			fmt.Fprintf(c.stderr, "%s: could not delete %s: %v\n", name, l.Path, err)
			ok = false
		}
	}
	if n := len(leftovers); n > 0 {
		fmt.Fprintf(c.stderr, "%s: deleted %d cache file(s) of an earlier configuration.\n", name, n)
	}
	if old.AccessToken.IsZero() && old.RefreshToken.IsZero() && len(leftovers) == 0 {
		fmt.Fprintf(c.stderr, "%s: no tokens were cached.\n", name)
		return true
	}
	if !old.AccessToken.IsZero() || !old.RefreshToken.IsZero() {
		fmt.Fprintf(c.stderr, "%s: deleted the cached tokens.\n", name)
	}
	if localOnly {
		fmt.Fprintf(c.stderr, "  not revoked (--local-only): the tokens stay valid at %s until they expire.\n", cfg.Issuer)
		return ok
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	report := func(what string, tok secret.String, hint string, expires time.Time) (stop bool) {
		if tok.IsZero() {
			return false
		}
		err := p.OAuth().Revoke(rctx, tok, hint)
		switch {
		case err == nil:
			fmt.Fprintf(c.stderr, "  revoked the %s at %s.\n", what, cfg.Issuer)
		case errors.Is(err, oauth.ErrNoRevocationEndpoint):
			fmt.Fprintf(c.stderr, "  not revoked: %s has no revocation endpoint, so the %s stays valid at the server%s.\n",
				cfg.Issuer, what, untilText(expires, c.now()))
			return true
		case errors.Is(err, oauth.ErrUnsupportedTokenType):
			fmt.Fprintf(c.stderr, "  not revoked: the server cannot revoke this %s (self-contained token); it stays valid%s.\n",
				what, untilText(expires, c.now()))
		default:
			fmt.Fprintf(c.stderr, "  could not revoke the %s: %v\n", what, err)
			ok = false
		}
		return false
	}
	for _, l := range leftovers {
		if l.Token != nil && l.Token.RefreshToken != "" {
			report("refresh token of an earlier configuration", secret.New(l.Token.RefreshToken), oauth.HintRefreshToken, time.Time{})
		}
	}
	if report("refresh token", old.RefreshToken, oauth.HintRefreshToken, time.Time{}) {
		return ok
	}
	report("access token", old.AccessToken, oauth.HintAccessToken, old.ExpiresAt)
	return ok
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
