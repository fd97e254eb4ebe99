package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Canaries of the token response tests: a value sent in the request (the
// code, device code or refresh token) and the client secret, which no
// error may repeat.
const (
	respCanary       = "canary-sent-value-6b1f2"
	respSecretCanary = "canary-client-secret-0a9e"
)

// canned answers every request with one fixed response, with no network:
// the fuzzer runs the real x/oauth2 parsing and our conversion of it.
type canned struct {
	status int
	ctype  string
	body   []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {c.ctype}},
		Body:    io.NopCloser(bytes.NewReader(c.body)),
		Request: r, ContentLength: int64(len(c.body)),
	}, nil
}

// respClient is a client_credentials client whose transport answers with c.
func respClient(t testing.TB, c canned) *Client {
	t.Helper()
	p := config.Provider{
		ID: "acme", Issuer: "https://idp.test", ClientID: "cli", ClientSecret: secret.New(respSecretCanary),
		ClientAuthMethod: config.AuthMethodPost, Flow: config.ClientCredentials,
		Endpoints: config.Endpoints{Token: tokenEndpoint}, HTTPTimeout: 5 * time.Second,
	}
	hc, err := NewHTTPClient(p)
	require.NoError(t, err)
	hc.Transport = c
	cl, err := New(p, Options{Log: discardLogger(), HTTPClient: hc})
	require.NoError(t, err)
	return cl
}

// checkOutcome holds for any answer of a token endpoint, on every grant:
// a token xor an error; a token has a non-blank access token that is safe
// in a header and a lifetime in [0, maxLifetime] counted from its receipt;
// an error is one line of valid UTF-8 of bounded length that repeats none
// of the values sent (sent) nor the client secret.
func checkOutcome(t *testing.T, status int, tok tokens.Token, err error, sent ...string) {
	t.Helper()
	if err == nil {
		if strings.TrimSpace(tok.AccessToken.Reveal()) == "" {
			t.Fatalf("no error and no access token")
		}
		if status < 200 || status > 299 {
			t.Fatalf("a token from an HTTP %d answer", status)
		}
		if msg := checkTokenText(tok.AccessToken.Reveal(), tok.TokenType); msg != "" {
			t.Fatalf("accepted a token that is unsafe in a header: %s", msg)
		}
		if !tok.ExpiresAt.IsZero() {
			if life := tok.ExpiresAt.Sub(tok.ObtainedAt); life <= 0 || life > maxLifetime {
				t.Fatalf("lifetime %v out of bounds", life)
			}
		}
		return
	}
	if !tok.AccessToken.IsZero() {
		t.Fatalf("an error with a token: %v", err)
	}
	msg := err.Error()
	switch {
	case strings.ContainsAny(msg, "\n\r\x00"):
		t.Fatalf("error is not one line: %q", msg)
	case !utf8.ValidString(msg):
		t.Fatalf("error is not valid UTF-8: %q", msg)
	case len(msg) > 2000:
		t.Fatalf("error of %d bytes", len(msg))
	case strings.Contains(msg, respSecretCanary):
		t.Fatalf("error repeats the client secret: %q", msg)
	}
	for _, v := range sent {
		if strings.Contains(msg, v) {
			t.Fatalf("error repeats a value sent: %q", msg)
		}
	}
}

// grantPath is one grant's way to the token endpoint.
type grantPath struct {
	name string
	sent []string // secret values the request carries
	run  func(ctx context.Context, c *Client) (tokens.Token, error)
}

// grantPaths are every grant that asks the token endpoint for a token.
// The authorization code and device code ones call tokenRequest as
// authorizationCode and pollDevice do, without the login around them.
func grantPaths() []grantPath {
	meta := &Metadata{TokenEndpoint: tokenEndpoint}
	return []grantPath{
		{"client_credentials", nil, func(ctx context.Context, c *Client) (tokens.Token, error) { return c.Acquire(ctx) }},
		{"refresh", []string{respCanary}, func(ctx context.Context, c *Client) (tokens.Token, error) {
			return c.Refresh(ctx, tokensWithRefresh(respCanary))
		}},
		{"authorization code exchange", []string{respCanary}, func(ctx context.Context, c *Client) (tokens.Token, error) {
			return c.tokenRequest(ctx, "authorization code exchange", meta, url.Values{"grant_type": {"authorization_code"},
				"code": {respCanary}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "code_verifier": {"verifier-" + respCanary}})
		}},
		{"device_code poll", []string{respCanary}, func(ctx context.Context, c *Client) (tokens.Token, error) {
			return c.tokenRequest(ctx, "device_code token request", meta, url.Values{"grant_type": {GrantDeviceCode}, "device_code": {respCanary}})
		}},
	}
}

