// Package tokens decides when a provider needs a new access token and gets
// exactly one: an in-memory copy serves the hot path, an in-process
// single-flight joins concurrent callers, and the store's cross-process lock
// is held across read → refresh → write so that a rotating refresh token is
// used once across every process sharing the cache.
package tokens

import (
	"errors"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// Token is an access token with what is needed to use and renew it.
type Token struct {
	AccessToken  secret.String
	TokenType    string
	RefreshToken secret.String
	IDToken      secret.String
	Scope        string
	ExpiresAt    time.Time // zero when the server gave no expires_in
	ObtainedAt   time.Time // when this process (or another) received it
}

// Policy says how long a token may be used.
type Policy struct {
	// Skew renews a token this long before it expires (default 30 s). For a
	// token whose lifetime is shorter than twice the skew, half its lifetime
	// is used instead, so short-lived tokens (60 s, 5 s) are not fetched anew
	// on every request.
	Skew time.Duration
	// UserFlow: a token without expiry is valid until the gateway rejects it
	// (authorization_code, device_code). For machine flows a token without
	// expiry is re-acquired each time it is needed, as the original did.
	UserFlow bool
}

// FreshUntil is the instant after which t must be renewed; zero means "not
// usable now". For a user-flow token without expiry it is far in the future.
func (p Policy) FreshUntil(t Token) time.Time {
	if t.AccessToken.IsZero() {
		return time.Time{}
	}
	if t.ExpiresAt.IsZero() {
		if p.UserFlow {
			return farFuture
		}
		return time.Time{}
	}
	skew := max(p.Skew, 0)
	if !t.ObtainedAt.IsZero() {
		skew = min(skew, t.ExpiresAt.Sub(t.ObtainedAt)/2)
	}
	return t.ExpiresAt.Add(-skew)
}

// Fresh reports whether t may be used at now without renewing it.
func (p Policy) Fresh(t Token, now time.Time) bool {
	return now.Before(p.FreshUntil(t))
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Errors a Grant wraps so the manager can tell what to do next.
var (
	// ErrInvalidGrant: the refresh token (or code) is no longer valid; log in again.
	ErrInvalidGrant = errors.New("invalid_grant")
	// ErrInvalidClient: the client credentials are wrong; retrying will not help.
	ErrInvalidClient = errors.New("invalid_client")
	// ErrTransient: network error, timeout, 429 or 5xx; retry later, no prompt.
	ErrTransient = errors.New("temporary failure")
	// ErrLoginRequired: a person must log in, and this call may not start it.
	ErrLoginRequired = errors.New("login required")
)

func fromStore(t *store.Token) Token {
	if t == nil {
		return Token{}
	}
	return Token{
		AccessToken:  secret.New(t.AccessToken),
		TokenType:    t.TokenType,
		RefreshToken: secret.New(t.RefreshToken),
		IDToken:      secret.New(t.IDToken),
		Scope:        t.Scope,
		ExpiresAt:    t.ExpiresAt,
		ObtainedAt:   t.ObtainedAt,
	}
}

func toStore(t Token) *store.Token {
	if t.AccessToken.IsZero() && t.RefreshToken.IsZero() {
		return nil
	}
	return &store.Token{
		AccessToken:  t.AccessToken.Reveal(),
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken.Reveal(),
		IDToken:      t.IDToken.Reveal(),
		Scope:        t.Scope,
		ExpiresAt:    t.ExpiresAt.UTC(),
		ObtainedAt:   t.ObtainedAt.UTC(),
	}
}
