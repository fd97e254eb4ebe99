package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

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

// maxJWKS bounds a JWKS document; jwksTTL is how long a fetched set is used
// before it is fetched again (an unknown kid also triggers a fetch).
const (
	maxJWKS = 1 << 20
	jwksTTL = time.Hour
)

// verifiedID holds the verified claims of an id_token that the plugin uses.
type verifiedID struct {
	Subject string
	Expiry  time.Time
}

type idClaims struct {
	AuthorizedParty string `json:"azp"`
	Nonce           string `json:"nonce"`
}

// jwksCache keeps the last key set fetched from one jwks_uri.
type jwksCache struct {
	mu   sync.Mutex
	uri  string
	set  *jose.JSONWebKeySet
	at   time.Time
	last time.Time // last fetch attempt, to bound refetches on unknown kids
}

// verifyIDToken checks raw against the server's JWKS: signature (with an
// allowed algorithm and a key of the set), iss, aud (contains client_id; azp
// when there are several audiences or an azp at all), exp with a small
// leeway, and the nonce when one was sent.
func (c *Client) verifyIDToken(ctx context.Context, meta *Metadata, raw, nonce secret.String) (verifiedID, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("provider %q: the id_token was rejected: %s", c.p.ID, fmt.Sprintf(format, a...))
	}
	tok, err := jwt.ParseSigned(raw.Reveal(), idTokenAlgs)
	if err != nil {
		return verifiedID{}, fail("not a signed JWT with an allowed algorithm (%s)", redact.Text(err.Error(), 120))
	}
	if len(tok.Headers) != 1 {
		return verifiedID{}, fail("expected exactly one signature")
	}
	hdr := tok.Headers[0]
	if meta.JWKSURI == "" {
		return verifiedID{}, fail("the server metadata has no jwks_uri to verify it with; set jwksUri in the oauth2 block")
	}

	var std jwt.Claims
	var extra idClaims
	verified := false
	for attempt := 0; attempt < 2 && !verified; attempt++ {
		set, err := c.jwks(ctx, meta.JWKSURI, attempt > 0)
		if err != nil {
			return verifiedID{}, err
		}
		for _, key := range candidateKeys(set, hdr) {
			if tok.Claims(key.Key, &std, &extra) == nil {
				verified = true
				break
			}
		}
	}
	if !verified {
		return verifiedID{}, fail("the signature does not verify with any key of %s (alg %s, kid %q)",
			redact.URL(meta.JWKSURI), hdr.Algorithm, redact.Text(hdr.KeyID, 80))
	}

	switch {
	case std.Expiry == nil:
		return verifiedID{}, fail("no exp claim")
	case std.Subject == "":
		return verifiedID{}, fail("no sub claim")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{
		Issuer:      meta.Issuer,
		AnyAudience: jwt.Audience{c.p.ClientID},
		Time:        c.now(),
	}, idTokenLeeway); err != nil {
		switch {
		case errors.Is(err, jwt.ErrInvalidIssuer):
			return verifiedID{}, fail("iss is %q, expected %q", redact.Text(std.Issuer, 120), meta.Issuer)
		case errors.Is(err, jwt.ErrInvalidAudience):
			return verifiedID{}, fail("aud does not contain the client id %q", c.p.ClientID)
		case errors.Is(err, jwt.ErrExpired):
			return verifiedID{}, fail("it expired at %s (is this machine's clock right?)", std.Expiry.Time().UTC().Format(time.RFC3339))
		}
		return verifiedID{}, fail("%s", redact.Text(err.Error(), 120))
	}
	if extra.AuthorizedParty != "" && extra.AuthorizedParty != c.p.ClientID {
		return verifiedID{}, fail("azp is %q, not the client id %q", redact.Text(extra.AuthorizedParty, 120), c.p.ClientID)
	}
	if len(std.Audience) > 1 && extra.AuthorizedParty == "" {
		return verifiedID{}, fail("several audiences and no azp claim")
	}
	if !nonce.IsZero() && subtle.ConstantTimeCompare([]byte(extra.Nonce), []byte(nonce.Reveal())) != 1 {
		return verifiedID{}, fail("the nonce does not match the one sent with this login")
	}
	return verifiedID{Subject: std.Subject, Expiry: std.Expiry.Time()}, nil
}

// candidateKeys are the signing keys of set that may have made hdr: the
// key with its kid (or every key without a kid), matching alg when the key
// names one.
func candidateKeys(set *jose.JSONWebKeySet, hdr jose.Header) []jose.JSONWebKey {
	keys := set.Keys
	if hdr.KeyID != "" {
		keys = set.Key(hdr.KeyID)
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != hdr.Algorithm) {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		if k.Key != nil {
			out = append(out, k)
		}
	}
	return out
}

// jwks returns the key set of uri, fetched at most once per jwksTTL; refresh
// asks for a new copy (a key rotation), at most once every 10 s.
func (c *Client) jwks(ctx context.Context, uri string, refresh bool) (*jose.JSONWebKeySet, error) {
	cache := &c.ia.jwks
	cache.mu.Lock()
	defer cache.mu.Unlock()
	now := c.now()
	if cache.set != nil && cache.uri == uri {
		fresh := now.Sub(cache.at) < jwksTTL
		if (!refresh && fresh) || (refresh && now.Sub(cache.last) < 10*time.Second) {
			return cache.set, nil
		}
	}
	cache.last = now
	set, err := c.fetchJWKS(ctx, uri)
	if err != nil {
		return nil, err
	}
	cache.uri, cache.set, cache.at = uri, set, now
	return set, nil
}

func (c *Client) fetchJWKS(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	op := "JWKS request to " + redact.URL(uri)
	if err := c.checkEndpoint(uri); err != nil {
		return nil, fmt.Errorf("provider %q: jwks_uri: %w", c.p.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %s: %w", c.p.ID, op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.classify(op, err, nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return nil, c.classify(op, err, nil)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.classify(op, answerError(resp, body), nil)
	}
	if len(body) > maxJWKS {
		return nil, fmt.Errorf("provider %q: %s: larger than %d bytes", c.p.ID, op, maxJWKS)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("provider %q: %s: not a JWK set: %s", c.p.ID, op, redact.Text(err.Error(), 120))
	}
	set := &jose.JSONWebKeySet{}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) == nil { // a key type go-jose does not know is skipped
			set.Keys = append(set.Keys, k)
		}
	}
	return set, nil
}
