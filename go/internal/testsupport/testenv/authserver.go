// Package testenv is test support for the other packages' tests: it starts the
// project's real test authorization server (npm oidc-provider configured by
// examples/test-stack/authserver.mjs) on 127.0.0.1, drives its HTML pages like a person
// would (login, device approval), mints external subject tokens, and starts the
// OpenAI-compatible test gateway in-process.
//
// Node.js and the npm dependencies are required: when they are missing the tests fail
// (never skip) with a message saying to run `npm install` at the repository root.
package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Fixed clients of the test authorization server (examples/test-stack/lib/settings.mjs).
// The secrets are test-only values, committed on purpose.
const (
	ClientCCBasic                = "cc-basic" // client_credentials, client_secret_basic
	ClientCCBasicSecret          = "cc-basic-secret"
	ClientCCPost                 = "cc-post" // client_credentials, client_secret_post
	ClientCCPostSecret           = "cc-post-secret"
	ClientCodePublic             = "code-public"       // authorization_code + PKCE + refresh_token, no secret
	ClientCodeConfidential       = "code-confidential" // authorization_code + PKCE + refresh_token, client_secret_basic
	ClientCodeConfidentialSecret = "code-confidential-secret"
	ClientDevicePublic           = "device-public"   // device_code + refresh_token, no secret
	ClientExchange               = "exchange-client" // jwt-bearer + token-exchange, client_secret_basic
	ClientExchangeSecret         = "exchange-client-secret"
	// ClientPrivateKeyJWT authenticates with private_key_jwt (no secret): client_credentials,
	// authorization_code + PKCE, device_code and refresh_token. Its keys are
	// ClientAssertionKeys(): RS256 kid KidRS256, ES256 kid KidES256.
	ClientPrivateKeyJWT = "pkjwt-client"
	KidRS256            = "pkjwt-rs256-1"
	KidES256            = "pkjwt-es256-1"
)

// Other fixed values of the test authorization server.
const (
	// DefaultAudience is the gateway resource every access token is issued for unless
	// AuthServerOptions.Audience or a `resource` parameter says otherwise.
	DefaultAudience = "http://127.0.0.1/gateway"
	// ExternalIssuer is the `iss` of subject tokens and assertions the server accepts
	// for jwt-bearer and token exchange (keys in examples/test-stack/keys/external.json).
	ExternalIssuer = "https://external-idp.test"
	// DemoUser and DemoPassword sign in on the login form (any user name matching
	// [A-Za-z0-9][A-Za-z0-9._@-]* works with DemoPassword); AUTO_LOGIN signs in DemoUser.
	DemoUser     = "alice"
	DemoPassword = "demo"
	// CallbackPath is a registered loopback redirect path: http://127.0.0.1:<any
	// port>/oauth2/callback (also /callback, and localhost or [::1] as host).
	CallbackPath = "/oauth2/callback"

	GrantDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// AuthServerOptions are the knobs of the test authorization server. Zero values mean
// the server's defaults (access tokens 300 s, refresh tokens 1 day, device codes
// 600 s, device interval 5 s, audience DefaultAudience, a real login form).
type AuthServerOptions struct {
	AccessTokenTTL  time.Duration // rounded up to whole seconds, at least 1 s
	RefreshTokenTTL time.Duration
	DeviceCodeTTL   time.Duration
	DeviceInterval  time.Duration
	// AutoLogin completes logins without a form (as DemoUser); otherwise the helpers
	// fill the login form.
	AutoLogin bool
	// Audience of the JWT access tokens (GATEWAY_AUDIENCE).
	Audience string
	// ResourceScopes are the scopes the gateway resource knows (default api:read api:write).
	ResourceScopes []string
	// StartTimeout bounds the wait for the `listening` line (default 30 s).
	StartTimeout time.Duration
}

// AuthServer is a running test authorization server.
type AuthServer struct {
	// Issuer is http://127.0.0.1:<port>, also the base of every endpoint.
	Issuer string
	// Audience is the audience of the access tokens it issues.
	Audience string
	// Username and Password are what the helpers type into the login form (default
	// DemoUser, DemoPassword). Change them before calling a helper, not concurrently.
	Username string
	Password string

	root   string
	client *http.Client
	stderr *tailBuffer
}

// Endpoint URLs (oidc-provider's default routes).
func (s *AuthServer) TokenURL() string               { return s.Issuer + "/token" }
func (s *AuthServer) AuthorizationURL() string       { return s.Issuer + "/auth" }
func (s *AuthServer) DeviceAuthorizationURL() string { return s.Issuer + "/device/auth" }
func (s *AuthServer) DeviceVerificationURL() string  { return s.Issuer + "/device" }
func (s *AuthServer) RevocationURL() string          { return s.Issuer + "/token/revocation" }
func (s *AuthServer) IntrospectionURL() string       { return s.Issuer + "/token/introspection" }
func (s *AuthServer) JWKSURL() string                { return s.Issuer + "/jwks" }

// ExternalJWKSURL serves the public keys of ExternalIssuer.
func (s *AuthServer) ExternalJWKSURL() string { return s.Issuer + "/test/external/jwks" }

// ClientAssertionKeys is the path of the JWK set holding ClientPrivateKeyJWT's private
// keys (examples/test-stack/keys/client-assertion.json); the server knows their public halves.
func (s *AuthServer) ClientAssertionKeys() string {
	return filepath.Join(s.root, "examples", "test-stack", "keys", "client-assertion.json")
}

// LastRequest is what the server received in the last request to one endpoint: every
// parameter (secret values replaced by "[present]"), whether HTTP Basic was used, and a
// client_assertion's decoded header and claims (no signature).
type LastRequest struct {
	Params          map[string][]string `json:"params"`
	Basic           bool                `json:"basic"`
	ClientAssertion *struct {
		Header map[string]any `json:"header"`
		Claims map[string]any `json:"claims"`
	} `json:"client_assertion"`
}

// LastRequests returns the last request to each endpoint: "authorization",
// "device_authorization", "token", "revocation", "introspection", "par".
func (s *AuthServer) LastRequests() (map[string]LastRequest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/test/last-requests", nil)
	if err != nil {
		return nil, fmt.Errorf("last requests: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("last requests: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("last requests: status %d", resp.StatusCode)
	}
	out := map[string]LastRequest{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("last requests: decode: %w", err)
	}
	return out, nil
}

// RepoRoot returns the repository root: the nearest directory at or above the working
// directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// checkNode reports what is missing to run the authorization server, with the fix.
func checkNode(root string) (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("node is not on PATH: install Node.js 20 or later, then run `npm install` in %s", root)
	}
	for _, pkg := range []string{"oidc-provider", "jose"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			return "", fmt.Errorf("node_modules/%s is missing: run `npm install` in %s", pkg, root)
		}
	}
	return node, nil
}

