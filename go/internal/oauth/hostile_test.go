package oauth

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// This file is the authorization server as an adversary, or merely broken:
// huge and deeply nested documents, a clock far off, a certificate from a
// private CA, a proxy in between, redirects, and discovery documents that
// try to move the endpoints elsewhere.

// memoryUsed runs fn and returns what the process allocated meanwhile.
func memoryUsed(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hugeBody streams size bytes: prefix, then filler, from one small chunk
// (the server side allocates nothing near size).
func hugeBody(w http.ResponseWriter, prefix string, size int, withLength bool) {
	if withLength {
		w.Header().Set("Content-Length", fmt.Sprint(size))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, prefix)
	chunk := []byte(strings.Repeat("a", 64<<10))
	for sent := len(prefix); sent < size; sent += len(chunk) {
		n := min(len(chunk), size-sent)
		if _, err := w.Write(chunk[:n]); err != nil {
			return // the client stopped reading: what we want
		}
	}
}

// TestHugeAndDeepDocumentsAreRefused: every document an authorization
// server sends (discovery, token response on both parsing paths, JWKS) is
// read with a bound: 50 MB bodies, with or without Content-Length, and
// 100,000-deep nesting end in a clean error, with the memory used bounded
// far below the body's size. Model lists: models.TestHostileModelLists.
func TestHugeAndDeepDocumentsAreRefused(t *testing.T) {
	const size = 50 << 20
	const budget = 8 << 20 // bytes allocated while refusing a 50 MB body
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	bodies := []struct {
		name  string
		write func(w http.ResponseWriter)
		want  map[string]string // endpoint → error text
	}{
		{"50 MB with Content-Length", func(w http.ResponseWriter) { hugeBody(w, `{"issuer":"`, size, true) },
			map[string]string{"discovery": "larger than", "code exchange": "cannot parse json", "client_credentials": "cannot parse json", "jwks": "larger than"}},
		{"50 MB chunked", func(w http.ResponseWriter) { hugeBody(w, `{"keys":[`, size, false) },
			map[string]string{"discovery": "larger than", "code exchange": "cannot parse json", "client_credentials": "cannot parse json", "jwks": "larger than"}},
		{"100k-deep nesting", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, deep)
		}, map[string]string{"discovery": "not a JSON metadata document", "code exchange": "cannot parse json",
			"client_credentials": "cannot parse json", "jwks": "failed to decode keys"}},
		{"not UTF-8", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{\"issuer\":\"\xff\xfe\",\"keys\":\"\xc3\x28\",\"access_token\":\"\xff\"}")
		}, map[string]string{"discovery": "says its issuer is", "code exchange": "outside printable ASCII",
			"client_credentials": "outside printable ASCII", "jwks": "failed to decode keys"}},
	}
	endpoints := []struct {
		name string
		call func(c *Client, base string) error
	}{
		{"discovery", func(c *Client, _ string) error { _, err := c.Metadata(testCtx(t)); return err }},
		{"code exchange", func(c *Client, base string) error {
			_, err := c.tokenRequest(testCtx(t), "authorization code exchange", &Metadata{TokenEndpoint: base + "/token"},
				url.Values{"grant_type": {"authorization_code"}, "code": {"c"}})
			return err
		}},
		{"client_credentials", func(c *Client, _ string) error { _, err := c.Acquire(testCtx(t)); return err }},
		{"jwks", func(c *Client, base string) error {
			raw := newSigningKey(t, "k1", jose.ES256, nil).sign(t, map[string]any{"iss": base, "aud": "cli", "sub": "a"})
			_, err := c.verifyIDToken(testCtx(t), &Metadata{Issuer: base, JWKSURI: base + "/jwks"}, secret.New(raw), secret.String{})
			return err
		}},
	}
	for _, b := range bodies {
		for _, ep := range endpoints {
			t.Run(b.name+"/"+ep.name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { b.write(w) }))
				defer srv.Close()
				p := config.Provider{ID: "acme", Issuer: srv.URL, ClientID: "cli", ClientSecret: secret.New("s3cret"),
					Flow: config.ClientCredentials, HTTPTimeout: 20 * time.Second}
				if ep.name != "discovery" {
					p.Endpoints.Token = srv.URL + "/token"
				}
				c, err := New(p, Options{Log: discardLogger()})
				require.NoError(t, err)
				var callErr error
				used := memoryUsed(func() { callErr = ep.call(c, srv.URL) })
				want := b.want[ep.name]
				require.Error(t, callErr)
				assert.Contains(t, callErr.Error(), want)
				assert.NotContains(t, callErr.Error(), "\n")
				assert.Less(t, len(callErr.Error()), 1000, "the error is bounded")
				t.Logf("allocated %d KiB", used>>10)
				assert.Less(t, used, uint64(budget), "bytes allocated for a %d-byte body", size)
			})
		}
	}
}

