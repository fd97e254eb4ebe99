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
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
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
	_, isURL := errors.AsType[*url.Error](err)
	_, isNet := errors.AsType[net.Error](err)
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
	case isURL: // no answer: unreachable, timed out, or cancelled by us
		e.cause = transportError(err)
		if !errors.Is(err, context.Canceled) {
			e.kind = tokens.ErrTransient
		}
	default: // x/oauth2 could not read a 2xx answer, or another failure
		e.cause = errors.New(clean(err.Error(), 300))
		if isNet || errors.Is(err, context.DeadlineExceeded) {
			e.kind = tokens.ErrTransient
		}
	}
	return e
}

// transportError keeps the message of a transport error but drops the
// query and userinfo from any URL it names.
func transportError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s %s: %w", ue.Op, redact.URL(ue.URL), ue.Err)
	}
	return err
}

// maxResponse bounds a device authorization, revocation or JWKS answer
// (x/oauth2 reads token responses with the same bound).
const maxResponse = 1 << 20

// maxLifetime bounds a token's lifetime: a longer one counts as none.
const maxLifetime = 10 * 365 * 24 * time.Hour

// secretParams are the request parameters whose values are credentials. A
// server may echo any of them in an error; requestSecrets masks them all.
var secretParams = []string{
	"client_secret", "client_assertion", "code", "code_verifier", "refresh_token",
	"device_code", "assertion", "subject_token", "actor_token", "token",
}

// requestSecrets lists every secret a request carries: the client secret
// and the values of form's secret parameters. Errors mask them before
// anything is truncated (classify).
func (c *Client) requestSecrets(form url.Values) []string {
	out := []string{c.p.ClientSecret.Reveal()}
	for _, k := range secretParams {
		out = append(out, form[k]...)
	}
	return out
}

// tokenRequest is the one way to the token endpoint, for every grant:
// grant holds grant_type and the grant's own parameters; the client's
// authentication and tokenParams are added here, and x/oauth2 posts the
// request and parses the answer. x/oauth2's clientcredentials.Config is
// used because it is the entry point that takes any grant_type and any
// parameters (EndpointParams); oauth2.Config.Exchange always sends `code`,
// and its refresh takes no extra parameters. Its device flow does take
// extra parameters (AuthCodeOptions on DeviceAuth and DeviceAccessToken),
// but DeviceAuth sends no client authentication (no secret, no assertion)
// and reads expires_in on its own clock, and DeviceAccessToken polls on
// its own timer with the same parameters throughout, where this client
// paces the polls itself (slow_down, transient failures with backoff) and
// signs a fresh client assertion for every request. The auth style is always given,
// so x/oauth2 never probes (retries a failed request the other way).
func (c *Client) tokenRequest(ctx context.Context, op string, meta *Metadata, grant url.Values) (tokens.Token, error) {
	form, err := c.authenticated(ctx, meta, grant)
	if err != nil {
		return tokens.Token{}, err
	}
	for k, v := range c.p.TokenParams {
		if _, set := form[k]; !set { // never over a parameter of ours
			form.Set(k, v)
		}
	}
	cfg := clientcredentials.Config{
		ClientID:       c.p.ClientID,
		ClientSecret:   c.p.ClientSecret.Reveal(),
		TokenURL:       meta.TokenEndpoint,
		EndpointParams: form,
		AuthStyle:      c.authStyle(meta),
	}
	c.log.Debug("token request", "grant", op, "token_endpoint", redact.URL(meta.TokenEndpoint))
	t, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return tokens.Token{}, c.classify(op, err, c.requestSecrets(form))
	}
	return c.fromOAuth2(op, t)
}

// fromOAuth2 converts x/oauth2's token. Expiry is relative to receipt:
// x/oauth2 sets Expiry to expires_in after its clock's now on receipt, so
// the lifetime is what remains of it, counted from our clock's now; a
// server with a skewed clock cannot shorten or lengthen it, and a
// negative, zero or absurd lifetime counts as none. A token that cannot go
// into an Authorization header is refused.
func (c *Client) fromOAuth2(op string, t *oauth2.Token) (tokens.Token, error) {
	if strings.TrimSpace(t.AccessToken) == "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: the response has an empty access_token", c.p.ID, op)
	}
	if why := checkTokenText(t.AccessToken, t.TokenType); why != "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: %s", c.p.ID, op, why)
	}
	out := tokens.Token{
		AccessToken:  secret.New(t.AccessToken),
		TokenType:    t.TokenType,
		RefreshToken: secret.New(t.RefreshToken),
		ObtainedAt:   c.now(),
	}
	if !t.Expiry.IsZero() {
		if life := time.Until(t.Expiry).Round(time.Second); life > 0 && life <= maxLifetime {
			out.ExpiresAt = out.ObtainedAt.Add(life)
		}
	}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = secret.New(id)
	}
	switch s := t.Extra("scope").(type) {
	case string:
		out.Scope = strings.TrimSpace(s)
	case []any: // non-standard, seen in the wild
		var parts []string
		for _, v := range s {
			if str, ok := v.(string); ok {
				parts = append(parts, str)
			}
		}
		out.Scope = strings.Join(parts, " ")
	}
	return out, nil
}

