package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// maxTokenResponse bounds a token or device authorization response.
const maxTokenResponse = 1 << 20

// maxLifetime bounds expires_in, so a hostile value cannot overflow.
const maxLifetime = 10 * 365 * 24 * time.Hour

// postForm POSTs form to endpoint with the client's authentication and
// returns the status and the (bounded) body. A transport failure is an
// *Error classified transient. Values of scrub never appear in an error.
func (c *Client) postForm(ctx context.Context, op, endpoint string, meta *Metadata, form url.Values) (int, []byte, error) {
	form = cloneValues(form)
	basic := c.authStyle(meta) == oauth2.AuthStyleInHeader && !c.p.ClientSecret.IsZero()
	if !basic {
		form.Set("client_id", c.p.ClientID)
		if !c.p.ClientSecret.IsZero() {
			form.Set("client_secret", c.p.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("provider %q: %s: %w", c.p.ID, op, transportError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.p.ClientID), url.QueryEscape(c.p.ClientSecret.Reveal()))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		e := &Error{ProviderID: c.p.ID, Op: op, cause: transportError(err)}
		if isTransient(err) && ctx.Err() == nil {
			e.kind = tokens.ErrTransient
		}
		return 0, nil, e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return resp.StatusCode, nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode, cause: err, kind: tokens.ErrTransient}
	}
	if len(body) > maxTokenResponse {
		return resp.StatusCode, nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode,
			Description: fmt.Sprintf("response larger than %d bytes", maxTokenResponse)}
	}
	return resp.StatusCode, body, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// oauthError turns a non-2xx answer into a classified *Error. scrub lists
// values sent in the request (code, device code) that a server might echo;
// the client secret is always added to them.
func (c *Client) oauthError(op string, status int, body []byte, scrub ...secret.String) *Error {
	scrub = append(scrub[:len(scrub):len(scrub)], c.p.ClientSecret)
	e := &Error{ProviderID: c.p.ID, Op: op, Status: status}
	var payload struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &payload) == nil && payload.Error != "" {
		e.Code = scrubValues(redact.Text(payload.Error, 60), scrub)
		e.Description = scrubValues(redact.Text(payload.Description, 200), scrub)
	} else if len(bytes.TrimSpace(body)) > 0 && status >= 400 {
		e.Description = "response: " + scrubValues(redact.Text(string(body), 200), scrub)
	}
	// A 429 or 5xx is the server failing, whatever code it names: retry
	// later rather than ask the user to log in again.
	switch {
	case status == http.StatusTooManyRequests || status >= 500 ||
		payload.Error == "temporarily_unavailable" || payload.Error == "server_error":
		e.kind = tokens.ErrTransient
	case payload.Error == "invalid_grant":
		e.kind = tokens.ErrInvalidGrant
	case payload.Error == "invalid_client" || (status == http.StatusUnauthorized && payload.Error == ""):
		e.kind = tokens.ErrInvalidClient
	}
	return e
}

// scrubValues masks every occurrence of the given secrets in s.
func scrubValues(s string, secrets []secret.String) string {
	for _, v := range secrets {
		if len(v.Reveal()) >= 4 {
			s = strings.ReplaceAll(s, v.Reveal(), secret.Redacted)
		}
	}
	return s
}

// lifetime is expires_in as a number or a numeric string (some servers).
type lifetime int64

func (l *lifetime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < maxLifetime.Seconds() {
		*l = lifetime(f)
	}
	return nil // absent, null, zero or garbage: no expiry information
}

// tokenResponse is a successful token endpoint answer (RFC 6749 5.1).
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
	ExpiresIn    lifetime        `json:"expires_in"`
	Scope        json.RawMessage `json:"scope"`
}