// TestDiscoveryRefusesWhatItMustRefuse: the discovery document cannot move
// the client to another issuer (mix-up), to plain http off loopback, to
// URLs with credentials or other schemes; a redirect is not followed; only
// a missing document falls back to the RFC 8414 location.
func TestDiscoveryRefusesWhatItMustRefuse(t *testing.T) {
	type doc = map[string]any
	tests := []struct {
		name     string
		insecure bool // allowInsecureHttp
		doc      func(issuer string) doc
		oidc     int // status of the OIDC location (default 200 with doc)
		wantErr  string
		wantTE   string // the token endpoint used, when it succeeds
	}{
		{name: "valid", doc: func(i string) doc { return doc{"issuer": i, "token_endpoint": i + "/token"} }, wantTE: "/token"},
		{name: "issuer of another server (mix-up)", doc: func(i string) doc {
			return doc{"issuer": "https://evil.example.com", "token_endpoint": "https://evil.example.com/token"}
		}, wantErr: `says its issuer is "https://evil.example.com"`},
		{name: "token endpoint over http off loopback", doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": "http://idp.example.com/token"}
		}, wantErr: "discovered token_endpoint: http://idp.example.com/token uses http:// on a non-loopback host"},
		{name: "jwks_uri over http off loopback", doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": i + "/token", "jwks_uri": "http://keys.example.com/jwks"}
		}, wantErr: "discovered jwks_uri: http://keys.example.com/jwks uses http://"},
		{name: "allowInsecureHttp accepts it", insecure: true, doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": "http://idp.example.com/token"}
		}, wantTE: "http://idp.example.com/token"},
		{name: "endpoint with credentials", doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": "https://user:pw@idp.example.com/token"}
		}, wantErr: "carries credentials in the URL"},
		{name: "endpoint with another scheme", doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": "file:///etc/passwd"}
		}, wantErr: "is not an absolute URL"},
		{name: "device endpoint with javascript scheme", doc: func(i string) doc {
			return doc{"issuer": i, "token_endpoint": i + "/token", "device_authorization_endpoint": "javascript://x/%0aalert(1)"}
		}, wantErr: `unsupported scheme "javascript"`},
		{name: "no token endpoint", doc: func(i string) doc { return doc{"issuer": i} }, wantErr: "has no token_endpoint"},
		{name: "OIDC location missing: RFC 8414 location used", oidc: http.StatusNotFound,
			doc: func(i string) doc { return doc{"issuer": i, "token_endpoint": i + "/as-token"} }, wantTE: "/as-token"},
		{name: "OIDC location fails: no fallback, transient", oidc: http.StatusBadGateway,
			doc: func(i string) doc { return doc{"issuer": i, "token_endpoint": i + "/as-token"} }, wantErr: "HTTP 502"},
		{name: "OIDC location redirects: not followed", oidc: http.StatusFound,
			doc: func(i string) doc { return doc{"issuer": i, "token_endpoint": i + "/token"} }, wantErr: "HTTP 302"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var redirectTargetHits atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { redirectTargetHits.Add(1) }))
			defer target.Close()
			var issuer string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/.well-known/openid-configuration" && tc.oidc == http.StatusFound:
					http.Redirect(w, r, target.URL+"/.well-known/openid-configuration", http.StatusFound)
				case r.URL.Path == "/.well-known/openid-configuration" && tc.oidc != 0:
					w.WriteHeader(tc.oidc)
				case strings.HasPrefix(r.URL.Path, "/.well-known/"):
					writeJSON(w, 200, tc.doc(issuer))
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			issuer = srv.URL
			c, err := New(config.Provider{ID: "acme", Issuer: issuer, ClientID: "cli", Flow: config.AuthorizationCode,
				Scopes: []string{"openid"}, AllowInsecureHTTP: tc.insecure, HTTPTimeout: 5 * time.Second}, Options{Log: discardLogger()})
			require.NoError(t, err)
			meta, err := c.Metadata(testCtx(t))
			assert.Zero(t, redirectTargetHits.Load(), "a redirect was followed")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				if tc.oidc == http.StatusBadGateway {
					assert.ErrorIs(t, err, tokens.ErrTransient)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, strings.TrimPrefix(tc.wantTE, "/"), strings.TrimPrefix(strings.TrimPrefix(meta.TokenEndpoint, issuer), "/"))
		})
	}
}

