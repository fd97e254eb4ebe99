//go:build integration

package cli

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestCLILoginForceKeepsTheWorkingLogin (#16 item 8): `login --force`
// must not throw away the working login before a new one is stored. An
// interrupted `login --force` leaves the old login usable; a completed one
// replaces it and revokes the replaced refresh token at the server.
func TestCLILoginForceKeepsTheWorkingLogin(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"pc": codeProvider(as, "http://127.0.0.1:9/v1")}))
	old := loginOnce(t, as)
	e.seed("pc", tokenState(old, false))

	t.Run("interrupted", func(t *testing.T) {
		e.t = t
		again := e.start("login", "--force", "--no-browser", "pc")
		again.await(t, startURLLine, 30*time.Second)
		// While the new login waits, the old one still serves.
		r := e.run("token", "pc")
		require.Equal(t, exitOK, r.code, "the old login works while --force waits")
		assert.Equal(t, old.AccessToken, strings.TrimSpace(r.stdout))

		require.NoError(t, again.cmd.Process.Signal(syscall.SIGINT))
		assert.Equal(t, exitInterrupted, again.wait(t, 30*time.Second))

		r = e.run("token", "pc")
		require.Equal(t, exitOK, r.code, "an interrupted login --force leaves the old login working")
		assert.Equal(t, old.AccessToken, strings.TrimSpace(r.stdout))
		require.NotNil(t, e.loaded("pc").Token)
		assert.Equal(t, old.RefreshToken, e.loaded("pc").Token.RefreshToken)
		assert.NoError(t, refreshWith(t, as, old.RefreshToken), "the old refresh token was not revoked")
	})

	t.Run("completed", func(t *testing.T) {
		e.t = t
		// The refresh above rotated nothing in the cache; seed a fresh login.
		old := loginOnce(t, as)
		e.seed("pc", tokenState(old, false))
		again := e.start("login", "--force", "--no-browser", "pc")
		start := again.await(t, startURLLine, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		status, err := as.BrowseAuthorization(ctx, redirectOf(t, start))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status)
		require.Equal(t, exitOK, again.wait(t, 30*time.Second))
		assert.Contains(t, again.stderrText(), "Revoked the replaced refresh token")
		assert.NotContains(t, again.stderrText(), old.RefreshToken)

		st := e.loaded("pc")
		require.NotNil(t, st.Token)
		assert.NotEqual(t, old.RefreshToken, st.Token.RefreshToken, "the new login is stored")
		err = refreshWith(t, as, old.RefreshToken)
		require.Error(t, err, "the replaced refresh token was revoked")
		assert.Contains(t, err.Error(), "invalid_grant")
		assert.NoError(t, refreshWith(t, as, st.Token.RefreshToken), "the new login still works")
	})
}
