package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsResponsesOmitIndices(t *testing.T) {
	c, err := parseFlags([]string{"--issuer", "http://i"}, io.Discard)
	require.NoError(t, err)
	assert.False(t, c.omitIdx, "conformant Responses events by default")

	c, err = parseFlags([]string{"--issuer", "http://i", "--responses-omit-indices"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, c.omitIdx)
}

func TestModelIDsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.json")
	require.NoError(t, os.WriteFile(path, []byte(`["__proto__","esc\u001b[2J","ok"]`), 0o600))
	c, err := parseFlags([]string{"--issuer", "http://i", "--model-ids-file", path}, io.Discard)
	require.NoError(t, err)
	ids, err := readModelIDs(c.modelsFile)
	require.NoError(t, err)
	assert.Equal(t, []string{"__proto__", "esc\x1b[2J", "ok"}, ids)

	require.NoError(t, os.WriteFile(path, []byte(`{"not":"an array"}`), 0o600))
	_, err = readModelIDs(path)
	assert.ErrorContains(t, err, "expected a JSON array of strings")
}
