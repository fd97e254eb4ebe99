package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Grant type URNs.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

func (c *Client) jwtBearer(ctx context.Context) (tokens.Token, error) {
	assertion, err := c.SubjectToken(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	return c.machineGrant(ctx, "jwt_bearer token request", url.Values{
		"grant_type": {GrantJWTBearer},
		"assertion":  {assertion.Reveal()},
	})
}

func (c *Client) tokenExchange(ctx context.Context) (tokens.Token, error) {
	subject, err := c.SubjectToken(ctx)
	if err != nil {
		return tokens.Token{}, err
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
	op := "revocation request"
	if hint != "" {
		op = hint + " revocation request"
	}
	form := url.Values{"token": {token.Reveal()}}
	if hint != "" {
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

// SubjectToken reads the provider's subject token (the assertion of
// jwt_bearer, the subject_token of token_exchange) fresh from its source.
// It is never cached.
func (c *Client) SubjectToken(ctx context.Context) (secret.String, error) {
	src := c.p.SubjectToken
	if src == nil {
		return secret.String{}, fmt.Errorf("provider %q: authFlow %s needs subjectTokenSource", c.p.ID, c.p.Flow)
	}
	return c.readSource(ctx, "subjectTokenSource", src)
}

// readSource reads a token from src, the provider's setting named name.
func (c *Client) readSource(ctx context.Context, name string, src *config.SubjectTokenSource) (secret.String, error) {
	label := fmt.Sprintf("provider %q: %s (%s)", c.p.ID, name, src.Type)
	switch src.Type {
	case config.SourceEnv:
		v := strings.TrimSpace(c.env(src.Var))
		if v == "" {
			return secret.String{}, fmt.Errorf("%s: environment variable %s is not set or is empty", label, src.Var)
		}
		return secret.New(v), nil
	case config.SourceFile, config.SourceKubernetesSA:
		path := src.Path
		if path == "" && src.Type == config.SourceKubernetesSA {
			path = config.DefaultKubernetesTokenPath
		}
		return readTokenFile(label, path)
	case config.SourceGitHubActions:
		return c.githubActionsToken(ctx, label, fmt.Sprintf("%s (%s): OIDC token request", name, src.Type), src.Audience)
	}
	return secret.String{}, fmt.Errorf("%s: unknown source type", label)
}

func readTokenFile(label, path string) (secret.String, error) {
	data, err := safefile.Read(path, maxSubjectToken)
	if safefile.IsNotExist(err) {
		return secret.String{}, fmt.Errorf("%s: no file at %s; check the volume mount or the path", label, path)
	}
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: cannot read the token: %w", label, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return secret.String{}, fmt.Errorf("%s: the file at %s is empty", label, path)
	}
	return secret.New(v), nil
}

// githubActionsToken asks the GitHub Actions runtime for an OIDC token.
func (c *Client) githubActionsToken(ctx context.Context, label, op, audience string) (secret.String, error) {
	reqURL := strings.TrimSpace(c.env("ACTIONS_ID_TOKEN_REQUEST_URL"))
	reqToken := strings.TrimSpace(c.env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
	if reqURL == "" || reqToken == "" {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set; this source works only inside a GitHub Actions job with `permissions: id-token: write`", label)
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL is not a URL", label)
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.p.HTTPTimeout, config.DefaultHTTPTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: %w", label, err)
	}
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

// assertionKey signs the client assertions of private_key_jwt.
type assertionKey struct {
	signer jose.Signer
}

// loadAssertionKey reads clientAssertionKeyFile: a PEM private key
// (PKCS#8, PKCS#1 RSA or SEC1 EC) or a JSON JWK or JWK set holding a
// private key. The key id is clientAssertionKeyId, else the JWK's kid;
// the algorithm clientAssertionAlg, else the JWK's alg, else the key
// type's usual one. Errors name the file but never show its content.
func loadAssertionKey(p config.Provider) (*assertionKey, error) {
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
	if p.ClientAssertionKeyID != "" {
		jwk.KeyID = p.ClientAssertionKeyID
	}
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
	return &assertionKey{signer: signer}, nil
}

// keyFromPEM returns the first private key of a PEM file.
func keyFromPEM(data []byte) (any, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("holds no PEM private key (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block, or a JWK)")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the PKCS#8 key cannot be read: %w", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the PKCS#1 RSA key cannot be read: %w", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the EC key cannot be read: %w", err)
			}
			return k, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("holds an encrypted key; store it unencrypted with owner-only permissions (e.g. openssl pkcs8 -topk8 -nocrypt)")
		}
	}
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
	var private []jose.JSONWebKey
	var kids []string
	for _, k := range set.Keys {
		if k.IsPublic() || (kid != "" && k.KeyID != kid) {
			continue
		}
		private = append(private, k)
		kids = append(kids, fmt.Sprintf("%q", k.KeyID))
	}
	switch {
	case len(private) == 1:
		return private[0], nil
	case len(private) == 0 && kid != "":
		return jose.JSONWebKey{}, fmt.Errorf("has no private key with kid %q (clientAssertionKeyId)", kid)
	case len(private) == 0:
		return jose.JSONWebKey{}, errors.New("has no private key")
	}
	return jose.JSONWebKey{}, fmt.Errorf("has %d private keys (kid %s); choose one with clientAssertionKeyId", len(private), strings.Join(kids, ", "))
}

// jwkError keeps go-jose's reason without any key material (it names
// fields and sizes, but be safe: only its first line, bounded).
func jwkError(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
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
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PrivateKey:
		return []string{"EdDSA"}
	}
	return nil
}

// sign makes one client assertion (RFC 7523 section 3): iss and sub the
// client id, aud the token endpoint (RFC 7523: a value identifying the
// authorization server; the token endpoint URL is the one every server
// accepts), a random jti so that it cannot be replayed, iat, and a short
// exp.
func (k *assertionKey) sign(clientID, audience string, now time.Time) (secret.String, error) {
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		ID:       oauth2.GenerateVerifier(),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	raw, err := jwt.Signed(k.signer).Claims(claims).Serialize()
	if err != nil {
		return secret.String{}, fmt.Errorf("signing the client assertion: %w", err)
	}
	return secret.New(raw), nil
}
