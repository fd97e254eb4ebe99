package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// maxResponse bounds a device authorization, revocation or JWKS answer
// (x/oauth2 reads token responses with the same bound).
const maxResponse = 1 << 20

// maxLifetime bounds a token's lifetime: a longer one counts as none.
const maxLifetime = 10 * 365 * 24 * time.Hour

// secretParams are the request parameters whose values are credentials. A
// server may echo any of them in an error; requestSecrets masks them all.
var secretParams = []string{
	"client_secret", "client_assertion", "code", "code_verifier", "refresh_token",
	"device_code", "assertion", "subject_token", "actor_token", "token",
}

// requestSecrets lists every secret a request carries: the client secret
// and the values of form's secret parameters. Errors mask them before
// anything is truncated (classify).
func (c *Client) requestSecrets(form url.Values) []string {
	out := []string{c.p.ClientSecret.Reveal()}
	for _, k := range secretParams {
		out = append(out, form[k]...)
	}
	return out
}

// tokenRequest is the one way to the token endpoint, for every grant:
// grant holds grant_type and the grant's own parameters; the client's
// authentication and tokenParams are added here, and x/oauth2 posts the
// request and parses the answer. x/oauth2's clientcredentials.Config is
// used because it is the entry point that takes any grant_type and any
// parameters (EndpointParams); oauth2.Config.Exchange always sends `code`,
// and its refresh takes no extra parameters. Its device flow does take
// extra parameters (AuthCodeOptions on DeviceAuth and DeviceAccessToken),
// but DeviceAuth sends no client authentication (no secret, no assertion)
// and reads expires_in on its own clock, and DeviceAccessToken polls on
// its own timer with the same parameters throughout, where this client
// paces the polls itself (slow_down, transient failures with backoff) and
// signs a fresh client assertion for every request. The auth style is always given,
// so x/oauth2 never probes (retries a failed request the other way).
func (c *Client) tokenRequest(ctx context.Context, op string, meta *Metadata, grant url.Values) (tokens.Token, error) {
	form, err := c.authenticated(ctx, meta, grant)
	if err != nil {
		return tokens.Token{}, err
	}
	for k, v := range c.p.TokenParams {
		if _, set := form[k]; !set { // never over a parameter of ours
			form.Set(k, v)
		}
	}
	cfg := clientcredentials.Config{
		ClientID:       c.p.ClientID,
		ClientSecret:   c.p.ClientSecret.Reveal(),
		TokenURL:       meta.TokenEndpoint,
		EndpointParams: form,
		AuthStyle:      c.authStyle(meta),
	}
	c.log.Debug("token request", "grant", op, "token_endpoint", redact.URL(meta.TokenEndpoint))
	t, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return tokens.Token{}, c.classify(op, err, c.requestSecrets(form))
	}
	return c.fromOAuth2(op, t)
}

// fromOAuth2 converts x/oauth2's token. Expiry is relative to receipt:
// x/oauth2 sets Expiry to expires_in after its clock's now on receipt, so
// the lifetime is what remains of it, counted from our clock's now; a
// server with a skewed clock cannot shorten or lengthen it, and a
// negative, zero or absurd lifetime counts as none. A token that cannot go
// into an Authorization header is refused.
func (c *Client) fromOAuth2(op string, t *oauth2.Token) (tokens.Token, error) {
	if strings.TrimSpace(t.AccessToken) == "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: the response has an empty access_token", c.p.ID, op)
	}
	if why := checkTokenText(t.AccessToken, t.TokenType); why != "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: %s", c.p.ID, op, why)
	}
	out := tokens.Token{
		AccessToken:  secret.New(t.AccessToken),
		TokenType:    t.TokenType,
		RefreshToken: secret.New(t.RefreshToken),
		ObtainedAt:   c.now(),
	}
	if !t.Expiry.IsZero() {
		if life := time.Until(t.Expiry).Round(time.Second); life > 0 && life <= maxLifetime {
			out.ExpiresAt = out.ObtainedAt.Add(life)
		}
	}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = secret.New(id)
	}
	switch s := t.Extra("scope").(type) {
	case string:
		out.Scope = strings.TrimSpace(s)
	case []any: // non-standard, seen in the wild
		var parts []string
		for _, v := range s {
			if str, ok := v.(string); ok {
				parts = append(parts, str)
			}
		}
		out.Scope = strings.Join(parts, " ")
	}
	return out, nil
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

// postForm POSTs form with the client's authentication to the device
// authorization or revocation endpoint (see tokenRequest for why not
// x/oauth2's DeviceAuth; it has no revocation) and returns
// the body of a 200 answer (send).
func (c *Client) postForm(ctx context.Context, op, endpoint string, meta *Metadata, form url.Values) ([]byte, error) {
	form, err := c.authenticated(ctx, meta, form)
	if err != nil {
		return nil, err
	}
	secrets := c.requestSecrets(form)
	basic := c.authStyle(meta) == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", c.p.ClientID)
		if !c.p.ClientSecret.IsZero() {
			form.Set("client_secret", c.p.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("provider %q: %s: %w", c.p.ID, op, transportError(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.p.ClientID), url.QueryEscape(c.p.ClientSecret.Reveal()))
	}
	return c.send(req, op, maxResponse, secrets)
}

// send is the one way to an endpoint x/oauth2 is not used for (discovery,
// JWKS, device authorization, revocation, the GitHub Actions token): it
// sends req with the client's HTTP client and returns the body of a 200
// answer, read with a bound of limit bytes. No answer, an unreadable or
// oversized one, or another status is an *Error (classify), with secrets
// masked in whatever text of the server's it keeps.
func (c *Client) send(req *http.Request, op string, limit int64, secrets []string) ([]byte, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.classify(op, err, secrets)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode, cause: err, kind: tokens.ErrTransient}
	case resp.StatusCode != http.StatusOK:
		return nil, c.classify(op, answerError(resp, body), secrets)
	case int64(len(body)) > limit:
		return nil, &Error{ProviderID: c.p.ID, Op: op, Status: resp.StatusCode,
			Description: fmt.Sprintf("response larger than %d bytes", limit)}
	}
	return body, nil
}

// answerError is a failed answer of an endpoint other than the token
// endpoint in x/oauth2's form, for classify: the RFC 6749 5.2 error
// members when the body is a JSON object with them.
func answerError(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	var payload struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &payload) == nil {
		re.ErrorCode, re.ErrorDescription = payload.Error, payload.Description
	}
	return re
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
