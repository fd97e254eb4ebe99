package main

import (
	"io"
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
