package config

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

func keyProvider() Provider {
	return Provider{
		ID: "acme", Name: "Acme", BaseURL: "https://llm.example.com/v1",
		Issuer: "https://idp.example.com", ClientID: "cli", Flow: TokenExchange,
		Scopes: []string{"openid", "profile"}, Audience: "gw", Resources: []string{"https://a", "https://b"},
		SubjectTokenType: DefaultSubjectTokenType, RequestedTokenType: "urn:x",
		SubjectToken: &SubjectTokenSource{Type: SourceEnv, Var: "T"},
		Endpoints:    Endpoints{Token: "https://idp.example.com/token"},
	}
}

func TestCacheKeyIsStableAndShaped(t *testing.T) {
	k := keyProvider().CacheKey()
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), k)
	assert.Equal(t, k, keyProvider().CacheKey())
	// Pinned: changing the encoding must be deliberate (bump cacheKeyVersion).
	assert.Equal(t, "ffc1d0293f7e9ecf5a30b901a365f8cd", k)
}

func TestCacheKeyChangesWithWhatMakesATokenValid(t *testing.T) {
	base := keyProvider().CacheKey()
	changes := map[string]func(p *Provider){
		"issuer":             func(p *Provider) { p.Issuer += "/x" },
		"client id":          func(p *Provider) { p.ClientID = "other" },
		"flow":               func(p *Provider) { p.Flow = JWTBearer },
		"scopes":             func(p *Provider) { p.Scopes = append(p.Scopes, "email") },
		"audience":           func(p *Provider) { p.Audience = "other" },
		"resources":          func(p *Provider) { p.Resources = p.Resources[:1] },
		"subject token type": func(p *Provider) { p.SubjectTokenType = "urn:y" },
		"requested type":     func(p *Provider) { p.RequestedTokenType = "" },
		"token endpoint":     func(p *Provider) { p.Endpoints.Token = "" },
		"source type":        func(p *Provider) { p.SubjectToken = &SubjectTokenSource{Type: SourceFile, Path: "T"} },
		"source var":         func(p *Provider) { p.SubjectToken.Var = "U" },
		"no source":          func(p *Provider) { p.SubjectToken = nil },
		// Length-prefixing: moving a character between fields changes the key.
		"field boundary": func(p *Provider) { p.Issuer, p.ClientID = "https://idp.example.comc", "li" },
		"scope boundary": func(p *Provider) { p.Scopes = []string{"openidprofile"} },
	}
	seen := map[string]string{base: "base"}
	for name, change := range changes {
		p := keyProvider()
		p.SubjectToken = &SubjectTokenSource{Type: SourceEnv, Var: "T"} // fresh copy
		change(&p)
		k := p.CacheKey()
		assert.NotContains(t, seen, k, "%s collides with %s", name, seen[k])
		seen[k] = name
	}
}

func TestCacheKeyIgnoresWhatDoesNotScopeAToken(t *testing.T) {
	base := keyProvider().CacheKey()
	p := keyProvider()
	p.ID, p.Name, p.BaseURL, p.Origin = "other", "Other", "https://other", "elsewhere"
	p.ClientSecret = secret.New("rotated")
	p.Scopes = []string{"profile", "openid", "profile"} // order and duplicates
	p.Resources = []string{"https://b", "https://a"}
	p.PKCE, p.RedirectPort, p.ResponseAPI = false, 9999, true
	p.Endpoints.Authorization = "https://idp.example.com/auth"
	assert.Equal(t, base, p.CacheKey())
}
