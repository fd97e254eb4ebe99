package oauth

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// maxSubjectToken bounds a subject token read from a file or GitHub.
const maxSubjectToken = 64 << 10

// SubjectToken reads the provider's subject token (the assertion of
// jwt_bearer, the subject_token of token_exchange) fresh from its source.
// It is never cached.
func (c *Client) SubjectToken(ctx context.Context) (secret.String, error) {
	src := c.p.SubjectToken
	if src == nil {
		return secret.String{}, fmt.Errorf("provider %q: authFlow %s needs subjectTokenSource", c.p.ID, c.p.Flow)
	}
	return c.readSource(ctx, "subjectTokenSource", src)
}

// readSource reads a token from src, the provider's setting named name.
func (c *Client) readSource(ctx context.Context, name string, src *config.SubjectTokenSource) (secret.String, error) {
	label := fmt.Sprintf("provider %q: %s (%s)", c.p.ID, name, src.Type)
	switch src.Type {
	case config.SourceEnv:
		v := strings.TrimSpace(c.env(src.Var))
		if v == "" {
			return secret.String{}, fmt.Errorf("%s: environment variable %s is not set or is empty", label, src.Var)
		}
		return secret.New(v), nil
	case config.SourceFile, config.SourceKubernetesSA:
		path := src.Path
		if path == "" && src.Type == config.SourceKubernetesSA {
			path = config.DefaultKubernetesTokenPath
		}
		return readTokenFile(label, path)
	case config.SourceGitHubActions:
		return c.githubActionsToken(ctx, label, fmt.Sprintf("%s (%s): OIDC token request", name, src.Type), src.Audience)
	}
	return secret.String{}, fmt.Errorf("%s: unknown source type", label)
}

func readTokenFile(label, path string) (secret.String, error) {
	data, err := safefile.Read(path, maxSubjectToken)
	if safefile.IsNotExist(err) {
		return secret.String{}, fmt.Errorf("%s: no file at %s; check the volume mount or the path", label, path)
	}
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: cannot read the token: %w", label, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return secret.String{}, fmt.Errorf("%s: the file at %s is empty", label, path)
	}
	return secret.New(v), nil
}

// githubActionsToken asks the GitHub Actions runtime for an OIDC token.
func (c *Client) githubActionsToken(ctx context.Context, label, op, audience string) (secret.String, error) {
	reqURL := strings.TrimSpace(c.env("ACTIONS_ID_TOKEN_REQUEST_URL"))
	reqToken := strings.TrimSpace(c.env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
	if reqURL == "" || reqToken == "" {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set; this source works only inside a GitHub Actions job with `permissions: id-token: write`", label)
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: ACTIONS_ID_TOKEN_REQUEST_URL is not a URL", label)
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.p.HTTPTimeout, config.DefaultHTTPTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return secret.String{}, fmt.Errorf("%s: %w", label, err)
	}
	req.Header.Set("Authorization", "Bearer "+reqToken)
	body, err := c.send(req, op, maxSubjectToken, []string{reqToken})
	if err != nil {
		return secret.String{}, err
	}
	var payload struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Value == "" {
		return secret.String{}, fmt.Errorf("%s: the response has no `value` field", label)
	}
	return secret.New(payload.Value), nil
}
