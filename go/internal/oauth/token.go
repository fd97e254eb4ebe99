package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
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
	t, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.o.HTTPClient))
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
	if why := checkTokenText(t.AccessToken, t.TokenType); why != "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: %s", c.p.ID, op, why)
	}
	out := tokens.Token{
		AccessToken:  secret.New(t.AccessToken),
		TokenType:    t.TokenType,
		RefreshToken: secret.New(t.RefreshToken),
		ObtainedAt:   c.o.Now(),
	}
	// No expiry (a zero Expiry) leaves a negative lifetime.
	if life := time.Until(t.Expiry).Round(time.Second); life > 0 && life <= maxLifetime {
		out.ExpiresAt = out.ObtainedAt.Add(life)
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
// an Authorization header (an empty one neither), or "". RFC 6749 appendix A: an access token is
// 1*VSCHAR (printable ASCII), a token type 1*( ALPHA / DIGIT / "-" / "." / "_" ).
// A server that sends a line break there must not get it into a header of
// ours (header injection) or into the shim's header cache.
func checkTokenText(accessToken, tokenType string) string {
	switch {
	case strings.TrimSpace(accessToken) == "":
		return "the response has an empty access_token"
	case strings.ContainsFunc(accessToken, func(r rune) bool { return r < 0x20 || r > 0x7e }):
		return "the access_token contains characters outside printable ASCII (RFC 6749 appendix A.12)"
	case strings.ContainsFunc(strings.TrimSpace(tokenType), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
	}):
		return "the token_type is not a token type name (RFC 6749 appendix A.13)"
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
	// endpoint parses (Metadata checked it), so the request is made.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.p.ClientID), url.QueryEscape(c.p.ClientSecret.Reveal()))
	}
	return c.send(req, op, maxResponse, secrets)
}

// finishLogin ends an interactive login that got t (or err) from the token
// endpoint: it applies what every such login requires of its token (a
// refresh token, and a verified id_token when openid was requested) and
// logs the outcome.
func (c *Client) finishLogin(ctx context.Context, meta *Metadata, t tokens.Token, err error, nonce secret.String) (tokens.Token, error) {
	switch {
	case err != nil:
	case t.RefreshToken.IsZero():
		err = fmt.Errorf("provider %q: the server issued no refresh token, so this login could not be renewed without you: "+
			"add the offline_access scope to scopes, or enable refresh tokens for client %q at the authorization server", c.p.ID, c.p.ClientID)
	case hasOpenID(c.p.Scopes) && t.IDToken.IsZero():
		err = fmt.Errorf("provider %q: the openid scope was requested but the server returned no id_token", c.p.ID)
	case hasOpenID(c.p.Scopes):
		_, err = c.verifyIDToken(ctx, meta, t.IDToken, nonce)
	}
	if err != nil {
		c.log.Warn("login failed", "flow", c.p.Flow, "err", err)
		return tokens.Token{}, err
	}
	c.log.Info("login complete", "flow", c.p.Flow)
	return t, nil
}

