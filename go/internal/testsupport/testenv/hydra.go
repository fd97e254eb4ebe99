package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Ory Hydra is the second authorization server of the integration tests: bin/hydra,
// built by `task deps:hydra` from go/tools/hydra, run with in-memory storage. Its
// login and consent steps are answered by HydraLoginApp (hydra_login.go) through
// Hydra's admin API. Clients are created per test with CreateClient.

// HydraOptions are the knobs of a Hydra server. Zero values mean Hydra's defaults
// (access tokens 1 h, refresh tokens 720 h) and a real login form.
type HydraOptions struct {
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// AutoLogin accepts every login as DemoUser without showing the form.
	AutoLogin bool
	// Audience is granted to the access tokens on consent (default DefaultAudience);
	// clients that log users in must list it in their Audience.
	Audience string
	// StartTimeout bounds the wait for Hydra's health endpoints (default 60 s).
	StartTimeout time.Duration
}

// Hydra is a running Ory Hydra with its login and consent app.
type Hydra struct {
	// Issuer is Hydra's public URL, http://127.0.0.1:<port>.
	Issuer string
	// AdminURL is Hydra's admin API, http://127.0.0.1:<port>.
	AdminURL string
	// Audience is what the consent app grants to access tokens.
	Audience string
	// App answers Hydra's login and consent requests.
	App *HydraLoginApp

	client *http.Client
	stderr *tailBuffer
}

// Endpoint URLs of Hydra v2.
func (h *Hydra) TokenURL() string         { return h.Issuer + "/oauth2/token" }
func (h *Hydra) AuthorizationURL() string { return h.Issuer + "/oauth2/auth" }
func (h *Hydra) RevocationURL() string    { return h.Issuer + "/oauth2/revoke" }

// HydraBinary returns bin/hydra of the repository, or an error that says how to build it.
func HydraBinary() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	name := "hydra"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(root, "bin", name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run `task deps:hydra` (or `go run github.com/go-task/task/v3/cmd/task@v3.54.0 deps:hydra`) in %s", bin, root)
	}
	return bin, nil
}

