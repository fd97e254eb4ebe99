package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// examplesDir holds the opencode.json files the docs point to.
var examplesDir = filepath.Join("..", "..", "..", "examples")

// exampleFlows is every examples/*.json file with the providers it must
// yield, in order, and their grant. A new example must be added here.
var exampleFlows = map[string][]struct {
	id   string
	flow Flow
}{
	"authorization-code.json":        {{"corp-llm", AuthorizationCode}},
	"device-code.json":               {{"corp-llm", DeviceCode}},
	"client-credentials.json":        {{"corp-llm", ClientCredentials}},
	"jwt-bearer-github-actions.json": {{"corp-llm", JWTBearer}},
	"token-exchange-kubernetes.json": {{"corp-llm", TokenExchange}},
	"plugin-config-shape.json":       {{"corp-llm", AuthorizationCode}, {"research-llm", ClientCredentials}},
	"cloudflare-ai-gateway.json":     {{"corp-llm", ClientCredentials}},
	"portkey.json":                   {{"corp-llm", AuthorizationCode}},
}

// OpenCode replaces {env:NAME} in the config text before any plugin sees
// it (and {file:path} with a file's content). The examples use {env:...}
// for secrets; the test stands in a value for each.
var (
	envRef  = regexp.MustCompile(`\{env:([^}]+)\}`)
	fileRef = regexp.MustCompile(`\{file:[^}]+\}`)
)

func substituteEnv(text []byte) []byte {
	return envRef.ReplaceAllFunc(text, func(m []byte) []byte {
		return append([]byte("example-value-of-"), envRef.FindSubmatch(m)[1]...)
	})
}

// TestExamplesParse keeps examples/*.json working: each parses without any
// problem (error or warning) and yields exactly the expected providers.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var listed []string
	for name := range exampleFlows {
		listed = append(listed, name)
	}
	slices.Sort(listed)
	require.Equal(t, listed, names, "examples/*.json and exampleFlows in this test must name the same files")

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(examplesDir, name))
			require.NoError(t, err)
			require.False(t, fileRef.Match(raw), "use {env:...} in examples; {file:...} is not substituted by this test")
			res := parse(t, substituteEnv(raw))
			assert.Empty(t, messages(res), "an example must parse without errors or warnings")
			for _, p := range res.Problems {
				assert.NotEqual(t, SeverityError, p.Severity, "error: %s", p.Message())
			}
			want := exampleFlows[name]
			require.Len(t, res.Providers, len(want), "managed providers of %s", name)
			for i, w := range want {
				assert.Equal(t, w.id, res.Providers[i].ID)
				assert.Equal(t, w.flow, res.Providers[i].Flow, "authFlow of %s", w.id)
			}
		})
	}
}