// TestExpiryIsRelativeToReceipt: a token endpoint whose clock (Date
// header) is ten years off in either direction does not change the
// lifetime: ExpiresAt is expires_in after the local moment of receipt, on
// every grant.
func TestExpiryIsRelativeToReceipt(t *testing.T) {
	const lifetime = 900 * time.Second
	for _, skew := range []time.Duration{-10 * 365 * 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
			writeJSON(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "refresh_token": "rt",
				"expires_in": int(lifetime / time.Second)})
		}))
		p := config.Provider{ID: "acme", Issuer: srv.URL, ClientID: "cli", ClientSecret: secret.New("s3cret"),
			Flow: config.ClientCredentials, Endpoints: config.Endpoints{Token: srv.URL + "/token"}, HTTPTimeout: 5 * time.Second}
		c, err := New(p, Options{Log: discardLogger()})
		require.NoError(t, err)
		paths := []struct {
			name string
			run  func() (tokens.Token, error)
		}{
			{"client_credentials", func() (tokens.Token, error) { return c.Acquire(testCtx(t)) }},
			{"refresh", func() (tokens.Token, error) { return c.Refresh(testCtx(t), tokensWithRefresh("rt")) }},
			{"code exchange", func() (tokens.Token, error) {
				return c.tokenRequest(testCtx(t), "authorization code exchange", &Metadata{TokenEndpoint: srv.URL + "/token"},
					url.Values{"grant_type": {"authorization_code"}, "code": {"c"}})
			}},
		}
		for _, path := range paths {
			t.Run(fmt.Sprintf("server clock %+v/%s", skew, path.name), func(t *testing.T) {
				before := time.Now()
				tok, err := path.run()
				after := time.Now()
				require.NoError(t, err)
				assert.False(t, tok.ObtainedAt.Before(before) || tok.ObtainedAt.After(after), "ObtainedAt is the local moment of receipt")
				assert.False(t, tok.ExpiresAt.Before(before.Add(lifetime)) || tok.ExpiresAt.After(after.Add(lifetime)),
					"ExpiresAt %v is expires_in after receipt (%v … %v)", tok.ExpiresAt, before.Add(lifetime), after.Add(lifetime))
				assert.Equal(t, lifetime, tok.ExpiresAt.Sub(tok.ObtainedAt))
			})
		}
		srv.Close()
	}
}

