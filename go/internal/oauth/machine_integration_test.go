//go:build integration

package oauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func newClient(t *testing.T, p config.Provider, logs *syncbuf.Buffer, env map[string]string) *oauth.Client {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := oauth.New(p, oauth.Options{Log: log, Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	return c
}

func machineProvider(as *testenv.AuthServer, flow config.Flow, clientID, secretValue, method string) config.Provider {
	return config.Provider{
		ID: "gw", Issuer: as.Issuer, ClientID: clientID, ClientSecret: secret.New(secretValue),
		ClientAuthMethod: method, Flow: flow, Scopes: []string{"openid"},
		HTTPTimeout: 10 * time.Second, ExpirySkew: 30 * time.Second,
	}
}

// TestMachineGrantsAgainstRealServer runs every machine grant and client
// authentication method against the real authorization server, then uses
// the token at the test gateway, which validates it with the JWKS.
func TestMachineGrantsAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)

	tests := []struct {
		name     string
		provider func() (config.Provider, map[string]string)
		grant    string
	}{
		{"client_credentials basic", func() (config.Provider, map[string]string) {
			return machineProvider(as, config.ClientCredentials, testenv.ClientCCBasic, testenv.ClientCCBasicSecret, config.AuthMethodBasic), nil
		}, "client_credentials"},
		{"client_credentials post", func() (config.Provider, map[string]string) {
			return machineProvider(as, config.ClientCredentials, testenv.ClientCCPost, testenv.ClientCCPostSecret, config.AuthMethodPost), nil
		}, "client_credentials"},
		{"client_credentials auto from discovery", func() (config.Provider, map[string]string) {
			return machineProvider(as, config.ClientCredentials, testenv.ClientCCBasic, testenv.ClientCCBasicSecret, ""), nil
		}, "client_credentials"},
		{"jwt_bearer from env", func() (config.Provider, map[string]string) {
			p := machineProvider(as, config.JWTBearer, testenv.ClientExchange, testenv.ClientExchangeSecret, config.AuthMethodBasic)
			p.SubjectToken = &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"}
			return p, map[string]string{"SUBJECT": as.MintSubjectToken(t, as.Issuer, "ci-job", time.Minute)}
		}, testenv.GrantJWTBearer},
		{"token_exchange from env", func() (config.Provider, map[string]string) {
			p := machineProvider(as, config.TokenExchange, testenv.ClientExchange, testenv.ClientExchangeSecret, config.AuthMethodBasic)
			p.SubjectToken = &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"}
			p.SubjectTokenType = config.DefaultSubjectTokenType
			return p, map[string]string{"SUBJECT": as.MintSubjectToken(t, as.Issuer, "pod", time.Minute)}
		}, testenv.GrantTokenExchange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, as.ResetStats())
			p, env := tc.provider()
			logs := &syncbuf.Buffer{}
			c := newClient(t, p, logs, env)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			require.NoError(t, err)
			assert.False(t, tok.AccessToken.IsZero())
			assert.False(t, tok.ExpiresAt.IsZero())

			stats, err := as.Stats()
			require.NoError(t, err)
			assert.Equal(t, 1, stats[tc.grant], "one %s request at the server", tc.grant)

			req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/v1/models", nil)
			require.NoError(t, err)
			req.Header.Set(p.HeaderName(), p.HeaderValue(tok.TokenType, tok.AccessToken.Reveal()))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "the gateway accepts the token")

			assert.NotContains(t, logs.String(), tok.AccessToken.Reveal())
			assert.NotContains(t, logs.String(), p.ClientSecret.Reveal())
			for _, v := range env {
				assert.NotContains(t, logs.String(), v)
			}
		})
	}
}