// hasErrorCode reports whether body is a JSON object with an "error" string.
func hasErrorCode(body []byte) bool {
	var p struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &p) == nil && p.Error != ""
}

// FuzzTokenResponse feeds arbitrary token endpoint answers (status,
// content type, body) to every grant (grantPaths): all go through
// x/oauth2 and our conversion of its token or error. None may panic;
// checkOutcome must hold; every grant comes to the same outcome; a 429/5xx
// without an OAuth error code is classified transient (retry later, no
// login).
func FuzzTokenResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		form   bool
		body   string
	}{
		{200, false, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","scope":"openid"}`},
		{200, false, `{"access_token":"at","expires_in":"3600"}`},
		{200, false, `{"access_token":"at","expires_in":3600.9,"scope":["a","b"]}`},
		{200, false, `{"access_token":"at","expires_in":-5}`},
		{200, false, `{"access_token":"at","expires_in":1e300}`},
		{200, false, `{"access_token":"a\nb","token_type":"Bearer\r\nX-Evil: 1"}`},
		{200, false, "{\"access_token\":\"\xff\xfe\"}"},
		{200, false, `{"token_type":"Bearer"}`},
		{200, false, `{"error":"authorization_pending"}`},
		{200, false, `<html>`},
		{200, true, `access_token=at&token_type=bearer&expires_in=60`},
		{400, false, `{"error":"invalid_grant","error_description":"code ` + respCanary + ` unknown"}`},
		{401, false, `{"error":"invalid_client","error_description":"secret ` + respSecretCanary + ` is wrong"}`},
		{400, false, `{"error":"invalid_request","error_description":"` + strings.Repeat("x", 190) + respSecretCanary + `"}`},
		{500, false, "<html>\n<body>down</body></html>"},
		{503, false, `{"error":"temporarily_unavailable"}`},
		{429, false, ``},
		{302, false, ``},
		{200, false, `null`},
		{200, false, `[[[[[[[[[[`},
	} {
		f.Add(s.status, s.form, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, form bool, body []byte) {
		if status < 0 {
			status = -(status + 1)
		}
		status = 200 + status%400
		ctype := "application/json"
		if form {
			ctype = "application/x-www-form-urlencoded"
		}
		c := respClient(t, canned{status: status, ctype: ctype, body: body})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var first error
		for i, path := range grantPaths() {
			tok, err := path.run(ctx, c)
			checkOutcome(t, status, tok, err, path.sent...)
			if (status == 429 || status >= 500) && !hasErrorCode(body) && !errors.Is(err, tokens.ErrTransient) {
				t.Fatalf("%s: HTTP %d not classified transient: %v", path.name, status, err)
			}
			if i == 0 {
				first = err
			} else if (err == nil) != (first == nil) || errors.Is(err, tokens.ErrTransient) != errors.Is(first, tokens.ErrTransient) {
				t.Fatalf("%s: outcome %v differs from client_credentials' %v", path.name, err, first)
			}
		}
	})
}

