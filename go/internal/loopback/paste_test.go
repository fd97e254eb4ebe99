package loopback

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// TestPaste: a pasted address is judged as a callback: garbage, another
// path and another login's state are refused with why (the login waits on);
// the right one is accepted once; a second paste is refused.
func TestPaste(t *testing.T) {
	s, err := Listen(Config{State: secret.New("the-state"), Issuer: "https://idp.test"})
	require.NoError(t, err)
	defer s.Close()
	s.Refuse()
	good := s.RedirectURI() + "?code=the-code&state=the-state&iss=https%3A%2F%2Fidp.test"
	refused := []struct{ name, text, want string }{
		{"nothing", "  ", "nothing was pasted"},
		{"words", "hello there", "that is not an address"},
		{"another scheme", "ftp://127.0.0.1/oauth2/callback?code=x&state=the-state", "not an http address"},
		{"another path", "http://127.0.0.1:1/elsewhere?code=x&state=the-state", "its path is not /oauth2/callback"},
		{"another login's state", "http://127.0.0.1:1/oauth2/callback?code=x&state=other", "the state parameter does not match this login"},
		{"no state", "http://127.0.0.1:1/oauth2/callback?code=x", "no state parameter"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Paste(tc.text)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "the-state", "the state is never repeated")
		})
	}
	require.NoError(t, s.Paste(good))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, err := s.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "the-code", code.Reveal())
	assert.ErrorContains(t, s.Paste(good), "already received its answer", "usable once")
}

// TestPastedErrorResponseEndsTheLogin: the server's error, pasted, fails
// the login with its words.
func TestPastedErrorResponseEndsTheLogin(t *testing.T) {
	s, err := Listen(Config{State: secret.New("st")})
	require.NoError(t, err)
	defer s.Close()
	err = s.Paste("?error=access_denied&error_description=no+thanks&state=st")
	require.Error(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.Wait(ctx)
	var ae *AuthError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "access_denied", ae.Code)
}
