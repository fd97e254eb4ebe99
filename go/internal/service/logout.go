package service

import (
	"context"
	"errors"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Revocation is what became of one token at the server in a logout.
type Revocation struct {
	What    string    // "refresh token", "access token", "refresh token of an earlier configuration"
	Expires time.Time // the access token's expiry, when known
	// Err is nil when revoked; oauth.ErrNoRevocationEndpoint or
	// oauth.ErrUnsupportedTokenType when the server cannot, else why not.
	Err error
}

// LogoutReport is what a logout did: the one logout of the command line
// and of OpenCode 2's `opencode auth logout`, each wording it its way.
type LogoutReport struct {
	// Had says a token was cached (memory, file or keychain).
	Had bool
	// Leftovers counts the files of earlier configurations deleted.
	Leftovers int
	// LeftoverErrs are the ones that could not be deleted.
	LeftoverErrs []error
	Revocations  []Revocation
}

// OK reports whether everything was deleted and nothing failed to revoke
// (a server that cannot revoke is not a failure).
func (r LogoutReport) OK() bool {
	if len(r.LeftoverErrs) > 0 {
		return false
	}
	for _, v := range r.Revocations {
		if v.Err != nil && !errors.Is(v.Err, oauth.ErrNoRevocationEndpoint) && !errors.Is(v.Err, oauth.ErrUnsupportedTokenType) {
			return false
		}
	}
	return true
}

// Logout ends the provider's session here: its tokens deleted (wherever
// they are kept), the files of earlier configurations too, then, unless
// localOnly, the refresh tokens revoked at the server (RFC 7009) and the
// access token when the server has no refresh token to revoke. The error
// is the deletion's; revocations are in the report.
func (p *Provider) Logout(ctx context.Context, localOnly bool) (LogoutReport, error) {
	var r LogoutReport
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	old, err := p.Tokens.Forget(fctx)
	cancel()
	if err != nil {
		return r, err
	}
	r.Had = !old.AccessToken.IsZero() || !old.RefreshToken.IsZero()
	leftovers := p.Entry.Leftovers()
	for _, l := range leftovers {
		if err := p.Entry.RemoveLeftover(l); err != nil {
			r.LeftoverErrs = append(r.LeftoverErrs, err)
		} else {
			r.Leftovers++
		}
	}
	if localOnly {
		return r, nil
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	revoke := func(what string, tok secret.String, hint string, expires time.Time) error {
		if tok.IsZero() {
			return nil
		}
		err := p.OAuth.Revoke(rctx, tok, hint)
		r.Revocations = append(r.Revocations, Revocation{What: what, Expires: expires, Err: err})
		return err
	}
	for _, l := range leftovers {
		if l.Token != nil && l.Token.RefreshToken != "" {
			_ = revoke("refresh token of an earlier configuration", secret.New(l.Token.RefreshToken), oauth.HintRefreshToken, time.Time{})
		}
	}
	if errors.Is(revoke("refresh token", old.RefreshToken, oauth.HintRefreshToken, time.Time{}), oauth.ErrNoRevocationEndpoint) {
		return r, nil
	}
	_ = revoke("access token", old.AccessToken, oauth.HintAccessToken, old.ExpiresAt)
	return r, nil
}
