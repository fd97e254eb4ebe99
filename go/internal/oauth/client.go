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
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Client runs the grants of one provider. It implements tokens.Grant.
type Client struct {
	p    config.Provider
	http *http.Client
	log  *slog.Logger
	now  func() time.Time
	env  func(string) string

	metaMu sync.Mutex
	meta   *Metadata // discovered at most once per metadataTTL
	metaAt time.Time

	assertion *assertionKey // private_key_jwt with clientAssertionKeyFile

	// What the interactive grants need besides HTTP (Options).
	prompt   func(Prompt)
	stderr   io.Writer
	stderrMu sync.Mutex
	open     func(ctx context.Context, url string) error
	sleep    func(ctx context.Context, d time.Duration) error

	keysMu sync.Mutex
	keys   *keySet // the id_token keys (keysFor)
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
	hc := o.HTTPClient
	if hc == nil {
		var err error
		if hc, err = NewHTTPClient(p); err != nil {
			return nil, err
		}
	}
	var assertion *assertionKey
	switch p.ClientAuthMethod {
	case config.AuthMethodNone:
		p.ClientSecret = secret.String{} // a public client never sends one
	case config.AuthMethodPrivateKeyJWT:
		p.ClientSecret = secret.String{} // the assertion replaces it
		if p.ClientAssertionKeyFile != "" {
			var err error
			if assertion, err = loadAssertionKey(p); err != nil {
				return nil, err
			}
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	stderr := cmp.Or(o.Stderr, io.Writer(os.Stderr))
	if o.OpenBrowser == nil {
		o.OpenBrowser = browser.Opener{Getenv: o.Getenv, Stderr: stderr}.Open
	}
	return &Client{p: p, http: hc, log: o.Log.With("provider", p.ID), now: o.Now, env: o.Getenv,
		assertion: assertion,
		prompt:    o.Prompt, stderr: stderr, open: o.OpenBrowser, sleep: o.Sleep}, nil
}

// HTTPClient is the client's HTTP client (shared with model discovery).
func (c *Client) HTTPClient() *http.Client { return c.http }

// NewHTTPClient builds the HTTP client for a provider: proxy from the
// environment (HTTPS_PROXY, NO_PROXY), the provider's extra CA bundle, the
// provider's timeout, and redirects never followed (a token endpoint that
// redirects must not receive credentials twice).
// maxCAFile bounds a caFile (a system's whole CA bundle is about 200 KB).
const maxCAFile = 4 << 20

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
	case config.JWTBearer:
		return c.jwtBearer(ctx)
	case config.TokenExchange:
		return c.tokenExchange(ctx)
	case config.AuthorizationCode:
		return c.authorizationCode(ctx)
	case config.DeviceCode:
		return c.deviceCode(ctx)
	}
	return tokens.Token{}, fmt.Errorf("provider %q: unknown authFlow %q", c.p.ID, c.p.Flow)
}
