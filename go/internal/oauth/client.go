// Package oauth talks to the authorization server of one provider:
// discovery (OIDC, with RFC 8414 as fallback), the machine grants
// (client_credentials, RFC 7523 jwt_bearer, RFC 8693 token_exchange), the
// interactive grants (authorization code with PKCE through a loopback
// redirect, RFC 8628 device code) with id_token verification (go-oidc),
// the refresh grant, and the subject-token sources the federated grants
// read. Clients authenticate with a secret, as public clients, or with
// client assertions (private_key_jwt: signed with a key file, or a
// federated token from a source). Every token request goes through
// golang.org/x/oauth2 (tokenRequest), every other request through send,
// and every failed request through one classifier (classify). Every request has a deadline, no redirect is ever followed,
// response bodies are read with a bound, and errors carry the OAuth error
// code and a classification (tokens.ErrInvalidGrant, ErrInvalidClient,
// ErrTransient) but never a secret.
package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Client runs the grants of one provider. It implements tokens.Grant.
type Client struct {
	p   config.Provider
	o   Options // with the defaults set
	log *slog.Logger

	metaMu sync.Mutex
	meta   *Metadata // discovered at most once per metadataTTL
	metaAt time.Time

	assertion jose.Signer // private_key_jwt with clientAssertionKeyFile

	stderrMu sync.Mutex // one prompt at a time on o.Stderr
	keysMu   sync.Mutex // guards Metadata.keys
}