func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

func (o AuthServerOptions) env() []string {
	env := []string{"PORT=0"}
	add := func(name string, d time.Duration) {
		if d > 0 {
			env = append(env, name+"="+seconds(d))
		}
	}
	add("ACCESS_TOKEN_TTL", o.AccessTokenTTL)
	add("REFRESH_TOKEN_TTL", o.RefreshTokenTTL)
	add("DEVICE_CODE_TTL", o.DeviceCodeTTL)
	add("DEVICE_INTERVAL", o.DeviceInterval)
	if o.AutoLogin {
		env = append(env, "AUTO_LOGIN=1")
	} else {
		env = append(env, "AUTO_LOGIN=0")
	}
	if o.Audience != "" {
		env = append(env, "GATEWAY_AUDIENCE="+o.Audience)
	}
	if len(o.ResourceScopes) > 0 {
		env = append(env, "RESOURCE_SCOPES="+strings.Join(o.ResourceScopes, " "))
	}
	return env
}

// StartAuthServer runs `node examples/test-stack/authserver.mjs` with opts, waits for it to
// listen and registers a cleanup that stops it. It fails the test (never skips) when
// Node.js or the npm dependencies are missing or the server does not start in time.
func StartAuthServer(t testing.TB, opts AuthServerOptions) *AuthServer {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	node, err := checkNode(root)
	if err != nil {
		t.Fatalf("testenv: cannot start the test authorization server: %v", err)
	}

	cmd := exec.Command(node, filepath.Join("examples", "test-stack", "authserver.mjs"))
	cmd.Dir = root
	cmd.Env = append(filteredEnviron(), opts.env()...)
	stderr := &tailBuffer{limit: 64 << 10}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("testenv: stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testenv: stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start node: %v", err)
	}

	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = stdin.Close() // the server exits when its stdin closes
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
			}
		}
	}

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
	}()

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			<-exited
			t.Fatalf("testenv: the authorization server exited before listening (%v); stderr:\n%s", waitErr, stderr.String())
		}
		line = l
	case <-time.After(timeout):
		stop()
		t.Fatalf("testenv: the authorization server did not print `listening` within %s; stderr:\n%s", timeout, stderr.String())
	}
	issuer, ok := strings.CutPrefix(line, "listening ")
	if u, err := url.Parse(issuer); !ok || err != nil || u.Hostname() != "127.0.0.1" {
		stop()
		t.Fatalf("testenv: unexpected first line from the authorization server: %q; stderr:\n%s", line, stderr.String())
	}

	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: authorization server stderr (tail):\n%s", stderr.String())
		}
	})

	audience := opts.Audience
	if audience == "" {
		audience = DefaultAudience
	}
	return &AuthServer{
		Issuer:   issuer,
		Audience: audience,
		Username: DemoUser,
		Password: DemoPassword,
		root:     root,
		client:   &http.Client{Timeout: 15 * time.Second},
		stderr:   stderr,
	}
}

// filteredEnviron drops knobs of the server from the inherited environment so that a
// developer's shell cannot change what a test asked for.
func filteredEnviron() []string {
	knobs := map[string]bool{
		"PORT": true, "ACCESS_TOKEN_TTL": true, "REFRESH_TOKEN_TTL": true, "DEVICE_CODE_TTL": true,
		"DEVICE_INTERVAL": true, "AUTO_LOGIN": true, "GATEWAY_AUDIENCE": true, "RESOURCE_SCOPES": true,
		"NODE_OPTIONS": true,
	}
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !knobs[name] {
			out = append(out, kv)
		}
	}
	return out
}

// Logs returns the tail of the server's stderr.
func (s *AuthServer) Logs() string { return s.stderr.String() }

// Stats returns the server's counts of token-endpoint requests: "total", one key per
// grant_type, "error:<code>" per error answer (e.g. "error:slow_down"), and
// "endpoint:device_authorization", "endpoint:revocation", "endpoint:introspection".
func (s *AuthServer) Stats() (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/test/stats", nil)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stats: status %d", resp.StatusCode)
	}
	stats := map[string]int{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&stats); err != nil {
		return nil, fmt.Errorf("stats: decode: %w", err)
	}
	return stats, nil
}

// ResetStats zeroes the server's counts.
func (s *AuthServer) ResetStats() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Issuer+"/test/stats/reset", nil)
	if err != nil {
		return fmt.Errorf("reset stats: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("reset stats: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("reset stats: status %d", resp.StatusCode)
	}
	return nil
}

// tailBuffer keeps the last limit bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
