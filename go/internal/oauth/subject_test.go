package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// TestGitHubActionsSubjectToken: the runtime's token endpoint is asked with
// its bearer token and the audience; its failures are classified and
// never show the bearer token.
func TestGitHubActionsSubjectToken(t *testing.T) {
	const reqToken = "canary-actions-request-token-5e1f"
	tests := []struct {
		name      string
		status    int
		body      string
		noEnv     bool
		want      string
		wantErr   string
		transient bool
	}{
		{name: "token", status: 200, body: `{"value":"the-oidc-token"}`, want: "the-oidc-token"},
		{name: "no value", status: 200, body: `{}`, wantErr: "has no `value` field"},
		{name: "refused", status: 403, body: `{"message":"` + reqToken + `"}`, wantErr: "subjectTokenSource (github_actions): OIDC token request failed: HTTP 403"},
		{name: "busy", status: 503, body: "busy", wantErr: "HTTP 503", transient: true},
		{name: "outside Actions", noEnv: true, wantErr: "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "Bearer "+reqToken, r.Header.Get("Authorization"))
				assert.Equal(t, "api://x", r.URL.Query().Get("audience"))
				assert.Equal(t, "1", r.URL.Query().Get("keep"))
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": srv.URL + "/token?keep=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": reqToken}
			if tt.noEnv {
				env = nil
			}
			c, err := New(config.Provider{ID: "acme", ClientID: testClient, Flow: config.JWTBearer,
				SubjectToken: &config.SubjectTokenSource{Type: config.SourceGitHubActions, Audience: "api://x"}},
				Options{Log: discardLogger(), Getenv: func(k string) string { return env[k] }})
			require.NoError(t, err)
			got, err := c.readSource(testCtx(t), "subjectTokenSource", c.p.SubjectToken)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), "subjectTokenSource (github_actions)")
				assert.NotContains(t, err.Error(), reqToken)
				assert.Equal(t, tt.transient, errors.Is(err, tokens.ErrTransient))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Reveal())
		})
	}
}