// Options tune a Client; zero values give production defaults.
type Options struct {
	HTTPClient *http.Client        // default: NewHTTPClient(p)
	Log        *slog.Logger        // required
	Now        func() time.Time    // default time.Now
	Getenv     func(string) string // default os.Getenv

	// Prompt is called when a person must act during a login (open a URL,
	// enter a device code). Without it, the prompt is written to Stderr.
	Prompt func(Prompt)
	// Stderr receives the prompts and the browser opener's output (default os.Stderr).
	Stderr io.Writer
	// OpenBrowser opens a URL for the authorization code login (default: the
	// platform opener of package browser, honouring OPENCODE_OAUTH2_BROWSER
	// through Getenv). An error makes the login show the URL instead.
	OpenBrowser func(ctx context.Context, url string) error
	// Sleep waits between device-code polls (default: a timer honouring ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client for p.
func New(p config.Provider, o Options) (*Client, error) {
	var err error
	if o.HTTPClient == nil {
		if o.HTTPClient, err = NewHTTPClient(p); err != nil {
			return nil, err
		}
	}
	if p.ClientAuthMethod == config.AuthMethodNone || p.ClientAuthMethod == config.AuthMethodPrivateKeyJWT {
		p.ClientSecret = secret.String{} // a public client never sends one; an assertion replaces it
	}
	p.LoginTimeout = cmp.Or(p.LoginTimeout, config.DefaultLoginTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	o.Stderr = cmp.Or(o.Stderr, io.Writer(os.Stderr))
	if o.OpenBrowser == nil {
		o.OpenBrowser = browser.Opener{Getenv: o.Getenv, Stderr: o.Stderr}.Open
	}
	c := &Client{p: p, o: o, log: o.Log.With("provider", p.ID)}
	if p.ClientAuthMethod == config.AuthMethodPrivateKeyJWT && p.ClientAssertionKeyFile != "" {
		if c.assertion, err = loadAssertionKey(p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// HTTPClient is the client's HTTP client (shared with model discovery).
func (c *Client) HTTPClient() *http.Client { return c.o.HTTPClient }

// maxCAFile bounds a caFile (a system's whole CA bundle is about 200 KB).
const maxCAFile = 4 << 20

// NewHTTPClient builds the HTTP client for a provider: proxy from the
// environment (HTTPS_PROXY, NO_PROXY), the provider's extra CA bundle, the
// provider's timeout, and redirects never followed (a token endpoint that
// redirects must not receive credentials twice).
func NewHTTPClient(p config.Provider) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if p.CAFile != "" {
		pem, err := safefile.Read(p.CAFile, maxCAFile)
		if err != nil {
			return nil, fmt.Errorf("provider %q: caFile %s: %w", p.ID, p.CAFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("provider %q: caFile %s holds no PEM certificate", p.ID, p.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cmp.Or(p.HTTPTimeout, config.DefaultHTTPTimeout),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// Acquire implements tokens.Grant.
func (c *Client) Acquire(ctx context.Context) (tokens.Token, error) {
	switch c.p.Flow {
	case config.ClientCredentials:
		return c.machineGrant(ctx, "client_credentials token request", url.Values{"grant_type": {"client_credentials"}})
	case config.JWTBearer, config.TokenExchange:
		return c.federatedGrant(ctx)
	case config.AuthorizationCode:
		return c.authorizationCode(ctx)
	case config.DeviceCode:
		return c.deviceCode(ctx)
	}
	return tokens.Token{}, fmt.Errorf("provider %q: unknown authFlow %q", c.p.ID, c.p.Flow)
}

// Error is a failed exchange with the authorization server.
type Error struct {
	ProviderID  string
	Op          string // e.g. "client_credentials token request"
	Status      int    // HTTP status, 0 when no response arrived
	Code        string // OAuth error code, e.g. invalid_grant
	Description string // server's error_description, scrubbed and bounded
	kind        error  // one of tokens.ErrInvalidGrant, ErrInvalidClient, ErrTransient, or nil
	cause       error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("provider %q: %s failed", e.ProviderID, e.Op)
	switch {
	case e.Code != "" && e.Status != 0:
		msg += fmt.Sprintf(": %s (HTTP %d)", e.Code, e.Status)
	case e.Code != "":
		msg += ": " + e.Code
	case e.Status != 0:
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

func (e *Error) hint() string {
	switch {
	case errors.Is(e.kind, tokens.ErrInvalidClient):
		return "check clientId, clientSecret and clientAuthMethod"
	case e.Code == "invalid_scope":
		return "check scopes: the server refused one of them"
	case e.Code == "unsupported_grant_type" || e.Code == "unauthorized_client":
		return "the client is not allowed this grant at the server"
	case e.Status >= 300 && e.Status < 400:
		return "the endpoint redirected; redirects are not followed, configure the final URL"
	}
	return ""
}

// Is matches the tokens classification errors.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns the underlying transport error, if any.
func (e *Error) Unwrap() error { return e.cause }

// classify is the one place that maps a failed request to an *Error:
// x/oauth2's *oauth2.RetrieveError (token endpoint) or answerError's (other
// endpoints), x/oauth2's parse errors, or a transport error. secrets are
// the values the request carried (requestSecrets): every one of them is
// masked in whatever text of the server's the error keeps, before that
// text is cleaned and truncated, so no prefix of a secret survives a cut.
func (c *Client) classify(op string, err error, secrets []string) error {
	e := &Error{ProviderID: c.p.ID, Op: op}
	clean := func(s string, max int) string { return redact.Text(redact.Values(s, secrets), max) }
	re, isRetrieve := errors.AsType[*oauth2.RetrieveError](err)
	ue, isURL := errors.AsType[*url.Error](err)
	switch {
	case isRetrieve:
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		e.Code = clean(re.ErrorCode, 60)
		e.Description = clean(re.ErrorDescription, 200)
		if re.ErrorCode == "" && len(bytes.TrimSpace(re.Body)) > 0 && e.Status >= 400 {
			e.Description = "response: " + clean(string(re.Body), 200)
		}
		// A 429 or 5xx is the server failing, whatever code it names: retry
		// later rather than ask the user to log in again.
		switch {
		case e.Status == 429 || e.Status >= 500 || re.ErrorCode == "temporarily_unavailable" || re.ErrorCode == "server_error":
			e.kind = tokens.ErrTransient
		case re.ErrorCode == "invalid_grant":
			e.kind = tokens.ErrInvalidGrant
		case re.ErrorCode == "invalid_client" || (e.Status == 401 && re.ErrorCode == ""):
			e.kind = tokens.ErrInvalidClient
		}
	case isURL: // no answer: unreachable, timed out, or cancelled by us; no query or userinfo of the URL kept
		e.cause = fmt.Errorf("%s %s: %w", ue.Op, redact.URL(ue.URL), ue.Err)
		if !errors.Is(err, context.Canceled) {
			e.kind = tokens.ErrTransient
		}
	default: // x/oauth2 could not read a 2xx answer, or another failure
		e.cause = errors.New(clean(err.Error(), 300))
		if _, isNet := errors.AsType[net.Error](err); isNet || errors.Is(err, context.DeadlineExceeded) {
			e.kind = tokens.ErrTransient
		}
	}
	return e
}

// send is the one way to an endpoint x/oauth2 is not used for (discovery,
// JWKS, device authorization, revocation, the GitHub Actions token): it
// sends req with the client's HTTP client and returns the body of a 200
// answer, read with a bound of limit bytes. No answer, an unreadable or
// oversized one, or another status is an *Error (classify), with secrets
// masked in whatever text of the server's it keeps.
func (c *Client) send(req *http.Request, op string, limit int64, secrets []string) ([]byte, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, c.classify(op, err, secrets)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode, cause: err, kind: tokens.ErrTransient}
	case resp.StatusCode != http.StatusOK:
		return nil, c.classify(op, answerError(resp, body), secrets)
	case int64(len(body)) > limit:
		return nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode,
			Description: fmt.Sprintf("response larger than %d bytes", limit)}
	}
	return body, nil
}

// answerError is a failed answer of an endpoint other than the token
// endpoint in x/oauth2's form, for classify: the RFC 6749 5.2 error
// members when the body is a JSON object with them.
func answerError(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	var payload struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &payload) == nil {
		re.ErrorCode, re.ErrorDescription = payload.Error, payload.Description
	}
	return re
}

// maxMetadata bounds a discovery document; metadataTTL is how long one
// is used before it is fetched again.
const (
	maxMetadata = 1 << 20
	metadataTTL = time.Hour
)

// Metadata is the part of the server metadata (OIDC discovery / RFC 8414)
// the plugin uses, with the provider's endpoint overrides applied.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypes                        []string `json:"grant_types_supported"`
	CodeChallengeMethods              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	// Discovered is false when the overrides made discovery unnecessary.
	Discovered bool `json:"-"`

	keys *keySet // the id_token keys of JWKSURI (keysFor)
}

// needsDiscovery reports whether the overrides are enough for the flow.
func (c *Client) needsDiscovery() bool {
	e, flow := c.p.Endpoints, c.p.Flow
	return e.Token == "" || (flow == config.AuthorizationCode && e.Authorization == "") ||
		(flow == config.DeviceCode && e.DeviceAuthorization == "") ||
		(flow.Interactive() && hasOpenID(c.p.Scopes) && e.JWKS == "")
}

func hasOpenID(scopes []string) bool { return slices.Contains(scopes, "openid") }

// Metadata returns the server metadata, discovered at most once per TTL.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if c.meta != nil && c.o.Now().Sub(c.metaAt) < metadataTTL {
		return c.meta, nil
	}
	m := &Metadata{}
	if c.needsDiscovery() {
		var err error
		if m, err = c.discover(ctx); err != nil {
			return nil, err
		}
	}
	e := c.p.Endpoints // the configured endpoints override the discovered ones
	m.AuthorizationEndpoint = cmp.Or(e.Authorization, m.AuthorizationEndpoint)
	m.TokenEndpoint = cmp.Or(e.Token, m.TokenEndpoint)
	m.DeviceAuthorizationEndpoint = cmp.Or(e.DeviceAuthorization, m.DeviceAuthorizationEndpoint)
	m.JWKSURI = cmp.Or(e.JWKS, m.JWKSURI)
	m.RevocationEndpoint = cmp.Or(e.Revocation, m.RevocationEndpoint)
	m.Issuer = cmp.Or(m.Issuer, c.p.Issuer)
	for name, u := range map[string]string{
		"authorization_endpoint": m.AuthorizationEndpoint, "token_endpoint": m.TokenEndpoint,
		"device_authorization_endpoint": m.DeviceAuthorizationEndpoint, "jwks_uri": m.JWKSURI,
		"revocation_endpoint": m.RevocationEndpoint,
	} {
		if u == "" {
			continue
		}
		if err := c.checkEndpoint(u); err != nil {
			return nil, fmt.Errorf("provider %q: discovered %s: %w", c.p.ID, name, err)
		}
	}
	if m.TokenEndpoint == "" {
		return nil, fmt.Errorf("provider %q: the server metadata has no token_endpoint; set tokenEndpoint in the oauth2 block", c.p.ID)
	}
	c.meta, c.metaAt = m, c.o.Now()
	return m, nil
}

// discover fetches the issuer's metadata from OIDC's location, then from
// RFC 8414's.
func (c *Client) discover(ctx context.Context) (*Metadata, error) {
	iss, err := url.Parse(c.p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("provider %q: issuer is not a URL: %w", c.p.ID, err)
	}
	path := strings.TrimSuffix(iss.Path, "/")
	oidcURL, rfcURL := *iss, *iss
	oidcURL.Path = path + "/.well-known/openid-configuration"
	rfcURL.Path = "/.well-known/oauth-authorization-server" + path
	var firstErr error
	for _, u := range []string{oidcURL.String(), rfcURL.String()} {
		m, err := c.fetchMetadata(ctx, u)
		if err == nil {
			if strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(c.p.Issuer, "/") {
				return nil, &IssuerMismatchError{ProviderID: c.p.ID, URL: redact.URL(u), Got: redact.Text(m.Issuer, 200), Want: c.p.Issuer}
			}
			return m, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		// Only a missing document sends us to the next location.
		e, ok := errors.AsType[*Error](err)
		if !ok || (e.Status != http.StatusNotFound && e.Status != http.StatusMethodNotAllowed && e.Status != http.StatusBadRequest) {
			return nil, err
		}
	}
	return nil, firstErr
}

// IssuerMismatchError is a metadata document that names another issuer
// than the configuration (Got is made safe to print).
type IssuerMismatchError struct{ ProviderID, URL, Got, Want string }

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("provider %q: the server at %s says its issuer is %q, but the configuration says %q; they must match (this protects against mixing up identity providers)",
		e.ProviderID, e.URL, e.Got, e.Want)
}

func (c *Client) fetchMetadata(ctx context.Context, u string) (*Metadata, error) {
	op := "discovery at " + redact.URL(u)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) // u parses: discover made it of the parsed issuer
	body, err := c.send(req, op, maxMetadata, nil)
	if err != nil {
		return nil, err
	}
	m := Metadata{Discovered: true}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("provider %q: %s: not a JSON metadata document: %s", c.p.ID, op, redact.Text(err.Error(), 120))
	}
	return &m, nil
}

// checkEndpoint applies the provider's HTTPS rule to a discovered URL.
func (c *Client) checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", redact.URL(raw))
	}
	if u.User != nil {
		return fmt.Errorf("%s carries credentials in the URL", redact.URL(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); c.p.AllowInsecureHTTP || strings.EqualFold(h, "localhost") || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%s uses http:// on a non-loopback host; use https or set allowInsecureHttp: true for this provider", redact.URL(raw))
	}
	return fmt.Errorf("%s: unsupported scheme %q", redact.URL(raw), u.Scheme)
}