// writeCA writes the certificate of a TLS test server as a PEM file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// TestCAFile: an authorization server with a certificate from a private CA
// is trusted with caFile, and only with it.
func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60})
	}))
	defer srv.Close()
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	tests := []struct {
		name     string
		caFile   string
		wantNew  string // error of New (reading caFile)
		wantCall string // error of the grant
	}{
		{name: "with the CA", caFile: writeCA(t, srv)},
		{name: "without it", wantCall: "certificate"},
		{name: "a file without a certificate", caFile: notPEM, wantNew: "holds no PEM certificate"},
		{name: "a missing file", caFile: filepath.Join(t.TempDir(), "missing.pem"), wantNew: "no such file"},
		{name: "a FIFO nobody writes to", caFile: fifo(t), wantNew: "is not a regular file (a FIFO)"},
		{name: "an endless device", caFile: "/dev/zero", wantNew: "is not a regular file (a character device)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := config.Provider{ID: "acme", Issuer: srv.URL, ClientID: "cli", ClientSecret: secret.New("s3cret"),
				Flow: config.ClientCredentials, Endpoints: config.Endpoints{Token: srv.URL + "/token"},
				CAFile: tc.caFile, HTTPTimeout: 5 * time.Second}
			c, err := New(p, Options{Log: discardLogger()})
			if tc.wantNew != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantNew)
				return
			}
			require.NoError(t, err)
			tok, err := c.Acquire(testCtx(t))
			if tc.wantCall != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantCall)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "at", tok.AccessToken.Reveal())
		})
	}
}

// fifo is a named pipe nobody writes to: reading it would wait forever.
func fifo(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	return p
}

// TestKeyFilesThatNeverEnd: a private key file that is a FIFO or a device
// is refused at once, naming the provider and the field.
func TestKeyFilesThatNeverEnd(t *testing.T) {
	for _, file := range []string{fifo(t), "/dev/zero"} {
		_, err := loadAssertionKey(config.Provider{ID: "acme", ClientAssertionKeyFile: file})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `provider "acme": clientAssertionKeyFile: `+file+" is not a regular file")
	}
}

// connectProxy is an HTTPS proxy on 127.0.0.1: it answers CONNECT by
// tunnelling to upstream whatever host was asked for, and records the hosts.
type connectProxy struct {
	srv      *httptest.Server
	upstream string
	mu       sync.Mutex
	hosts    []string
}

func newConnectProxy(t *testing.T, upstream string) *connectProxy {
	t.Helper()
	p := &connectProxy{upstream: upstream}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Method+" "+r.Host)
		p.mu.Unlock()
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = up.Close()
			return
		}
		_, _ = rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
		_ = rw.Flush()
		go func() { _, _ = io.Copy(up, rw); _ = up.Close() }()
		_, _ = io.Copy(conn, up)
		_ = conn.Close()
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// Environment of the child process of TestProxyFromEnvironment.
const (
	envProxyChild = "OPENCODE_OAUTH2_TEST_PROXY_CHILD"
	envProxyCA    = "OPENCODE_OAUTH2_TEST_PROXY_CA"
)

// TestProxyFromEnvironment: HTTPS_PROXY and NO_PROXY are honoured.
// net/http reads them once per process, so the test runs itself again in a
// child process with them set: there a client_credentials grant for
// https://idp.example.com goes through the CONNECT proxy on 127.0.0.1 (which
// tunnels to a local TLS server; nothing leaves the machine), and a host
// listed in NO_PROXY is not proxied.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv(envProxyChild) == "1" {
		proxyChild(t)
		return
	}
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "idp.example.com" || r.URL.Path != "/token" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "via-proxy", "token_type": "Bearer", "expires_in": 60})
	}))
	defer idp.Close()
	proxy := newConnectProxy(t, idp.Listener.Addr().String())

	env := []string{envProxyChild + "=1", envProxyCA + "=" + writeCA(t, idp),
		"HTTPS_PROXY=" + proxy.srv.URL, "NO_PROXY=direct.example.net"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD":
			continue
		}
		env = append(env, kv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1", "-test.v")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child process:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestProxyFromEnvironment")
	assert.Equal(t, []string{"CONNECT idp.example.com:443"}, proxy.seen(), "only the proxied host went through the proxy")
}