// unusedPort asks the kernel for a free port on 127.0.0.1. Hydra must be told its
// ports (its issuer names one), so there is a short window in which another process
// could take it; StartHydra retries then.
func unusedPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func randomSystemSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// StartHydra runs `bin/hydra serve all --dev` with in-memory storage and JWT access
// tokens on two free ports of 127.0.0.1, with its login and consent app, waits for
// its health endpoints and registers a cleanup that stops both. It fails the test
// (never skips) when bin/hydra is missing or Hydra does not become ready in time.
func StartHydra(t testing.TB, opts HydraOptions) *Hydra {
	t.Helper()
	bin, err := HydraBinary()
	if err != nil {
		t.Fatalf("testenv: cannot start Ory Hydra: %v", err)
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	var lastErr error
	for range 3 { // a port taken between unusedPort and Hydra's bind: try other ones
		h, err := startHydra(t, bin, opts)
		if err == nil {
			return h
		}
		lastErr = err
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

func startHydra(t testing.TB, bin string, opts HydraOptions) (*Hydra, error) {
	publicPort, err := unusedPort()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	adminPort, err := unusedPort()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	systemSecret, err := randomSystemSecret()
	if err != nil {
		return nil, fmt.Errorf("system secret: %w", err)
	}
	h := &Hydra{
		Issuer:   "http://127.0.0.1:" + strconv.Itoa(publicPort),
		AdminURL: "http://127.0.0.1:" + strconv.Itoa(adminPort),
		Audience: opts.Audience,
		client:   &http.Client{Timeout: 30 * time.Second},
		stderr:   &tailBuffer{limit: 64 << 10},
	}
	h.App = startHydraLoginApp(t, h, opts.AutoLogin)

	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"DSN=memory",
		"SECRETS_SYSTEM=" + systemSecret,
		"URLS_SELF_ISSUER=" + h.Issuer,
		"URLS_LOGIN=" + h.App.URL + "/login",
		"URLS_CONSENT=" + h.App.URL + "/consent",
		"URLS_ERROR=" + h.App.URL + "/error",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + strconv.Itoa(publicPort),
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + strconv.Itoa(adminPort),
		"STRATEGIES_ACCESS_TOKEN=jwt", // the test gateway validates JWTs with the JWKS
		"LOG_LEVEL=warn", "LOG_LEAK_SENSITIVE_VALUES=false",
	}
	if opts.AccessTokenTTL > 0 {
		env = append(env, "TTL_ACCESS_TOKEN="+seconds(opts.AccessTokenTTL)+"s")
	}
	if opts.RefreshTokenTTL > 0 {
		env = append(env, "TTL_REFRESH_TOKEN="+seconds(opts.RefreshTokenTTL)+"s")
	}
	// Only this environment: a developer's DSN or URLS_* must not change the test.
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = env
	cmd.Dir = os.TempDir()
	cmd.Stdout = h.stderr
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
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

	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	if err := h.waitReady(ctx, exited); err != nil {
		stop()
		select {
		case <-exited:
			err = fmt.Errorf("%w (exit: %v)", err, waitErr)
		default:
		}
		return nil, fmt.Errorf("ory hydra did not become ready: %w; output:\n%s", err, h.stderr.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: Ory Hydra output (tail):\n%s", h.stderr.String())
		}
	})
	return h, nil
}

// waitReady polls /health/ready of both ports until they answer 200, then the
// discovery document and the JWKS (Hydra makes its RSA signing keys on the first
// request that needs them, which takes seconds on a busy machine: better within the
// start deadline than in a test's token request), until Hydra exits or ctx ends.
func (h *Hydra) waitReady(ctx context.Context, exited <-chan struct{}) error {
	var last error
	for _, u := range []string{h.Issuer + "/health/ready", h.AdminURL + "/health/ready",
		h.Issuer + "/.well-known/openid-configuration", h.Issuer + "/.well-known/jwks.json"} {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := h.client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("%s: status %d", u, resp.StatusCode)
			}
			last = err
			select {
			case <-exited:
				return errors.New("hydra exited")
			case <-ctx.Done():
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// Logs returns the tail of Hydra's output.
func (h *Hydra) Logs() string { return h.stderr.String() }

// admin calls Hydra's admin API with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to ignore it). A status other than want is an error.
func (h *Hydra) admin(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.AdminURL+path, rd)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("hydra admin %s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("hydra admin %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// HydraClient is an OAuth 2.0 client registered at Hydra (its admin API's field names).
type HydraClient struct {
	ID                      string          `json:"client_id"`
	Secret                  string          `json:"client_secret,omitempty"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	Scope                   string          `json:"scope"`
	Audience                []string        `json:"audience,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"` // for private_key_jwt
	// TokenEndpointAuthSigningAlg is the alg of private_key_jwt assertions (default RS256).
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`
}

// PublicCodeClient is a public client for the authorization code grant with PKCE and
// refresh tokens, redirecting to a loopback listener on any port (RFC 8252 7.3).
func (h *Hydra) PublicCodeClient(id string) HydraClient {
	return HydraClient{
		ID: id, GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		RedirectURIs: []string{"http://127.0.0.1" + CallbackPath},
		Scope:        "openid offline_access api:read api:write", Audience: []string{h.Audience},
		TokenEndpointAuthMethod: "none",
	}
}

// CreateClient registers c at Hydra, failing the test on error.
func (h *Hydra) CreateClient(t testing.TB, c HydraClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.admin(ctx, http.MethodPost, "/admin/clients", c, http.StatusCreated, nil); err != nil {
		t.Fatalf("testenv: create client %q: %v", c.ID, err)
	}
}

// Introspection is the part of Hydra's RFC 7662 answer the tests look at.
type Introspection struct {
	Active    bool     `json:"active"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Scope     string   `json:"scope"`
	TokenUse  string   `json:"token_use"`
	Audience  []string `json:"aud"`
	ExpiresAt int64    `json:"exp"`
}

// Introspect asks Hydra's admin API what it knows of token.
func (h *Hydra) Introspect(ctx context.Context, token string) (Introspection, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.AdminURL+"/admin/oauth2/introspect",
		bytes.NewBufferString(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return Introspection{}, fmt.Errorf("introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.client.Do(req)
	if err != nil {
		return Introspection{}, fmt.Errorf("introspect: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return Introspection{}, fmt.Errorf("introspect: status %d", resp.StatusCode)
	}
	var out Introspection
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return Introspection{}, fmt.Errorf("introspect: decode: %w", err)
	}
	return out, nil
}

// TrustExternalIssuer makes Hydra accept RFC 7523 assertions (the jwt-bearer grant)
// from ExternalIssuer about subject, for scopes (Hydra's trust relationships hold the
// issuer's public key, examples/test-stack/keys/external.json).
func (h *Hydra) TrustExternalIssuer(t testing.TB, subject string, scopes []string) {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	key, err := externalKey(root)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	body := map[string]any{
		"issuer": ExternalIssuer, "subject": subject, "scope": scopes, "jwk": key.Public(),
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}
	if err := h.admin(ctx, http.MethodPost, "/admin/trust/grants/jwt-bearer/issuers", body, http.StatusCreated, nil); err != nil {
		t.Fatalf("testenv: trust %s: %v", ExternalIssuer, err)
	}
}

// MintAssertion is AuthServer.MintSubjectToken for Hydra: a JWT of ExternalIssuer
// about subject with `aud` = Hydra's token endpoint, for the jwt-bearer grant.
func (h *Hydra) MintAssertion(t testing.TB, subject string, ttl time.Duration) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return mintExternal(t, root, h.TokenURL(), subject, ttl)
}
