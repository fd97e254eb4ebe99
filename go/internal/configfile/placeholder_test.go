package configfile

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlaceholdersAreTraced: the paths of values that came from {env:} or
// {file:} are known after substitution, with a later layer's plain value
// winning, so that a problem with such a value can name its placeholder.
func TestPlaceholdersAreTraced(t *testing.T) {
	l := newLayout(t)
	l.write(t, filepath.Join(l.xdg, "opencode", "opencode.json"), `{
	  // {env:IN_A_COMMENT}
	  "provider": {
	    "acme": {"options": {"baseURL": "{env:GATEWAY_URL}", "oauth2": {
	      "issuer": "https://{env:IDP_HOST}/realms/{env:REALM}",
	      "clientSecret": "{file:secret.txt}",
	      "scopes": ["openid", "{env:EXTRA_SCOPE}"]}}},
	    "odd.id": {"options": {"baseURL": "{env:ODD}"}},
	    "later": {"options": {"baseURL": "{env:OVERRIDDEN}"}}
	  },
	  "port": {env:PORT}
	}`)
	l.write(t, filepath.Join(l.xdg, "opencode", "secret.txt"), "s3cret\n")
	l.write(t, filepath.Join(l.repo, "opencode.json"), `{"provider": {"later": {"options": {"baseURL": "https://llm.example.com/v1"}}}}`)
	l.env["PORT"] = "8080"
	cfg, err := Load(Options{Dir: l.work, Home: l.home, Getenv: func(k string) string { return l.env[k] }})
	require.NoError(t, err)
	// The global layer holds a bare {env:PORT}: not JSON before
	// substitution, so its placeholders cannot be traced.
	assert.Empty(t, cfg.Placeholders)

	l.write(t, filepath.Join(l.xdg, "opencode", "opencode.json"), `{
	  "provider": {
	    "acme": {"options": {"baseURL": "{env:GATEWAY_URL}", "oauth2": {
	      "issuer": "https://{env:IDP_HOST}/realms/{env:REALM}",
	      "clientSecret": "{file:secret.txt}",
	      "scopes": ["openid", "{env:EXTRA_SCOPE}"]}}},
	    "odd.id": {"options": {"baseURL": "{env:ODD}"}},
	    "later": {"options": {"baseURL": "{env:OVERRIDDEN}"}}
	  }
	}`)
	cfg, err = Load(Options{Dir: l.work, Home: l.home, Getenv: func(k string) string { return l.env[k] }})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"provider.acme.options.baseURL":             {"{env:GATEWAY_URL}"},
		"provider.acme.options.oauth2.issuer":       {"{env:IDP_HOST}", "{env:REALM}"},
		"provider.acme.options.oauth2.clientSecret": {"{file:secret.txt}"},
		"provider.acme.options.oauth2.scopes[1]":    {"{env:EXTRA_SCOPE}"},
		`provider["odd.id"].options.baseURL`:        {"{env:ODD}"},
	}, cfg.Placeholders, "a later layer's plain value wins over a placeholder")
}