// authStyle is where the client id and secret go. It is never
// oauth2.AuthStyleUnknown, so x/oauth2 never sends a failed token request
// a second time with the other style.
func (c *Client) authStyle(meta *Metadata) oauth2.AuthStyle {
	methods := meta.TokenEndpointAuthMethods
	switch {
	case c.p.ClientSecret.IsZero(): // public client or client assertion: client_id in the body
		return oauth2.AuthStyleInParams
	case c.p.ClientAuthMethod == config.AuthMethodBasic:
		return oauth2.AuthStyleInHeader
	case c.p.ClientAuthMethod == config.AuthMethodPost:
		return oauth2.AuthStyleInParams
	// RFC 8414: the default when the server lists nothing is client_secret_basic.
	case !slices.Contains(methods, config.AuthMethodBasic) && slices.Contains(methods, config.AuthMethodPost):
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
		// RFC 7523 section 3: iss and sub the client id, aud the token
		// endpoint (a value identifying the authorization server; the token
		// endpoint URL is the one every server accepts), a random jti so that
		// it cannot be replayed, iat, and a short exp.
		now := c.o.Now()
		raw, err := jwt.Signed(c.assertion).Claims(jwt.Claims{
			Issuer:   c.p.ClientID,
			Subject:  c.p.ClientID,
			Audience: jwt.Audience{meta.TokenEndpoint},
			ID:       oauth2.GenerateVerifier(),
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
		}).Serialize()
		if err != nil {
			return secret.String{}, fmt.Errorf("provider %q: signing the client assertion: %w", c.p.ID, err)
		}
		return secret.New(raw), nil
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
	keys := c.keysFor(ctx, meta)
	id, err := oidc.NewVerifier(meta.Issuer, keys, &oidc.Config{
		ClientID: c.p.ClientID, SupportedSigningAlgs: algs, SkipExpiryCheck: true, // exp, nbf and iat are checked below
	}).Verify(ctx, raw.Reveal())
	if err != nil {
		if ferr := keys.failure(); ferr != nil {
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
	// exp, nbf and iat hold with idTokenLeeway on the client's clock (go-oidc
	// would give nbf five minutes and not look at iat).
	verr := claims.ValidateWithLeeway(jwt.Expected{Time: c.o.Now()}, idTokenLeeway)
	switch azp := claims.AuthorizedParty; {
	case claims.Expiry == nil:
		return nil, fail("no exp claim")
	case errors.Is(verr, jwt.ErrExpired):
		return nil, fail("it expired at %s (is this machine's clock right?)", claims.Expiry.Time().UTC().Format(time.RFC3339))
	case verr != nil:
		return nil, fail("%s", redact.Text(verr.Error(), 120))
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
// claims, in the order go-oidc checks them: issuer, audience, else the
// signature.
func (c *Client) whyRejected(tok *jwt.JSONWebToken, meta *Metadata, err error) string {
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

// keySet is go-oidc's key set of one metadata's jwks_uri (it keeps the keys
// and fetches them again for an unknown kid); it lives as long as that
// metadata (metadataTTL), so that a key the server withdrew is not trusted
// for ever. It is also the transport of those fetches: they go through send
// (the client's HTTP client, a bound on the body, failures classified), at
// most one per jwksRefetch, and a failure is kept for verifyIDToken to
// report.
type keySet struct {
	*oidc.RemoteKeySet
	c *Client

	mu   sync.Mutex
	last time.Time // the last fetch
	err  error     // the last fetch's failure, not reported yet
}

// keysFor returns the key set of meta's jwks_uri.
func (c *Client) keysFor(ctx context.Context, meta *Metadata) *keySet {
	c.keysMu.Lock()
	defer c.keysMu.Unlock()
	if meta.keys == nil {
		meta.keys = &keySet{c: c}
		meta.keys.RemoteKeySet = oidc.NewRemoteKeySet(oidc.ClientContext(ctx, &http.Client{Transport: meta.keys}), meta.JWKSURI)
	}
	return meta.keys
}

func (ks *keySet) RoundTrip(req *http.Request) (*http.Response, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.c.o.Now()
	if !ks.last.IsZero() && now.Sub(ks.last) < jwksRefetch {
		return nil, fmt.Errorf("the key set was fetched less than %s ago", jwksRefetch)
	}
	ks.last = now
	body, err := ks.c.send(req.Clone(req.Context()), "JWKS request to "+redact.URL(req.URL.String()), maxResponse, nil)
	if err != nil {
		ks.err = err
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
}

// failure returns, once, the error of the last failed fetch.
func (ks *keySet) failure() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	err := ks.err
	ks.err = nil
	return err
}

// jwksRefetch is the least time between two fetches of a key set (an
// unknown kid asks for one).
const jwksRefetch = 10 * time.Second

// Grant type URNs.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// federatedGrant runs jwt_bearer or token_exchange with the subject token
// (the assertion of jwt_bearer, the subject_token of token_exchange) read
// fresh from its source: it is never cached.
func (c *Client) federatedGrant(ctx context.Context) (tokens.Token, error) {
	if c.p.SubjectToken == nil {
		return tokens.Token{}, fmt.Errorf("provider %q: authFlow %s needs subjectTokenSource", c.p.ID, c.p.Flow)
	}
	subject, err := c.readSource(ctx, "subjectTokenSource", c.p.SubjectToken)
	if err != nil {
		return tokens.Token{}, err
	}
	if c.p.Flow == config.JWTBearer {
		return c.machineGrant(ctx, "jwt_bearer token request", url.Values{
			"grant_type": {GrantJWTBearer},
			"assertion":  {subject.Reveal()},
		})
	}
	v := url.Values{
		"grant_type":         {GrantTokenExchange},
		"subject_token":      {subject.Reveal()},
		"subject_token_type": {cmp.Or(c.p.SubjectTokenType, config.DefaultSubjectTokenType)},
	}
	if c.p.RequestedTokenType != "" {
		v.Set("requested_token_type", c.p.RequestedTokenType)
	}
	return c.machineGrant(ctx, "token_exchange token request", v)
}

// machineGrant adds what every machine grant sends (scope, resource,
// audience) to grant and requests the token.
func (c *Client) machineGrant(ctx context.Context, op string, grant url.Values) (tokens.Token, error) {
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	c.setGrantParams(grant, nil)
	return c.tokenRequest(ctx, op, meta, grant)
}

// Refresh implements tokens.Grant: the refresh_token grant. No scope is
// sent, so the server keeps the original grant's scopes. When the answer
// has no refresh token, the one sent is kept (x/oauth2 does this).
func (c *Client) Refresh(ctx context.Context, t tokens.Token) (tokens.Token, error) {
	if t.RefreshToken.IsZero() {
		return tokens.Token{}, fmt.Errorf("provider %q: no refresh token: %w", c.p.ID, tokens.ErrInvalidGrant)
	}
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	out, err := c.tokenRequest(ctx, "refresh token request", meta, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {t.RefreshToken.Reveal()},
	})
	if err != nil {
		return tokens.Token{}, err
	}
	// A refresh response may carry a new id_token (OIDC Core 12.2): verify it
	// like the first one, without a nonce, and keep the subject unchanged.
	if !out.IDToken.IsZero() && meta.JWKSURI != "" {
		if _, err := c.verifyIDToken(ctx, meta, out.IDToken, secret.String{}); err != nil {
			return tokens.Token{}, fmt.Errorf("provider %q: the id_token of the refresh response is invalid: %w", c.p.ID, err)
		}
	}
	return out, nil
}

// Token type hints of RFC 7009 section 2.1.
const (
	HintRefreshToken = "refresh_token"
	HintAccessToken  = "access_token"
)

// ErrNoRevocationEndpoint: the server metadata names no revocation_endpoint
// and the provider configures none (revocationEndpoint).
var ErrNoRevocationEndpoint = errors.New("the server has no revocation endpoint")

// ErrUnsupportedTokenType: the server cannot revoke this kind of token
// (RFC 7009 unsupported_token_type), e.g. self-contained JWT access tokens.
var ErrUnsupportedTokenType = errors.New("the server cannot revoke this kind of token")

// Revoke asks the server to revoke token (RFC 7009), authenticating the way
// the token endpoint is authenticated. hint is HintRefreshToken,
// HintAccessToken or "". Revoking a token the server no longer knows
// succeeds (RFC 7009 2.2). Errors are *Error values classified like token
// errors (a 503 or a timeout is tokens.ErrTransient), or wrap
// ErrNoRevocationEndpoint or ErrUnsupportedTokenType; they never contain the
// token.
func (c *Client) Revoke(ctx context.Context, token secret.String, hint string) error {
	if token.IsZero() {
		return fmt.Errorf("provider %q: no token to revoke", c.p.ID)
	}
	meta, err := c.Metadata(ctx)
	if err != nil {
		return err
	}
	if meta.RevocationEndpoint == "" {
		return fmt.Errorf("provider %q: %w (no revocation_endpoint in the server metadata; set revocationEndpoint in the oauth2 block if it has one)",
			c.p.ID, ErrNoRevocationEndpoint)
	}
	op, form := "revocation request", url.Values{"token": {token.Reveal()}}
	if hint != "" {
		op = hint + " revocation request"
		form.Set("token_type_hint", hint)
	}
	c.log.Debug("revocation request", "revocation_endpoint", meta.RevocationEndpoint, "token_type_hint", hint)
	_, err = c.postForm(ctx, op, meta.RevocationEndpoint, meta, form)
	if e, ok := errors.AsType[*Error](err); ok && e.Code == "unsupported_token_type" {
		return fmt.Errorf("%w: %w", ErrUnsupportedTokenType, err)
	}
	return err
}

// maxSubjectToken bounds a subject token read from a file or GitHub.
const maxSubjectToken = 64 << 10

// readSource reads a token from src, the provider's setting named name.
func (c *Client) readSource(ctx context.Context, name string, src *config.SubjectTokenSource) (secret.String, error) {
	label := fmt.Sprintf("provider %q: %s (%s)", c.p.ID, name, src.Type)
	switch src.Type {
	case config.SourceEnv:
		v := strings.TrimSpace(c.o.Getenv(src.Var))
		if v == "" {
			return secret.String{}, fmt.Errorf("%s: environment variable %s is not set or is empty", label, src.Var)
		}
		return secret.New(v), nil
	case config.SourceFile, config.SourceKubernetesSA: // config set the default tokenPath
		data, err := safefile.Read(src.Path, maxSubjectToken)
		if safefile.IsNotExist(err) {
			return secret.String{}, fmt.Errorf("%s: no file at %s; check the volume mount or the path", label, src.Path)
		}
		if err != nil {
			return secret.String{}, fmt.Errorf("%s: cannot read the token: %w", label, err)
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			return secret.String{}, fmt.Errorf("%s: the file at %s is empty", label, src.Path)
		}
		return secret.New(v), nil
	case config.SourceGitHubActions:
		return c.githubActionsToken(ctx, label, fmt.Sprintf("%s (%s): OIDC token request", name, src.Type), src.Audience)
	}
	return secret.String{}, fmt.Errorf("%s: unknown source type", label)
}

// githubActionsToken asks the GitHub Actions runtime for an OIDC token.
func (c *Client) githubActionsToken(ctx context.Context, label, op, audience string) (secret.String, error) {
	reqURL := strings.TrimSpace(c.o.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"))
	reqToken := strings.TrimSpace(c.o.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
	if reqURL == "" || reqToken == "" {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set; this source works only inside a GitHub Actions job with `permissions: id-token: write`", label)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil) // bounded by the HTTP client's timeout, as every request
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL is not a URL", label)
	}
	q := req.URL.Query()
	q.Set("audience", audience)
	req.URL.RawQuery = q.Encode()
	req.Header.Set("Authorization", "Bearer "+reqToken)
	body, err := c.send(req, op, maxSubjectToken, []string{reqToken})
	if err != nil {
		return secret.String{}, err
	}
	var payload struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Value == "" {
		return secret.String{}, fmt.Errorf("%s: the response has no `value` field", label)
	}
	return secret.New(payload.Value), nil
}

// ClientAssertionType is the client_assertion_type of RFC 7523 section 2.2.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a signed client assertion is valid.
const assertionLifetime = 5 * time.Minute

// maxKeyFile bounds a key file.
const maxKeyFile = 1 << 20

// loadAssertionKey reads clientAssertionKeyFile: a PEM private key
// (PKCS#8, PKCS#1 RSA or SEC1 EC) or a JSON JWK or JWK set holding a
// private key. The key id is clientAssertionKeyId, else the JWK's kid;
// the algorithm clientAssertionAlg, else the JWK's alg, else the key
// type's usual one. Errors name the file but never show its content.
func loadAssertionKey(p config.Provider) (jose.Signer, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("provider %q: clientAssertionKeyFile %s: %s", p.ID, p.ClientAssertionKeyFile, fmt.Sprintf(format, a...))
	}
	data, err := safefile.Read(p.ClientAssertionKeyFile, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("provider %q: clientAssertionKeyFile: %w", p.ID, err)
	}
	var jwk jose.JSONWebKey
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		jwk, err = jwkFromJSON(trimmed, p.ClientAssertionKeyID)
	} else {
		jwk.Key, err = keyFromPEM(data)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	jwk.KeyID = cmp.Or(p.ClientAssertionKeyID, jwk.KeyID)
	algs := signingAlgs(jwk.Key)
	if algs == nil {
		return nil, fail("holds a %T key; expected an RSA (2048 bits or more), EC (P-256, P-384, P-521) or Ed25519 private key", jwk.Key)
	}
	alg := cmp.Or(p.ClientAssertionAlg, jwk.Algorithm, algs[0])
	if !slices.Contains(algs, alg) {
		return nil, fail("clientAssertionAlg %q does not fit this key; use one of %s", alg, strings.Join(algs, ", "))
	}
	jwk.Algorithm = alg
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fail("cannot sign with it: %v", err)
	}
	return signer, nil
}

// pemKeys reads the PEM blocks of unencrypted private keys; name is the
// key's kind in errors.
var pemKeys = map[string]struct {
	name  string
	parse func([]byte) (any, error)
}{
	"PRIVATE KEY":     {"PKCS#8 key", x509.ParsePKCS8PrivateKey},
	"RSA PRIVATE KEY": {"PKCS#1 RSA key", func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) }},
	"EC PRIVATE KEY":  {"EC key", func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) }},
}

// keyFromPEM returns the first private key of a PEM file.
func keyFromPEM(data []byte) (any, error) {
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("holds an encrypted key; store it unencrypted with owner-only permissions (e.g. openssl pkcs8 -topk8 -nocrypt)")
		}
		if kind, ok := pemKeys[block.Type]; ok {
			k, err := kind.parse(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the %s cannot be read: %w", kind.name, err)
			}
			return k, nil
		}
	}
	return nil, errors.New("holds no PEM private key (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block, or a JWK)")
}

