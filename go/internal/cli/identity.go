package cli

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// maxJWT bounds a token the command line decodes for display.
const maxJWT = 64 << 10

// identity is what the cached id_token says about the user. It is decoded
// without verifying the signature: the id_token was verified when it was
// received (login), and here it is only shown, never trusted.
type identity struct {
	Subject  string `json:"sub,omitempty"`
	Email    string `json:"email,omitempty"`
	Username string `json:"preferred_username,omitempty"`
	Name     string `json:"name,omitempty"`
	// Verified is always false: the claims are decoded for display only.
	Verified bool `json:"verified"`
}

// String is the most readable identifier: email, user name, name, subject.
func (i identity) String() string {
	for _, v := range []string{i.Email, i.Username, i.Name, i.Subject} {
		if v != "" {
			return v
		}
	}
	return ""
}

// jwtClaims decodes the payload of a JWT without verifying it. ok is false
// when raw is not a JWT with a JSON object payload.
func jwtClaims(raw secret.String) (map[string]any, bool) {
	s := raw.Reveal()
	if s == "" || len(s) > maxJWT {
		return nil, false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil || claims == nil {
		return nil, false
	}
	return claims, true
}

// claimString is one string claim of a JWT (unverified), or "".
func claimString(raw secret.String, name string) string {
	claims, ok := jwtClaims(raw)
	if !ok {
		return ""
	}
	v, _ := claims[name].(string)
	return v
}

// identityOf reads the identity claims of an id_token (unverified).
func identityOf(idToken secret.String) (identity, bool) {
	claims, ok := jwtClaims(idToken)
	if !ok {
		return identity{}, false
	}
	str := func(k string) string {
		v, _ := claims[k].(string)
		return redact.Clean(v, 120)
	}
	id := identity{Subject: str("sub"), Email: str("email"), Username: str("preferred_username"), Name: str("name")}
	return id, id.String() != ""
}