// checkTokenText returns why an access token or token type cannot go into
// an Authorization header, or "". RFC 6749 appendix A: an access token is
// 1*VSCHAR (printable ASCII), a token type 1*( ALPHA / DIGIT / "-" / "." / "_" ).
// A server that sends a line break there must not get it into a header of
// ours (header injection) or into the shim's header cache.
func checkTokenText(accessToken, tokenType string) string {
	for i := 0; i < len(accessToken); i++ {
		if b := accessToken[i]; b < 0x20 || b > 0x7e {
			return "the access_token contains characters outside printable ASCII (RFC 6749 appendix A.12)"
		}
	}
	for _, r := range strings.TrimSpace(tokenType) {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return "the token_type is not a token type name (RFC 6749 appendix A.13)"
		}
	}
	return ""
}

// postForm POSTs form with the client's authentication to the device
// authorization or revocation endpoint (see tokenRequest for why not
// x/oauth2's DeviceAuth; it has no revocation) and returns
// the body of a 200 answer (send).
func (c *Client) postForm(ctx context.Context, op, endpoint string, meta *Metadata, form url.Values) ([]byte, error) {
	form, err := c.authenticated(ctx, meta, form)
	if err != nil {
		return nil, err
	}
	secrets := c.requestSecrets(form)
	basic := c.authStyle(meta) == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", c.p.ClientID)
		if !c.p.ClientSecret.IsZero() {
			form.Set("client_secret", c.p.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("provider %q: %s: %w", c.p.ID, op, transportError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.p.ClientID), url.QueryEscape(c.p.ClientSecret.Reveal()))
	}
	return c.send(req, op, maxResponse, secrets)
}

// send is the one way to an endpoint x/oauth2 is not used for (discovery,
// JWKS, device authorization, revocation, the GitHub Actions token): it
// sends req with the client's HTTP client and returns the body of a 200
// answer, read with a bound of limit bytes. No answer, an unreadable or
// oversized one, or another status is an *Error (classify), with secrets
// masked in whatever text of the server's it keeps.
func (c *Client) send(req *http.Request, op string, limit int64, secrets []string) ([]byte, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
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

// finishLogin applies what every interactive login requires of its token:
// a refresh token, and a verified id_token when openid was requested.
func (c *Client) finishLogin(ctx context.Context, meta *Metadata, t tokens.Token, nonce secret.String) (tokens.Token, error) {
	if t.RefreshToken.IsZero() {
		return tokens.Token{}, fmt.Errorf("provider %q: the server issued no refresh token, so this login could not be renewed without you: "+
			"add the offline_access scope to scopes, or enable refresh tokens for client %q at the authorization server", c.p.ID, c.p.ClientID)
	}
	if hasOpenID(c.p.Scopes) {
		if t.IDToken.IsZero() {
			return tokens.Token{}, fmt.Errorf("provider %q: the openid scope was requested but the server returned no id_token", c.p.ID)
		}
		if _, err := c.verifyIDToken(ctx, meta, t.IDToken, nonce); err != nil {
			return tokens.Token{}, err
		}
	}
	return t, nil
}

// authStyle is where the client id and secret go. It is never
// oauth2.AuthStyleUnknown, so x/oauth2 never sends a failed token request
// a second time with the other style.
func (c *Client) authStyle(meta *Metadata) oauth2.AuthStyle {
	if c.p.ClientSecret.IsZero() {
		return oauth2.AuthStyleInParams // public client or client assertion: client_id in the body
	}
	switch c.p.ClientAuthMethod {
	case config.AuthMethodBasic:
		return oauth2.AuthStyleInHeader
	case config.AuthMethodPost:
		return oauth2.AuthStyleInParams
	}
	// RFC 8414: the default when the server lists nothing is client_secret_basic.
	if meta == nil || len(meta.TokenEndpointAuthMethods) == 0 {
		return oauth2.AuthStyleInHeader
	}
	if !slices.Contains(meta.TokenEndpointAuthMethods, config.AuthMethodBasic) && slices.Contains(meta.TokenEndpointAuthMethods, config.AuthMethodPost) {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// authenticated returns a copy of form with the client assertion added
// when the client authenticates with private_key_jwt (RFC 7523 section
// 2.2). The client id and secret are added where the request is sent
// (x/oauth2 for the token endpoint, postForm elsewhere).
func (c *Client) authenticated(ctx context.Context, meta *Metadata, form url.Values) (url.Values, error) {
	out := maps.Clone(form) // its values are only ever replaced (Set)
	if c.p.ClientAuthMethod != config.AuthMethodPrivateKeyJWT {
		return out, nil
	}
	a, err := c.clientAssertion(ctx, meta)
	if err != nil {
		return nil, err
	}
	out.Set("client_assertion_type", ClientAssertionType)
	out.Set("client_assertion", a.Reveal())
	return out, nil
}

// clientAssertion is a fresh client assertion: signed now with the key
// file, or read from clientAssertionSource (a JWT another party issued for
// this client, such as a GitHub Actions or Kubernetes token trusted by the
// server: the federated-credential pattern).
func (c *Client) clientAssertion(ctx context.Context, meta *Metadata) (secret.String, error) {
	if c.assertion != nil {
		a, err := c.assertion.sign(c.p.ClientID, meta.TokenEndpoint, c.now())
		if err != nil {
			return secret.String{}, fmt.Errorf("provider %q: %w", c.p.ID, err)
		}
		return a, nil
	}
	src := c.p.ClientAssertionSource
	if src == nil {
		return secret.String{}, fmt.Errorf("provider %q: clientAuthMethod private_key_jwt needs clientAssertionKeyFile or clientAssertionSource", c.p.ID)
	}
	return c.readSource(ctx, "clientAssertionSource", src)
}
