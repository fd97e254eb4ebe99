package loopback

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// TestLoginStateDoesNotLeakToLocalProcesses: another local user who finds the
// loopback port (it is listed in /proc/net/tcp) must not learn the login's
// state or PKCE challenge, or they could abort the login or complete it with
// their own account. Only the start URL given to the user, which carries 32
// random bytes in its path, redirects to the authorization request, and only
// once.
func TestLoginStateDoesNotLeakToLocalProcesses(t *testing.T) {
	const authURL = "https://issuer.test/authorize?client_id=x&state=" + testState + "&code_challenge=the-challenge"
	s, err := Listen(Config{State: secret.New(testState), Issuer: testIssuer})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	s.Start(authURL)

	start, err := url.Parse(s.StartURL())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(start.Path, "/start/"), start.Path)
	token := strings.TrimPrefix(start.Path, "/start/")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err, "the start path is base64url")
	assert.Len(t, raw, 32, "the start path carries 32 random bytes")

	other, err := Listen(Config{State: secret.New(testState), Issuer: testIssuer})
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	assert.NotEqual(t, strings.TrimPrefix(s.StartURL(), "http://127.0.0.1:"+strconv.Itoa(s.port)),
		strings.TrimPrefix(other.StartURL(), "http://127.0.0.1:"+strconv.Itoa(other.port)), "every login has its own start secret")

	base := "http://127.0.0.1:" + strconv.Itoa(s.port)
	guesses := []string{
		base + "/",
		base + "/start",
		base + "/start/",
		base + "/start/" + token[:20],
		base + "/start/" + token + "x",
		base + "/start/" + strings.ToUpper(token),
		base + "/" + token,
		base + "/start/" + token + "/",
		base + "/oauth2/callback",
	}
	for _, g := range guesses {
		a := get(t, g)
		assert.GreaterOrEqual(t, a.status, 400, g)
		assert.Empty(t, a.header.Get("Location"), g)
		assert.NotContains(t, a.body, testState, g)
		assert.NotContains(t, a.body, "the-challenge", g)
		assert.NotContains(t, a.body, "issuer.test/authorize", g)
	}
	waitNone(t, s)

	// The user's browser opens the start URL: one redirect.
	a := get(t, s.StartURL())
	assert.Equal(t, http.StatusFound, a.status)
	assert.Equal(t, authURL, a.header.Get("Location"))

	// The link is spent: a process that read it from the terminal or the
	// browser history gets nothing.
	again := get(t, s.StartURL())
	assert.Equal(t, http.StatusGone, again.status)
	assert.Empty(t, again.header.Get("Location"))
	assert.Contains(t, again.body, "already used")
	assert.NotContains(t, again.body, testState)
	waitNone(t, s)
}
