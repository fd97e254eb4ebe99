package oauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

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
	alg := p.ClientAssertionAlg
	if alg == "" {
		alg = jwk.Algorithm
	}
	if alg == "" {
		alg = algs[0]
	}
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
