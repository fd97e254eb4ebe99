package oauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Secrets that the redaction heuristics do not recognise (no random-looking
// run, no credential-like key before them): only masking the values a
// request carried can keep them out.
const (
	echoClientSecret = "zebra-canary-client-secret-do-not-print"
	echoRefreshToken = "refresh-token-of-the-zebra-canary-kind"
	echoRevokeToken  = "revocable-zebra-canary-token-value"
)

// echoAtCut is an error answer whose error_description ends with v placed
// across the 200-character bound of descriptions: cutting before masking
// leaves v's first characters in the text.
func echoAtCut(v string) string {
	return `{"error":"invalid_request","error_description":"` + strings.Repeat("x", 186) + " " + v + `"}`
}

// assertNoSecretPrefix checks that no secret, nor its first 10
// characters, appears in any of the texts.
func assertNoSecretPrefix(t *testing.T, secrets []string, texts map[string]string) {
	t.Helper()
	for where, text := range texts {
		for _, s := range secrets {
			assert.NotContains(t, text, s[:10], "%s shows (the start of) the secret %q", where, s)
		}
	}
}

// echoServer answers every request with the error body made by answer
// from the request's form (basic credentials merged in as client_secret),
// and counts the requests.
func echoServer(t *testing.T, answer func(form url.Values) string) (string, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		if _, pass, ok := r.BasicAuth(); ok {
			p, _ := url.QueryUnescape(pass)
			form.Set("client_secret", p)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, answer(form))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &requests
}

// TestSecretsEchoedByTheServerAreMaskedBeforeTruncation: a server that
// echoes a secret of the request in its error_description, at the point
// where the description is cut, gets none of it into the error, its
// formatting or the log, on every request path: client_credentials,
// refresh (the refresh token, too), revocation (the revoked token, too),
// each with the secret in the body or in HTTP Basic. Each failure is one
// request.
func TestSecretsEchoedByTheServerAreMaskedBeforeTruncation(t *testing.T) {
	calls := []struct {
		name    string
		param   string // the request parameter the server echoes
		secrets []string
		call    func(ctx context.Context, c *Client) error
	}{
		{"client_credentials", "client_secret", []string{echoClientSecret}, func(ctx context.Context, c *Client) error {
			_, err := c.Acquire(ctx)
			return err
		}},
		{"refresh echoing the refresh token", "refresh_token", []string{echoRefreshToken}, func(ctx context.Context, c *Client) error {
			_, err := c.Refresh(ctx, tokensWithRefresh(echoRefreshToken))
			return err
		}},
		{"refresh echoing the client secret", "client_secret", []string{echoClientSecret}, func(ctx context.Context, c *Client) error {
			_, err := c.Refresh(ctx, tokensWithRefresh(echoRefreshToken))
			return err
		}},
		{"revocation echoing the token", "token", []string{echoRevokeToken}, func(ctx context.Context, c *Client) error {
			return c.Revoke(ctx, secret.New(echoRevokeToken), HintRefreshToken)
		}},
		{"revocation echoing the client secret", "client_secret", []string{echoClientSecret}, func(ctx context.Context, c *Client) error {
			return c.Revoke(ctx, secret.New(echoRevokeToken), HintRefreshToken)
		}},
	}
	for _, call := range calls {
		for _, method := range []string{config.AuthMethodPost, config.AuthMethodBasic} {
			t.Run(call.name+"/"+method, func(t *testing.T) {
				base, requests := echoServer(t, func(form url.Values) string { return echoAtCut(form.Get(call.param)) })
				log, logs := debugLogger()
				c, err := New(config.Provider{ID: "acme", Issuer: base, ClientID: "cli", ClientSecret: secret.New(echoClientSecret),
					ClientAuthMethod: method, Flow: config.ClientCredentials, HTTPTimeout: 5 * time.Second,
					Endpoints: config.Endpoints{Token: base + "/token", Revocation: base + "/revoke"}}, Options{Log: log})
				require.NoError(t, err)
				err = call.call(testCtx(t), c)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "invalid_request (HTTP 400)")
				assert.Equal(t, int32(1), requests.Load(), "one request: a failed one is not sent again another way (x/oauth2's auth style probing)")
				assertNoSecretPrefix(t, call.secrets, map[string]string{
					"the error": err.Error(), "the error's formatting": fmt.Sprintf("%+v %#v", err, err), "the log": logs.String(),
				})
			})
		}
	}
}

// TestSecretsEchoedInALoginAreMaskedBeforeTruncation: the same for the
// interactive logins, whose errors also reach the browser's result page
// and the prompts: the authorization code exchange (code, client secret,
// PKCE verifier) and the device flow (client secret at the device
// authorization endpoint, device code while polling).
func TestSecretsEchoedInALoginAreMaskedBeforeTruncation(t *testing.T) {
	for _, echo := range []string{"code", "client_secret", "code_verifier"} {
		t.Run("authorization code exchange echoing "+echo, func(t *testing.T) {
			as := newFakeAS(t)
			p := as.provider()
			p.ClientSecret, p.ClientAuthMethod = secret.New(echoClientSecret), config.AuthMethodPost
			as.tokenError = &tokenErr{status: 400, body: echoAtCut(map[string]string{
				"code": canaryCode, "client_secret": echoClientSecret, "code_verifier": "{verifier}"}[echo])}
			u := newFakeUser(t, as, step{query: good})
			env := newCodeClient(t, p, u.open, nil)
			_, err := env.client.Acquire(testCtx(t))
			u.wait(t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "invalid_request (HTTP 400)")
			require.Len(t, u.pages, 1)
			assert.Contains(t, u.pages[0], "invalid_request", "the page shows the error")
			verifier := as.tokenForms[0].Get("code_verifier")
			assertNoSecretPrefix(t, []string{canaryCode, echoClientSecret, verifier}, map[string]string{
				"the error": fmt.Sprintf("%v %+v", err, err), "the log": env.logs.String(), "stderr": env.stderr.String(),
				"the browser page": u.pages[0], "the prompts": fmt.Sprintf("%+v", env.prompts),
			})
		})
	}
	t.Run("device authorization echoing the client secret", func(t *testing.T) {
		p := deviceProvider()
		p.ClientSecret, p.ClientAuthMethod = secret.New(echoClientSecret), config.AuthMethodPost
		env := newDeviceEnv(t, p, deviceBody)
		env.script.device = reply{status: 400, body: echoAtCut(echoClientSecret)}
		_, err := env.client.Acquire(testCtx(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "invalid_request (HTTP 400)")
		assertNoSecretPrefix(t, []string{echoClientSecret}, map[string]string{
			"the error": fmt.Sprintf("%v %+v", err, err), "the log": env.logs.String(), "stderr": env.stderr.String(),
		})
	})
	t.Run("device polling echoing the device code", func(t *testing.T) {
		p := deviceProvider()
		p.ClientSecret, p.ClientAuthMethod = secret.New(echoClientSecret), config.AuthMethodPost
		env := newDeviceEnv(t, p, deviceBody, reply{status: 400, body: echoAtCut(canaryDevice)})
		_, err := env.client.Acquire(testCtx(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "invalid_request (HTTP 400)")
		assertNoSecretPrefix(t, []string{canaryDevice, echoClientSecret}, map[string]string{
			"the error": fmt.Sprintf("%v %+v", err, err), "the log": env.logs.String(), "stderr": env.stderr.String(),
			"the prompts": fmt.Sprintf("%+v", env.prompts),
		})
	})
}
