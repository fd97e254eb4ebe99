package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
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

// Logout implements the protocol's logout for the engine: the provider's
// session ends as with `opencode-oauth2 logout <id>`. It runs beside the
// request, as background work that Shutdown waits for: OpenCode's logout
// command ends its process right after it, and the revocation must not be
// cut short with it.
func (e *Engine) Logout(ctx context.Context, lp protocol.LogoutParams) (protocol.LogoutResult, error) {
	p, ok := e.Provider(lp.ProviderID)
	if !ok {
		return protocol.LogoutResult{}, &protocol.TokenError{ProviderID: lp.ProviderID, Reason: protocol.ReasonConfig,
			Err: errors.New("no managed provider has this id")}
	}
	e.bgWork.Add(1)
	go func() {
		defer e.bgWork.Done()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		r, err := p.Logout(lctx, false)
		if err != nil {
			e.log.Warn("logout: the tokens could not be deleted", "provider", lp.ProviderID, "err", err)
			return
		}
		revoked := 0
		for _, v := range r.Revocations {
			if v.Err == nil {
				revoked++
			}
		}
		e.log.Info("logged out", "provider", lp.ProviderID, "had_tokens", r.Had, "revoked", revoked, "complete", r.OK())
	}()
	return protocol.LogoutResult{Message: fmt.Sprintf("logging out of %s: its tokens are deleted and revoked", p.Config().Name)}, nil
}

// Logout ends the provider's session here: its tokens deleted (wherever
// they are kept), the files of earlier configurations too, then, unless
// localOnly, the refresh tokens revoked at the server (RFC 7009) and the
// access token when the server has no refresh token to revoke. The error
// is the deletion's; revocations are in the report.
func (p *Provider) Logout(ctx context.Context, localOnly bool) (LogoutReport, error) {
	var r LogoutReport
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	old, err := p.Forget(fctx)
	cancel()
	if err != nil {
		return r, err
	}
	r.Had = !old.AccessToken.IsZero() || !old.RefreshToken.IsZero()
	leftovers := p.Leftovers()
	for _, l := range leftovers {
		if err := p.RemoveLeftover(l); err != nil {
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
		err := p.OAuth().Revoke(rctx, tok, hint)
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
