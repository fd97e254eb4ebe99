package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// randomSecret returns n random bytes, base64url without padding.
func randomSecret(n int) (secret.String, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return secret.String{}, fmt.Errorf("random generator: %w", err)
	}
	return secret.New(base64.RawURLEncoding.EncodeToString(b)), nil
}

// pkce is an RFC 7636 verifier and its S256 challenge.
type pkce struct {
	verifier  secret.String
	challenge string
}

// newPKCE draws a 43-character verifier (32 random bytes).
func newPKCE() (pkce, error) {
	v, err := randomSecret(32)
	if err != nil {
		return pkce{}, fmt.Errorf("PKCE verifier: %w", err)
	}
	return pkce{verifier: v, challenge: s256(v)}, nil
}

// s256 is BASE64URL(SHA256(verifier)).
func s256(verifier secret.String) string {
	sum := sha256.Sum256([]byte(verifier.Reveal()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
