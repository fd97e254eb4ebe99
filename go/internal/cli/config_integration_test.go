//go:build integration

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLIFindsTheConfigLikeOpenCode: each way OpenCode finds its config
// works for the command line too (status reads no network).
func TestCLIFindsTheConfigLikeOpenCode(t *testing.T) {
	const entry = `{"options": {"baseURL": "https://gw.example/v1", "oauth2": {
		"issuer": "%s", "clientId": "cli", "authFlow": "client_credentials", "clientSecret": "{file:secret.txt}"}}}`
	body := func(issuer string) string {
		return `{
			// written by a person
			"provider": {"gw": ` + fmt.Sprintf(entry, issuer) + `,},
		}`
	}
	cases := []struct {
		name       string
		setup      func(t *testing.T, e *cliEnv) []string // returns extra arguments
		wantIssuer string
		wantKinds  []string
		code       int
	}{
		{"global opencode.jsonc", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.xdg, "opencode", "opencode.jsonc"), body("https://global.example"))
			write(t, filepath.Join(e.xdg, "opencode", "secret.txt"), "s\n")
			return nil
		}, "https://global.example", []string{"global"}, exitOK},
		{"project file found from a subdirectory, env substituted", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.xdg, "opencode", "opencode.json"), body("https://global.example"))
			write(t, filepath.Join(e.xdg, "opencode", "secret.txt"), "s")
			write(t, filepath.Join(e.work, "opencode.jsonc"), `{"provider": {"gw": {"options": {"oauth2": {"issuer": "{env:ISSUER}"}}}}}`)
			e.extra = append(e.extra, "ISSUER=https://project.example")
			sub := filepath.Join(e.work, "src", "pkg")
			require.NoError(t, os.MkdirAll(sub, 0o700))
			e.work = sub
			return nil
		}, "https://project.example", []string{"global", "project"}, exitOK},
		{"OPENCODE_CONFIG", func(t *testing.T, e *cliEnv) []string {
			p := filepath.Join(e.home, "elsewhere", "custom.json")
			write(t, p, body("https://custom.example"))
			write(t, filepath.Join(e.home, "elsewhere", "secret.txt"), "s")
			e.extra = append(e.extra, "OPENCODE_CONFIG="+p)
			return nil
		}, "https://custom.example", []string{"OPENCODE_CONFIG"}, exitOK},
		{"OPENCODE_CONFIG_CONTENT wins over files", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.work, "opencode.json"), body("https://project.example"))
			write(t, filepath.Join(e.work, "secret.txt"), "s")
			e.extra = append(e.extra, `OPENCODE_CONFIG_CONTENT={"provider":{"gw":{"options":{"oauth2":{"issuer":"https://inline.example"}}}}}`)
			return nil
		}, "https://inline.example", []string{"project", "OPENCODE_CONFIG_CONTENT"}, exitOK},
		{"--config replaces the search", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.work, "opencode.json"), body("https://project.example"))
			write(t, filepath.Join(e.work, "secret.txt"), "s")
			p := filepath.Join(e.home, "only.jsonc")
			write(t, p, body("https://only.example"))
			write(t, filepath.Join(e.home, "secret.txt"), "s")
			return []string{"--config", p}
		}, "https://only.example", []string{"--config"}, exitOK},
		{"an invalid file is a config problem", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.work, "opencode.json"), `{"provider": }`)
			return nil
		}, "", nil, exitConfig},
		{"a missing {file:} is a config problem", func(t *testing.T, e *cliEnv) []string {
			write(t, filepath.Join(e.work, "opencode.json"), body("https://project.example"))
			return nil
		}, "", nil, exitConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t)
			extra := tc.setup(t, e)
			r := e.run(append([]string{"status", "--json"}, extra...)...)
			require.Equal(t, tc.code, r.code)
			if tc.code != exitOK {
				assert.Empty(t, r.stdout)
				assert.Contains(t, r.stderr, "opencode-oauth2 status:")
				return
			}
			var doc statusJSON
			decodeJSON(t, r.stdout, &doc)
			require.Len(t, doc.Providers, 1, "%+v", doc.Problems)
			assert.Equal(t, tc.wantIssuer, doc.Providers[0].Issuer)
			var kinds []string
			for _, s := range doc.ConfigSources {
				kinds = append(kinds, s.Kind)
			}
			assert.Equal(t, tc.wantKinds, kinds)
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, writeFile(path, content))
}

// TestCLIUsesTheCacheDirOfTheSidecar: without OPENCODE_OAUTH2_CACHE_DIR,
// the config's cacheDir is the cache, as for the sidecar.
func TestCLIUsesTheCacheDirOfTheSidecar(t *testing.T) {
	e := newCLIEnv(t)
	e.noCacheEnv = true
	configured := filepath.Join(e.home, "tokens")
	e.setConfig(map[string]any{
		"pluginConfig": map[string]any{"oauth2ModelSync": map[string]any{"cacheDir": configured}},
		"provider": map[string]any{"gw": provider("http://127.0.0.1:9/v1", map[string]any{
			"issuer": "http://" + closedPort(t), "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials"})},
	})
	r := e.run("status", "--json")
	require.Equal(t, exitOK, r.code)
	var doc statusJSON
	decodeJSON(t, r.stdout, &doc)
	assert.Equal(t, configured, doc.CacheDir)
	require.Len(t, doc.Providers, 1)
	assert.True(t, strings.HasPrefix(doc.Providers[0].CacheFile, configured+string(filepath.Separator)))

	r = e.run("doctor", "--json")
	var rep report
	decodeJSON(t, r.stdout, &rep)
	var cacheDetails []string
	for _, ch := range rep.Checks {
		if ch.Section == "cache" {
			cacheDetails = append(cacheDetails, ch.Detail)
		}
	}
	require.NotEmpty(t, cacheDetails)
	assert.Contains(t, cacheDetails[len(cacheDetails)-1], configured)

	e.extra = append(e.extra, "OPENCODE_OAUTH2_CACHE_DIR="+e.cache)
	r = e.run("status", "--json")
	decodeJSON(t, r.stdout, &doc)
	assert.Equal(t, e.cache, doc.CacheDir, "the environment variable wins")
}
