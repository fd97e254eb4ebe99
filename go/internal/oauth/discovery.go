package oauth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
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