// jwkFromJSON reads a private JWK, or picks one from a JWK set: the one
// with kid when kid is given, else the only private key there.
func jwkFromJSON(data []byte, kid string) (jose.JSONWebKey, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return jose.JSONWebKey{}, errors.New("is not a JSON JWK or JWK set")
	}
	if probe.Keys == nil {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(data); err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("is not a usable JWK: %s", jwkError(err))
		}
		if k.IsPublic() {
			return jose.JSONWebKey{}, errors.New("holds a public JWK; the private key is needed to sign")
		}
		return k, nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("is not a usable JWK set: %s", jwkError(err))
	}
	private := slices.DeleteFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.IsPublic() || (kid != "" && k.KeyID != kid) })
	switch {
	case len(private) == 1:
		return private[0], nil
	case len(private) == 0 && kid != "":
		return jose.JSONWebKey{}, fmt.Errorf("has no private key with kid %q (clientAssertionKeyId)", kid)
	case len(private) == 0:
		return jose.JSONWebKey{}, errors.New("has no private key")
	}
	var kids []string
	for _, k := range private {
		kids = append(kids, strconv.Quote(k.KeyID))
	}
	return jose.JSONWebKey{}, fmt.Errorf("has %d private keys (kid %s); choose one with clientAssertionKeyId", len(private), strings.Join(kids, ", "))
}

// jwkError keeps go-jose's reason without any key material (it names
// fields and sizes, but be safe: only its first line, bounded).
func jwkError(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return redact.Truncate(msg, 120)
}

// signingAlgs are the JWS algorithms key can sign with, the usual one
// first, or nil for an unusable key.
func signingAlgs(key any) []string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PrivateKey:
		if alg, ok := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[k.Curve]; ok {
			return []string{alg}
		}
	case ed25519.PrivateKey:
		return []string{"EdDSA"}
	}
	return nil
}
