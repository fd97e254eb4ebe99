package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// externalKey loads the private signing key of ExternalIssuer from
// examples/test-stack/keys/external.json.
func externalKey(root string) (jose.JSONWebKey, error) {
	path := filepath.Join(root, "examples", "test-stack", "keys", "external.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("read external key: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("parse %s: %w", path, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return k, nil
		}
	}
	return jose.JSONWebKey{}, fmt.Errorf("%s holds no private key", path)
}

// MintSubjectToken returns a JWT signed by ExternalIssuer's key, for the subject, with
// `aud` = audience (the server accepts its issuer URL, its token endpoint URL or the
// requesting client's id; "" means s.Issuer), `exp` = now + ttl (a negative ttl makes
// an expired token), plus iat and a random jti. It serves both as an RFC 7523
// assertion (jwt-bearer) and as an RFC 8693 subject_token (token exchange).
func (s *AuthServer) MintSubjectToken(t testing.TB, audience, subject string, ttl time.Duration) string {
	t.Helper()
	if audience == "" {
		audience = s.Issuer
	}
	return mintExternal(t, s.root, audience, subject, ttl)
}

// mintExternal signs the claims of MintSubjectToken with ExternalIssuer's key.
func mintExternal(t testing.TB, root, audience, subject string, ttl time.Duration) string {
	t.Helper()
	key, err := externalKey(root)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		t.Fatalf("testenv: signer: %v", err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		t.Fatalf("testenv: random jti: %v", err)
	}
	now := time.Now()
	claims := jwt.Claims{
		Issuer:   ExternalIssuer,
		Subject:  subject,
		Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(ttl)),
		ID:       hex.EncodeToString(jti[:]),
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("testenv: sign subject token: %v", err)
	}
	return raw
}
