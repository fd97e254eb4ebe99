package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

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
}

// needsDiscovery reports whether the overrides are enough for the flow.
func (c *Client) needsDiscovery() bool {
	e := c.p.Endpoints
	if e.Token == "" {
		return true
	}
	switch c.p.Flow {
	case config.AuthorizationCode:
		return e.Authorization == "" || (hasOpenID(c.p.Scopes) && e.JWKS == "")
	case config.DeviceCode:
		return e.DeviceAuthorization == "" || (hasOpenID(c.p.Scopes) && e.JWKS == "")
	}
	return false
}

func hasOpenID(scopes []string) bool { return slices.Contains(scopes, "openid") }

// Metadata returns the server metadata, discovered at most once per TTL.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if c.meta != nil && c.now().Sub(c.metaAt) < metadataTTL {
		return c.meta, nil
	}
	m := &Metadata{}
	if c.needsDiscovery() {
		d, err := c.discover(ctx)
		if err != nil {
			return nil, err
		}
		m = d
		m.Discovered = true
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
	c.meta, c.metaAt = m, c.now()
	return m, nil
}

// DiscoveryURLs are an issuer's metadata locations: OIDC's, then RFC 8414's.
func DiscoveryURLs(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer is not a URL: %w", err)
	}
	path := strings.TrimSuffix(u.Path, "/")
	oidc := *u
	oidc.Path = path + "/.well-known/openid-configuration"
	rfc := *u
	rfc.Path = "/.well-known/oauth-authorization-server" + path
	return []string{oidc.String(), rfc.String()}, nil
}

func (c *Client) discover(ctx context.Context) (*Metadata, error) {
	urls, err := DiscoveryURLs(c.p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", c.p.ID, err)
	}
	var firstErr error
	for _, u := range urls {
		m, err := c.fetchMetadata(ctx, u)
		if err == nil {
			if !sameIssuer(m.Issuer, c.p.Issuer) {
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

func sameIssuer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

func (c *Client) fetchMetadata(ctx context.Context, u string) (*Metadata, error) {
	op := "discovery at " + redact.URL(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %s: %w", c.p.ID, op, err)
	}
	body, err := c.send(req, op, maxMetadata, nil)
	if err != nil {
		return nil, err
	}
	var m Metadata
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
		if c.p.AllowInsecureHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s uses http:// on a non-loopback host; use https or set allowInsecureHttp: true for this provider", redact.URL(raw))
	}
	return fmt.Errorf("%s: unsupported scheme %q", redact.URL(raw), u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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

// maxJWKS bounds a JWKS document; jwksTTL is how long a fetched set is
// trusted before it is fetched again; jwksRefetch is the least time
// between two fetches (an unknown kid asks for one).
const (
	maxJWKS     = 1 << 20
	jwksTTL     = time.Hour
	jwksRefetch = 10 * time.Second
)

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
