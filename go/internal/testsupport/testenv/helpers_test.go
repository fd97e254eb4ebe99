//go:build integration

package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

// testCtx is a per-test deadline: nothing in these tests may hang.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type clientAuth struct {
	id, secret string
	post       bool // client_secret_post instead of client_secret_basic
}

// postForm sends form to endpoint with the client's authentication and returns the
// status and the decoded JSON body.
func postForm(t *testing.T, endpoint string, auth clientAuth, form url.Values) (int, map[string]any) {
	t.Helper()
	form = cloneValues(form)
	switch {
	case auth.secret == "":
		form.Set("client_id", auth.id)
	case auth.post:
		form.Set("client_id", auth.id)
		form.Set("client_secret", auth.secret)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth.secret != "" && !auth.post {
		req.SetBasicAuth(url.QueryEscape(auth.id), url.QueryEscape(auth.secret))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]any{}
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), "body: %s", b)
	}
	return resp.StatusCode, out
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	require.True(t, ok, "%q missing or not a string in %v", key, m)
	return s
}

// gatewayCall sends an authenticated request to the gateway and returns status and body.
func gatewayCall(t *testing.T, gw *Gateway, method, path, token, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, gw.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// chat asks the gateway for a non-streamed answer and returns its text.
func chat(t *testing.T, gw *Gateway, token string) (int, string) {
	t.Helper()
	status, body := gatewayCall(t, gw, http.MethodPost, "/v1/chat/completions", token,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`)
	if status != http.StatusOK {
		return status, body
	}
	var c struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &c))
	require.Len(t, c.Choices, 1)
	return status, c.Choices[0].Message.Content
}

// unverifiedClaims decodes a JWT payload without checking it (the gateway checks).
func unverifiedClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	require.NoError(t, err)
	out := map[string]any{}
	require.NoError(t, tok.UnsafeClaimsWithoutVerification(&out))
	return out
}

func pkcePair(t *testing.T) (verifier, challenge string) {
	t.Helper()
	var b [32]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(t *testing.T) string {
	t.Helper()
	var b [12]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tamper flips the subject in a JWT's payload while keeping the signature.
func tamper(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	claims["sub"] = "mallory"
	payload, err = json.Marshal(claims)
	require.NoError(t, err)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}
