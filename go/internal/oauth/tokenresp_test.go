package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
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
// device code) and the client secret, which no error may repeat.
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

// checkOutcome holds for any answer of a token endpoint: a token xor an
// error; a token has a non-blank access token and a lifetime in
// [0, maxLifetime] counted from its receipt; an error is one line of valid
// UTF-8 of bounded length that repeats neither a sent value nor the client
// secret. strict: our own parser, which also refuses header-unsafe tokens.
func checkOutcome(t *testing.T, status int, tok tokens.Token, err error, strict bool) {
	t.Helper()
	if err == nil {
		if tok.AccessToken.IsZero() || (strict && strings.TrimSpace(tok.AccessToken.Reveal()) == "") {
			t.Fatalf("no error and no access token")
		}
		if status < 200 || status > 299 {
			t.Fatalf("a token from an HTTP %d answer", status)
		}
		if strict {
			if msg := checkTokenText(tok.AccessToken.Reveal(), tok.TokenType); msg != "" {
				t.Fatalf("accepted a token that is unsafe in a header: %s", msg)
			}
		}
		if !tok.ExpiresAt.IsZero() {
			life := tok.ExpiresAt.Sub(tok.ObtainedAt)
			// Not strict: x/oauth2 turns a negative expires_in into an
			// expiry in the past (see TestTokenResponseShapes).
			if (strict && life < 0) || life > maxLifetime+time.Second {
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
	case strict && (strings.Contains(msg, respCanary) || strings.Contains(msg, respSecretCanary)):
		t.Fatalf("error repeats a secret: %q", msg)
	}
}

// hasErrorCode reports whether body is a JSON object with an "error" string.
func hasErrorCode(body []byte) bool {
	var p struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &p) == nil && p.Error != ""
}

// FuzzTokenResponse feeds arbitrary token endpoint answers (status, content
// type, body) to both parsing paths: our parser (authorization code and
// device grants: tokenAnswer) and x/oauth2's with our conversion (machine
// grants and refresh: Acquire through a canned transport). Neither may
// panic; checkOutcome must hold; a 429/5xx without an OAuth error code is
// classified transient (retry later, no login).
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
		if len(body) > maxTokenResponse {
			return // postForm refuses it before any parsing
		}
		ctype := "application/json"
		if form {
			ctype = "application/x-www-form-urlencoded"
		}
		c := respClient(t, canned{status: status, ctype: ctype, body: body})

		tok, err := c.tokenAnswer("token request", status, body, secret.New(respCanary))
		checkOutcome(t, status, tok, err, true)
		if (status == 429 || status >= 500) && !hasErrorCode(body) && !errors.Is(err, tokens.ErrTransient) {
			t.Fatalf("HTTP %d not classified transient: %v", status, err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tok, err = c.Acquire(ctx)
		checkOutcome(t, status, tok, err, false)
		if (status == 429 || status >= 500) && !hasErrorCode(body) && !errors.Is(err, tokens.ErrTransient) {
			t.Fatalf("HTTP %d not classified transient by the x/oauth2 path: %v", status, err)
		}
	})
}