func proxyChild(t *testing.T) {
	p := config.Provider{ID: "acme", Issuer: "https://idp.example.com", ClientID: "cli", ClientSecret: secret.New("s3cret"),
		Flow: config.ClientCredentials, Endpoints: config.Endpoints{Token: "https://idp.example.com/token"},
		CAFile: os.Getenv(envProxyCA), HTTPTimeout: 10 * time.Second}
	c, err := New(p, Options{Log: discardLogger()})
	require.NoError(t, err)
	tok, err := c.Acquire(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "via-proxy", tok.AccessToken.Reveal())

	proxyFor := c.HTTPClient().Transport.(*http.Transport).Proxy
	tests := []struct {
		url       string
		wantProxy bool
	}{
		{"https://idp.example.com/token", true},
		{"https://direct.example.net/token", false},
		{"https://sub.direct.example.net/token", false}, // a NO_PROXY name covers its subdomains
		{"https://notdirect.example.net/token", true},
		{"http://127.0.0.1:8080/token", false},
	}
	for _, tc := range tests {
		req, err := http.NewRequest(http.MethodGet, tc.url, nil)
		require.NoError(t, err)
		u, err := proxyFor(req)
		require.NoError(t, err)
		assert.Equal(t, tc.wantProxy, u != nil, "%s proxied: %v", tc.url, u)
	}
}

// TestRedirectsAreNeverFollowedWithCredentials: a token endpoint that
// redirects (to an attacker, or merely elsewhere) gets its answer treated
// as a failure; the redirect target never receives the client secret, the
// code or anything else. TestTransportFailures covers the x/oauth2 path
// against an unreachable target; here the target is listening.
func TestRedirectsAreNeverFollowedWithCredentials(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/steal", status)
		}))
		for _, method := range []string{config.AuthMethodBasic, config.AuthMethodPost} {
			t.Run(fmt.Sprintf("%d %s", status, method), func(t *testing.T) {
				p := config.Provider{ID: "acme", Issuer: srv.URL, ClientID: "cli", ClientSecret: secret.New("s3cret"), ClientAuthMethod: method,
					Flow: config.ClientCredentials, Endpoints: config.Endpoints{Token: srv.URL + "/token"}, HTTPTimeout: 5 * time.Second}
				c, err := New(p, Options{Log: discardLogger()})
				require.NoError(t, err)
				_, err = c.Acquire(testCtx(t))
				require.Error(t, err)
				assert.Contains(t, err.Error(), "redirects are not followed")
				_, err = c.tokenRequest(testCtx(t), "authorization code exchange", &Metadata{TokenEndpoint: srv.URL + "/token"},
					url.Values{"grant_type": {"authorization_code"}, "code": {"the-code"}})
				require.Error(t, err)
				assert.Contains(t, err.Error(), "redirects are not followed")
				assert.Zero(t, hits.Load(), "the redirect target received a request")
			})
		}
		srv.Close()
	}
}

// TestServerEchoesOfSecretPiecesAreMasked: a server's error text that
// repeats a request's secret, whole or in pieces, keeps none of it.
func TestServerEchoesOfSecretPiecesAreMasked(t *testing.T) {
	const secret = "s3cr3t-Value-0123456789"
	tests := []struct{ name, text string }{
		{"whole", "bad secret " + secret},
		{"the first half", "bad secret " + secret[:11] + "..."},
		{"the last part", "client_secret ends with " + secret[len(secret)-8:]},
		{"two pieces", "got " + secret[:7] + " and " + secret[10:17]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := redact.Values(tc.text, []string{secret})
			for n := 6; n <= len(secret); n++ {
				for i := 0; i+n <= len(secret); i++ {
					assert.NotContains(t, got, secret[i:i+n])
				}
			}
			assert.Contains(t, got, "[redacted]")
		})
	}
	assert.Equal(t, "an ordinary message", redact.Values("an ordinary message", []string{secret}))
}
