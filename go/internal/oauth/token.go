package oauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

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

// idTokenAlgs are the signature algorithms accepted on an id_token: the
// asymmetric ones of RFC 7518 and EdDSA. "none" and HMAC are never accepted.
var idTokenAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// idTokenLeeway absorbs small clock differences on exp, nbf and iat.
const idTokenLeeway = time.Minute

// verifyIDToken checks raw with go-oidc against the server's JWKS:
// signature (an allowed algorithm, a key of the set), iss, aud contains
// client_id, and exp with idTokenLeeway on the client's clock; then nbf
// and iat with the same leeway, sub, azp (when there are several
// audiences or an azp at all), and the nonce when one was sent.
func (c *Client) verifyIDToken(ctx context.Context, meta *Metadata, raw, nonce secret.String) (*oidc.IDToken, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("provider %q: the id_token was rejected: %s", c.p.ID, fmt.Sprintf(format, a...))
	}
	// Parsed here too, unverified, only to explain a rejection.
	tok, err := jwt.ParseSigned(raw.Reveal(), idTokenAlgs)
	if err != nil {
		return nil, fail("not a signed JWT with an allowed algorithm (%s)", redact.Text(err.Error(), 120))
	}
	if meta.JWKSURI == "" {
		return nil, fail("the server metadata has no jwks_uri to verify it with; set jwksUri in the oauth2 block")
	}
	algs := make([]string, len(idTokenAlgs))
	for i, a := range idTokenAlgs {
		algs[i] = string(a)
	}
	keys := c.keysFor(ctx, meta.JWKSURI)
	id, err := oidc.NewVerifier(meta.Issuer, keys, &oidc.Config{
		ClientID: c.p.ClientID, SupportedSigningAlgs: algs,
		Now: func() time.Time { return c.now().Add(-idTokenLeeway) },
	}).Verify(ctx, raw.Reveal())
	if err != nil {
		if ferr := keys.fetcher.failure(); ferr != nil {
			return nil, ferr
		}
		return nil, fail("%s", c.whyRejected(tok, meta, err))
	}
	var claims struct {
		jwt.Claims
		AuthorizedParty string `json:"azp"`
	}
	if err := id.Claims(&claims); err != nil {
		return nil, fail("%s", redact.Text(err.Error(), 120))
	}
	// go-oidc gives nbf five minutes and does not look at iat: both hold
	// with idTokenLeeway here.
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: c.now()}, idTokenLeeway); err != nil {
		return nil, fail("%s", redact.Text(err.Error(), 120))
	}
	switch azp := claims.AuthorizedParty; {
	case id.Subject == "":
		return nil, fail("no sub claim")
	case azp != "" && azp != c.p.ClientID:
		return nil, fail("azp is %q, not the client id %q", redact.Text(azp, 120), c.p.ClientID)
	case len(id.Audience) > 1 && azp == "":
		return nil, fail("several audiences and no azp claim")
	case !nonce.IsZero() && subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(nonce.Reveal())) != 1:
		return nil, fail("the nonce does not match the one sent with this login")
	}
	return id, nil
}

// whyRejected explains go-oidc's rejection of tok from its unverified
// claims, in the order go-oidc checks them: expiry, issuer, audience, else
// the signature.
func (c *Client) whyRejected(tok *jwt.JSONWebToken, meta *Metadata, err error) string {
	if expired, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
		if expired.Expiry.IsZero() {
			return "no exp claim"
		}
		return fmt.Sprintf("it expired at %s (is this machine's clock right?)", expired.Expiry.UTC().Format(time.RFC3339))
	}
	var claims jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&claims) == nil {
		switch {
		case claims.Issuer != meta.Issuer:
			return fmt.Sprintf("iss is %q, expected %q", redact.Text(claims.Issuer, 120), meta.Issuer)
		case !slices.Contains(claims.Audience, c.p.ClientID):
			return fmt.Sprintf("aud does not contain the client id %q", c.p.ClientID)
		}
	}
	hdr := tok.Headers[0]
	return fmt.Sprintf("the signature does not verify with any key of %s (alg %s, kid %q): %s",
		redact.URL(meta.JWKSURI), hdr.Algorithm, redact.Text(hdr.KeyID, 80), redact.Text(err.Error(), 200))
}

// keySet is go-oidc's key set of one jwks_uri (it keeps the keys and
// fetches them again for an unknown kid), fetched through fetcher.
type keySet struct {
	*oidc.RemoteKeySet
	uri     string
	at      time.Time
	fetcher *jwksFetcher
}

// keysFor returns the key set of uri, made anew after jwksTTL so that a key
// the server withdrew is not trusted for ever.
func (c *Client) keysFor(ctx context.Context, uri string) *keySet {
	c.keysMu.Lock()
	defer c.keysMu.Unlock()
	if ks := c.keys; ks != nil && ks.uri == uri && c.now().Sub(ks.at) < jwksTTL {
		return ks
	}
	f := &jwksFetcher{c: c}
	hc := &http.Client{Transport: f}
	c.keys = &keySet{RemoteKeySet: oidc.NewRemoteKeySet(oidc.ClientContext(ctx, hc), uri), uri: uri, at: c.now(), fetcher: f}
	return c.keys
}

// jwksFetcher sends go-oidc's key set requests with send (the client's
// HTTP client, a bound on the body, failures classified), at most one per
// jwksRefetch, and keeps a failure for verifyIDToken to report.
type jwksFetcher struct {
	c    *Client
	mu   sync.Mutex
	last time.Time
	err  error
}

func (f *jwksFetcher) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.c.now()
	if !f.last.IsZero() && now.Sub(f.last) < jwksRefetch {
		return nil, fmt.Errorf("the key set was fetched less than %s ago", jwksRefetch)
	}
	f.last = now
	body, err := f.c.send(req.Clone(req.Context()), "JWKS request to "+redact.URL(req.URL.String()), maxJWKS, nil)
	if err != nil {
		f.err = err
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// failure returns, once, the error of the last failed fetch.
func (f *jwksFetcher) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.err
	f.err = nil
	return err
}

// maxJWKS bounds a JWKS document; jwksTTL is how long a fetched set is
// trusted before it is fetched again; jwksRefetch is the least time
// between two fetches (an unknown kid asks for one).
const (
	maxJWKS     = 1 << 20
	jwksTTL     = time.Hour
	jwksRefetch = 10 * time.Second
)