// TestTokenResponseShapes pins what both parsing paths make of token
// responses with missing fields, expires_in in every shape, header-unsafe
// values and non-JSON bodies. Expiry is always relative to receipt.
func TestTokenResponseShapes(t *testing.T) {
	const none = time.Duration(-1) // no expiry information
	type want struct {
		ok      bool
		life    time.Duration // none: ExpiresAt is zero
		errText string
	}
	tests := []struct {
		name   string
		status int
		body   string
		ours   want // tokenAnswer: authorization code and device grants
		x      want // x/oauth2 + fromOAuth2: machine grants and refresh
	}{
		{"complete", 200, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`,
			want{ok: true, life: time.Hour}, want{ok: true, life: time.Hour}},
		{"expires_in as a string", 200, `{"access_token":"at","expires_in":"3600"}`,
			want{ok: true, life: time.Hour}, want{ok: true, life: time.Hour}},
		{"expires_in missing", 200, `{"access_token":"at"}`, want{ok: true, life: none}, want{ok: true, life: none}},
		{"expires_in null", 200, `{"access_token":"at","expires_in":null}`, want{ok: true, life: none}, want{ok: true, life: none}},
		{"expires_in zero", 200, `{"access_token":"at","expires_in":0}`, want{ok: true, life: none}, want{ok: true, life: none}},
		{"expires_in negative", 200, `{"access_token":"at","expires_in":-60}`, want{ok: true, life: none}, want{ok: true, life: none}},
		{"expires_in garbage string", 200, `{"access_token":"at","expires_in":"soon"}`,
			want{ok: true, life: none}, want{errText: "cannot parse json"}},
		{"expires_in fractional", 200, `{"access_token":"at","expires_in":60.5}`,
			want{ok: true, life: time.Minute}, want{errText: "cannot parse json"}},
		{"expires_in absurdly large", 200, `{"access_token":"at","expires_in":1e300}`,
			want{ok: true, life: none}, want{errText: "cannot parse json"}},
		{"expires_in an object", 200, `{"access_token":"at","expires_in":{"s":1}}`,
			want{ok: true, life: none}, want{errText: "cannot parse json"}},
		{"access_token missing", 200, `{"token_type":"Bearer","expires_in":60}`,
			want{errText: "no access_token"}, want{errText: "missing access_token"}},
		{"access_token blank", 200, `{"access_token":"  "}`, want{errText: "no access_token"}, want{errText: "empty access_token"}},
		{"access_token a number", 200, `{"access_token":42}`, want{errText: "not a JSON token response"}, want{errText: "cannot parse json"}},
		{"access_token with a line break", 200, `{"access_token":"a\r\nX-Evil: 1"}`,
			want{errText: "outside printable ASCII"}, want{errText: "outside printable ASCII"}},
		{"access_token not UTF-8", 200, "{\"access_token\":\"\xff\xfe\"}", want{errText: "outside printable ASCII"}, want{errText: "outside printable ASCII"}},
		{"token_type with a line break", 200, `{"access_token":"at","token_type":"Bearer\nX-Evil: 1"}`,
			want{errText: "not a token type name"}, want{errText: "not a token type name"}},
		{"error with HTTP 200", 200, `{"error":"slow_down"}`, want{errText: "slow_down"}, want{errText: "slow_down"}},
		{"HTML with HTTP 200", 200, `<html><body>Sign in</body></html>`, want{errText: "not a JSON token response"}, want{errText: "cannot parse json"}},
		{"JSON null", 200, `null`, want{errText: "no access_token"}, want{errText: "missing access_token"}},
		{"nested 100k deep", 200, strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
			want{errText: "not a JSON token response"}, want{errText: "cannot parse json"}},
		{"HTML with HTTP 500", 500, "<html>\n<h1>Internal error</h1></html>", want{errText: "HTTP 500"}, want{errText: "HTTP 500"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := respClient(t, canned{status: tc.status, ctype: "application/json", body: []byte(tc.body)})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, path := range []struct {
				name string
				want want
				run  func() (tokens.Token, error)
			}{
				{"ours", tc.ours, func() (tokens.Token, error) { return c.tokenAnswer("token request", tc.status, []byte(tc.body)) }},
				{"x/oauth2", tc.x, func() (tokens.Token, error) { return c.Acquire(ctx) }},
			} {
				before := time.Now()
				tok, err := path.run()
				after := time.Now()
				checkOutcome(t, tc.status, tok, err, true)
				if !path.want.ok {
					require.Error(t, err, path.name)
					assert.Contains(t, err.Error(), path.want.errText, path.name)
					continue
				}
				require.NoError(t, err, path.name)
				assert.False(t, tok.ObtainedAt.Before(before) || tok.ObtainedAt.After(after), "%s: obtained at receipt", path.name)
				switch life := tok.ExpiresAt.Sub(tok.ObtainedAt); {
				case path.want.life == none:
					assert.True(t, tok.ExpiresAt.IsZero(), "%s: no expiry, got %v", path.name, tok.ExpiresAt)
				case path.name == "ours":
					assert.Equal(t, path.want.life, life, path.name)
				default:
					// x/oauth2 adds expires_in to its own time.Now() on receipt,
					// a moment before fromOAuth2 records ObtainedAt.
					assert.True(t, life <= path.want.life && life > path.want.life-time.Second, "%s: lifetime %v, want %v", path.name, life, path.want.life)
				}
			}
		})
	}
}
