package testgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxMetadataBytes bounds the discovery document and JWKS the gateway reads.
const maxMetadataBytes = 1 << 20

// acceptedAlgorithms are the JWS algorithms the gateway accepts for access tokens.
var acceptedAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Principal is what the gateway learned from a valid access token.
type Principal struct {
	Subject  string
	ClientID string
	Scope    string
}

// accessTokenClaims are the claims the gateway reads besides the registered ones.
type accessTokenClaims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// keySource fetches and caches the issuer's JWKS, found through its discovery document.
type keySource struct {
	issuer     string
	client     *http.Client
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time

	mu        sync.Mutex
	jwksURI   string
	keys      *jose.JSONWebKeySet
	fetchedAt time.Time
}

// key returns the verification key with kid, refreshing the cached set when it is stale
// or does not know kid (at most once per minRefresh, so bad tokens cannot hammer the
// issuer).
func (s *keySource) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.now()
	stale := s.keys == nil || now.Sub(s.fetchedAt) > s.ttl
	if !stale {
		if k := lookup(s.keys, kid); k != nil {
			return k, nil
		}
		if now.Sub(s.fetchedAt) < s.minRefresh {
			return nil, fmt.Errorf("no key with kid %q in the issuer's JWKS", kid)
		}
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	if k := lookup(s.keys, kid); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no key with kid %q in the issuer's JWKS", kid)
}

func lookup(set *jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	if set == nil {
		return nil
	}
	if kid == "" {
		if len(set.Keys) == 1 {
			return &set.Keys[0]
		}
		return nil
	}
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.KeyID == kid && (k.Use == "" || k.Use == "sig") {
			return k
		}
	}
	return nil
}

// refresh must be called with s.mu held.
func (s *keySource) refresh(ctx context.Context) error {
	if s.jwksURI == "" {
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		discovery := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
		if err := s.getJSON(ctx, discovery, &meta); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		if meta.Issuer != s.issuer {
			return fmt.Errorf("discovery: issuer %q does not match the expected %q", meta.Issuer, s.issuer)
		}
		if meta.JWKSURI == "" {
			return errors.New("discovery: no jwks_uri")
		}
		s.jwksURI = meta.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := s.getJSON(ctx, s.jwksURI, &set); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	s.keys = &set
	s.fetchedAt = s.now()
	return nil
}

func (s *keySource) getJSON(ctx context.Context, url string, dest any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %d", url, resp.StatusCode)
	}
	if err := json.Unmarshal(body, dest); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// verifier checks bearer access tokens: signature against the issuer's JWKS, iss, aud,
// exp (required), nbf and iat.
type verifier struct {
	keys     *keySource
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
}

func (v *verifier) verify(ctx context.Context, raw string) (Principal, error) {
	tok, err := jwt.ParseSigned(raw, acceptedAlgorithms)
	if err != nil {
		return Principal{}, fmt.Errorf("malformed token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return Principal{}, errors.New("token must have exactly one signature")
	}
	key, err := v.keys.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return Principal{}, err
	}
	var std jwt.Claims
	var extra accessTokenClaims
	if err := tok.Claims(key.Public(), &std, &extra); err != nil {
		return Principal{}, fmt.Errorf("invalid signature: %w", err)
	}
	if std.Expiry == nil {
		return Principal{}, errors.New("token has no exp claim")
	}
	expected := jwt.Expected{
		Issuer:      v.issuer,
		AnyAudience: jwt.Audience{v.audience},
		Time:        v.now(),
	}
	if err := std.ValidateWithLeeway(expected, v.leeway); err != nil {
		return Principal{}, fmt.Errorf("claims rejected: %w", err)
	}
	if std.Subject == "" && extra.ClientID == "" {
		return Principal{}, errors.New("token has neither sub nor client_id")
	}
	return Principal{Subject: std.Subject, ClientID: extra.ClientID, Scope: extra.Scope}, nil
}

// bearerToken extracts the token of an `Authorization: Bearer` header.
// tokenFrom takes the token from header after scheme (Authorization and
// Bearer when header is ""); a token anywhere else does not count.
func tokenFrom(r *http.Request, header, scheme string) (string, error) {
	if header == "" || (strings.EqualFold(header, "Authorization") && strings.EqualFold(scheme, "Bearer")) {
		return bearerToken(r)
	}
	h := strings.TrimSpace(r.Header.Get(header))
	if scheme != "" {
		s, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(s, scheme) {
			return "", fmt.Errorf("the %s header does not carry a %s token", header, scheme)
		}
		h = strings.TrimSpace(rest)
	}
	if h == "" {
		return "", fmt.Errorf("missing %s header", header)
	}
	return h, nil
}

func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errors.New("missing Authorization header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("Authorization header is not a Bearer token")
	}
	return strings.TrimSpace(token), nil
}