func TestMachineGrantFailuresAreClassified(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	const canary = "wrong-secret-canary-8d1f"

	t.Run("wrong secret is invalid_client", func(t *testing.T) {
		logs := &syncbuf.Buffer{}
		c := newClient(t, machineProvider(as, config.ClientCredentials, testenv.ClientCCBasic, canary, config.AuthMethodBasic), logs, nil)
		_, err := c.Acquire(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, tokens.ErrInvalidClient)
		assert.Contains(t, err.Error(), `provider "gw"`)
		assert.Contains(t, err.Error(), "invalid_client")
		assert.NotContains(t, err.Error(), canary)
		assert.NotContains(t, logs.String(), canary)
	})
	t.Run("missing subject token names the source", func(t *testing.T) {
		p := machineProvider(as, config.JWTBearer, testenv.ClientExchange, testenv.ClientExchangeSecret, config.AuthMethodBasic)
		p.SubjectToken = &config.SubjectTokenSource{Type: config.SourceFile, Path: "/nonexistent/token"}
		_, err := newClient(t, p, &syncbuf.Buffer{}, nil).Acquire(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "subjectTokenSource (file)")
		assert.Contains(t, err.Error(), "/nonexistent/token")
	})
	t.Run("assertion from a foreign issuer is invalid_grant", func(t *testing.T) {
		p := machineProvider(as, config.JWTBearer, testenv.ClientExchange, testenv.ClientExchangeSecret, config.AuthMethodBasic)
		p.SubjectToken = &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"}
		_, err := newClient(t, p, &syncbuf.Buffer{}, map[string]string{"SUBJECT": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.x"}).Acquire(context.Background())
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "eyJhbGciOiJub25lIn0")
	})
}

// TestTransportFailures uses hand-made servers for what a real server will
// not do on request: refuse connections, answer 500 or HTML, stall, or
// redirect the token request.
func TestTransportFailures(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		timeout   time.Duration
		transient bool
		contains  string
	}{
		{"500 with HTML", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			_, _ = w.Write([]byte("<html>oops</html>"))
		}, 5 * time.Second, true, "HTTP 500"},
		{"503 JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable"}`))
		}, 5 * time.Second, true, "temporarily_unavailable"},
		{"slow server hits the deadline", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 300 * time.Millisecond, true, "token request failed"},
		{"2xx that is not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("<html>"))
		}, 5 * time.Second, false, "token request failed"},
		{"2xx without access_token", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":"3600"}`))
		}, 5 * time.Second, false, "access_token"},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, 5 * time.Second, false, "redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			p := config.Provider{ID: "gw", Issuer: srv.URL, ClientID: "c", ClientSecret: secret.New("s"), Flow: config.ClientCredentials,
				Endpoints: config.Endpoints{Token: srv.URL + "/token"}, HTTPTimeout: tc.timeout}
			_, err := newClient(t, p, &syncbuf.Buffer{}, nil).Acquire(context.Background())
			require.Error(t, err)
			assert.Equal(t, tc.transient, isTransient(err), "transient classification of %v", err)
			assert.Contains(t, err.Error(), tc.contains)
		})
	}
	t.Run("unreachable server is transient", func(t *testing.T) {
		p := config.Provider{ID: "gw", Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: secret.New("s"), Flow: config.ClientCredentials,
			Endpoints: config.Endpoints{Token: "http://127.0.0.1:1/token"}, HTTPTimeout: 2 * time.Second}
		_, err := newClient(t, p, &syncbuf.Buffer{}, nil).Acquire(context.Background())
		require.Error(t, err)
		assert.True(t, isTransient(err))
	})
}

func isTransient(err error) bool { return errorsIs(err, tokens.ErrTransient) }

// TestExpiryAndSingleFlightWithRealServer: 5 s tokens are re-acquired
// after expiry, and 200 concurrent callers on an expired token cause one
// token request.
func TestExpiryAndSingleFlightWithRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AccessTokenTTL: 5 * time.Second})
	p := machineProvider(as, config.ClientCredentials, testenv.ClientCCBasic, testenv.ClientCCBasicSecret, config.AuthMethodBasic)
	c := newClient(t, p, &syncbuf.Buffer{}, nil)
	st, err := store.Open(t.TempDir(), logging.Discard())
	require.NoError(t, err)
	m := tokens.NewManager(tokens.Options{ProviderID: p.ID, Grant: c, Entry: st.Entry(p.ID, p.CacheKey()), Policy: tokens.Policy{Skew: 30 * time.Second}, Log: logging.Discard()})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, as.ResetStats())
	first, err := m.Token(ctx, tokens.NoLogin)
	require.NoError(t, err)
	// A 30 s skew on a 5 s token must not force a new token on every call.
	again, err := m.Token(ctx, tokens.NoLogin)
	require.NoError(t, err)
	assert.True(t, first.AccessToken.Equal(again.AccessToken))

	time.Sleep(time.Until(first.ExpiresAt) + 100*time.Millisecond)
	var wg sync.WaitGroup
	got := make([]tokens.Token, 200)
	errs := make([]error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = m.Token(ctx, tokens.NoLogin)
		}()
	}
	wg.Wait()
	for i := range 200 {
		require.NoError(t, errs[i])
		assert.False(t, got[i].AccessToken.Equal(first.AccessToken), "caller %d got the expired token", i)
		assert.True(t, got[i].AccessToken.Equal(got[0].AccessToken))
	}
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Equal(t, 2, stats["client_credentials"], "one request for the first token, one for all 200 callers after expiry")
}

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	const canary = "canary-subject-0b5e"
	logs := &syncbuf.Buffer{}
	p := machineProvider(as, config.TokenExchange, testenv.ClientExchange, "canary-secret-77aa", config.AuthMethodPost)
	p.SubjectToken = &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"}
	_, err := newClient(t, p, logs, map[string]string{"SUBJECT": canary}).Acquire(context.Background())
	require.Error(t, err)
	for _, s := range []string{canary, "canary-secret-77aa"} {
		assert.NotContains(t, err.Error(), s)
		assert.NotContains(t, fmt.Sprintf("%+v", err), s)
		assert.NotContains(t, logs.String(), s)
	}
	assert.False(t, strings.Contains(logs.String(), "Basic "), "no Authorization header value in logs")
}