// parseToken reads a 2xx token response.
func (c *Client) parseToken(op string, status int, body []byte) (tokens.Token, error) {
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return tokens.Token{}, &Error{ProviderID: c.p.ID, Op: op, Status: status,
			Description: "the response is not a JSON token response"}
	}
	if strings.TrimSpace(r.AccessToken) == "" {
		return tokens.Token{}, &Error{ProviderID: c.p.ID, Op: op, Status: status,
			Description: "the response has no access_token"}
	}
	if msg := checkTokenText(r.AccessToken, r.TokenType); msg != "" {
		return tokens.Token{}, &Error{ProviderID: c.p.ID, Op: op, Status: status, Description: msg}
	}
	t := tokens.Token{
		AccessToken:  secret.New(r.AccessToken),
		TokenType:    r.TokenType,
		RefreshToken: secret.New(r.RefreshToken),
		IDToken:      secret.New(r.IDToken),
		ObtainedAt:   c.now(),
	}
	if r.ExpiresIn > 0 {
		t.ExpiresAt = t.ObtainedAt.Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	var scope any
	if json.Unmarshal(r.Scope, &scope) == nil {
		switch s := scope.(type) {
		case string:
			t.Scope = strings.TrimSpace(s)
		case []any: // non-standard, seen in the wild
			var parts []string
			for _, v := range s {
				if str, ok := v.(string); ok {
					parts = append(parts, str)
				}
			}
			t.Scope = strings.Join(parts, " ")
		}
	}
	return t, nil
}

// checkTokenText returns why an access token or token type cannot go into
// an Authorization header, or "". RFC 6749 appendix A: an access token is
// 1*VSCHAR (printable ASCII), a token type 1*( ALPHA / DIGIT / "-" / "." / "_" ).
// A server that sends a line break there must not get it into a header of
// ours (header injection) or into the shim's header cache.
func checkTokenText(accessToken, tokenType string) string {
	for i := 0; i < len(accessToken); i++ {
		if b := accessToken[i]; b < 0x20 || b > 0x7e {
			return "the access_token contains characters outside printable ASCII (RFC 6749 appendix A.12)"
		}
	}
	for _, r := range strings.TrimSpace(tokenType) {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return "the token_type is not a token type name (RFC 6749 appendix A.13)"
		}
	}
	return ""
}

// tokenRequest posts a grant to the token endpoint and parses the answer.
func (c *Client) tokenRequest(ctx context.Context, op string, meta *Metadata, form url.Values, scrub ...secret.String) (tokens.Token, error) {
	status, body, err := c.postForm(ctx, op, meta.TokenEndpoint, meta, form)
	if err != nil {
		return tokens.Token{}, err
	}
	return c.tokenAnswer(op, status, body, scrub...)
}

// tokenAnswer turns the token endpoint's answer (status and bounded body)
// into a token or a classified *Error; FuzzTokenResponse feeds it anything.
func (c *Client) tokenAnswer(op string, status int, body []byte, scrub ...secret.String) (tokens.Token, error) {
	if status < 200 || status > 299 || errorIn2xx(body) {
		return tokens.Token{}, c.oauthError(op, status, body, scrub...)
	}
	return c.parseToken(op, status, body)
}

// errorIn2xx recognises an OAuth error sent with status 200, as some servers
// (GitHub's device flow) do: an error code and no access token.
func errorIn2xx(body []byte) bool {
	var r struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	return json.Unmarshal(body, &r) == nil && r.Error != "" && r.AccessToken == ""
}

// finishLogin applies what every interactive login requires of its token:
// a refresh token, and a verified id_token when openid was requested.
func (c *Client) finishLogin(ctx context.Context, meta *Metadata, t tokens.Token, nonce secret.String) (tokens.Token, error) {
	if t.RefreshToken.IsZero() {
		return tokens.Token{}, fmt.Errorf("provider %q: the server issued no refresh token, so this login could not be renewed without you: "+
			"add the offline_access scope to scopes, or enable refresh tokens for client %q at the authorization server", c.p.ID, c.p.ClientID)
	}
	if hasOpenID(c.p.Scopes) {
		if t.IDToken.IsZero() {
			return tokens.Token{}, fmt.Errorf("provider %q: the openid scope was requested but the server returned no id_token", c.p.ID)
		}
		if _, err := c.verifyIDToken(ctx, meta, t.IDToken, nonce); err != nil {
			return tokens.Token{}, err
		}
	}
	return t, nil
}