// TestTokenResponseShapes pins what every grant makes of token responses
// with missing fields, expires_in in every shape, header-unsafe values and
// non-JSON bodies: the same for all, since all go through x/oauth2 and
// fromOAuth2. Expiry is always relative to receipt.
func TestTokenResponseShapes(t *testing.T) {
	const none = time.Duration(-1) // no expiry information
	tests := []struct {
		name    string
		status  int
		body    string
		ok      bool
		life    time.Duration // none: ExpiresAt is zero
		errText string
	}{
		{name: "complete", status: 200, body: `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`, ok: true, life: time.Hour},
		{name: "expires_in as a string", status: 200, body: `{"access_token":"at","expires_in":"3600"}`, ok: true, life: time.Hour},
		{name: "expires_in missing", status: 200, body: `{"access_token":"at"}`, ok: true, life: none},
		{name: "expires_in null", status: 200, body: `{"access_token":"at","expires_in":null}`, ok: true, life: none},
		{name: "expires_in zero", status: 200, body: `{"access_token":"at","expires_in":0}`, ok: true, life: none},
		{name: "expires_in negative", status: 200, body: `{"access_token":"at","expires_in":-60}`, ok: true, life: none},
		{name: "expires_in beyond ten years", status: 200, body: `{"access_token":"at","expires_in":9999999999}`, ok: true, life: none},
		{name: "expires_in in a form answer", status: 200, body: `access_token=at&expires_in=60`, ok: true, life: time.Minute},
		{name: "expires_in garbage string", status: 200, body: `{"access_token":"at","expires_in":"soon"}`, errText: "cannot parse json"},
		{name: "expires_in fractional", status: 200, body: `{"access_token":"at","expires_in":60.5}`, errText: "cannot parse json"},
		{name: "expires_in absurdly large", status: 200, body: `{"access_token":"at","expires_in":1e300}`, errText: "cannot parse json"},
		{name: "expires_in an object", status: 200, body: `{"access_token":"at","expires_in":{"s":1}}`, errText: "cannot parse json"},
		{name: "access_token missing", status: 200, body: `{"token_type":"Bearer","expires_in":60}`, errText: "missing access_token"},
		{name: "access_token blank", status: 200, body: `{"access_token":"  "}`, errText: "empty access_token"},
		{name: "access_token a number", status: 200, body: `{"access_token":42}`, errText: "cannot parse json"},
		{name: "access_token with a line break", status: 200, body: `{"access_token":"a\r\nX-Evil: 1"}`, errText: "outside printable ASCII"},
		{name: "access_token not UTF-8", status: 200, body: "{\"access_token\":\"\xff\xfe\"}", errText: "outside printable ASCII"},
		{name: "token_type with a line break", status: 200, body: `{"access_token":"at","token_type":"Bearer\nX-Evil: 1"}`, errText: "not a token type name"},
		{name: "error with HTTP 200", status: 200, body: `{"error":"slow_down"}`, errText: "slow_down"},
		{name: "HTML with HTTP 200", status: 200, body: `<html><body>Sign in</body></html>`, errText: "cannot parse json"},
		{name: "JSON null", status: 200, body: `null`, errText: "missing access_token"},
		{name: "nested 100k deep", status: 200, body: strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000), errText: "cannot parse json"},
		{name: "HTML with HTTP 500", status: 500, body: "<html>\n<h1>Internal error</h1></html>", errText: "HTTP 500"},
		{name: "a sent value and the secret echoed, long enough to be cut", status: 400,
			body:    `{"error":"invalid_request","error_description":"` + strings.Repeat("x", 170) + respCanary + " " + respSecretCanary + `"}`,
			errText: "invalid_request (HTTP 400)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctype := "application/json"
			if strings.HasPrefix(tc.body, "access_token=") {
				ctype = "application/x-www-form-urlencoded"
			}
			c := respClient(t, canned{status: tc.status, ctype: ctype, body: []byte(tc.body)})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, path := range grantPaths() {
				before := time.Now()
				tok, err := path.run(ctx, c)
				after := time.Now()
				checkOutcome(t, tc.status, tok, err, path.sent...)
				if !tc.ok {
					require.Error(t, err, path.name)
					assert.Contains(t, err.Error(), tc.errText, path.name)
					continue
				}
				require.NoError(t, err, path.name)
				assert.False(t, tok.ObtainedAt.Before(before) || tok.ObtainedAt.After(after), "%s: obtained at receipt", path.name)
				if tc.life == none {
					assert.True(t, tok.ExpiresAt.IsZero(), "%s: no expiry, got %v", path.name, tok.ExpiresAt)
				} else {
					assert.Equal(t, tc.life, tok.ExpiresAt.Sub(tok.ObtainedAt), path.name)
				}
			}
		})
	}
}
