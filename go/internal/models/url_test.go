package models

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURLDerivedFromBaseURL(t *testing.T) {
	tests := []struct {
		base, want string
	}{
		// The original's table (§C.3), except that userinfo and fragment are dropped.
		{"https://api.example.com", "https://api.example.com/v1/models"},
		{"https://api.example.com/", "https://api.example.com/v1/models"},
		{"https://api.example.com/v1", "https://api.example.com/v1/models"},
		{"https://api.example.com/v1/", "https://api.example.com/v1/models"},
		{"https://api.example.com/v1//", "https://api.example.com/v1/models"},
		{"https://api.example.com/openai/v2", "https://api.example.com/openai/v2/v1/models"},
		{"https://api.example.com/api/v1?x=1", "https://api.example.com/api/v1/models?x=1"},
		{"https://u:p@api.example.com/v1#f", "https://api.example.com/v1/models"},
		// More shapes.
		{"http://127.0.0.1:4000", "http://127.0.0.1:4000/v1/models"},
		{"http://[::1]:8080/v1", "http://[::1]:8080/v1/models"},
		{"https://api.example.com/V1", "https://api.example.com/V1/v1/models"}, // case-sensitive, as the original
		{"https://api.example.com/xv1", "https://api.example.com/xv1/v1/models"},
		{"https://api.example.com/a%2Fb", "https://api.example.com/a%2Fb/v1/models"},
		{"https://api.example.com/openai/deployments/x/v1?api-version=2024-10-21&a=b", "https://api.example.com/openai/deployments/x/v1/models?api-version=2024-10-21&a=b"},
		{"  https://api.example.com/v1  ", "https://api.example.com/v1/models"},
		{"HTTPS://API.example.com/v1", "https://API.example.com/v1/models"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			got, err := URL(tt.base, "")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestURLOverride(t *testing.T) {
	tests := []struct {
		base, override, want string
	}{
		{"https://api.example.com/openai/v2", "https://api.example.com/openai/v2/models", "https://api.example.com/openai/v2/models"},
		{"", "https://models.example.com/list?tenant=a", "https://models.example.com/list?tenant=a"},
		{"not a url", "https://user:secret@models.example.com/list#frag", "https://models.example.com/list"},
	}
	for _, tt := range tests {
		t.Run(tt.override, func(t *testing.T) {
			got, err := URL(tt.base, tt.override)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestURLErrors(t *testing.T) {
	tests := []struct {
		name, base, override, wantErr string
	}{
		{"empty", "", "", "baseURL: must be an absolute http:// or https:// URL"},
		{"no scheme", "api.example.com/v1", "", "baseURL: must be an absolute http:// or https:// URL"},
		{"other scheme", "ftp://api.example.com", "", "baseURL: must be an absolute http:// or https:// URL"},
		{"no host", "https:///v1", "", "baseURL: has no host"},
		{"port only", "http://:8080", "", "baseURL: has no host"},
		{"bad escape", "https://api.example.com/%zz", "", "baseURL: not a valid URL"},
		{"bad override", "https://api.example.com", "/v1/models", "modelsURL: must be an absolute"},
		// A password containing '/' breaks the authority; its parts must not be quoted.
		{"secret in bad url", "https://user:pa/ss@api.example.com:x", "", "baseURL: not a valid URL"},
		{"secret in bad port", "https://user:hunter2@api.example.com:port/v1", "", "baseURL: not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := URL(tt.base, tt.override)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "pa/ss")
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}
