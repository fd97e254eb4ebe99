package oauth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/loopback"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// authRequest is the secret material of one authorization request: 32
// random bytes each, base64url (x/oauth2's GenerateVerifier).
type authRequest struct {
	state    secret.String
	nonce    secret.String // zero without openid
	verifier secret.String // PKCE; zero when the provider disabled it
}

func (c *Client) newAuthRequest() authRequest {
	r := authRequest{state: secret.New(oauth2.GenerateVerifier()), verifier: c.pkceVerifier()}
	if hasOpenID(c.p.Scopes) {
		r.nonce = secret.New(oauth2.GenerateVerifier())
	}
	return r
}

// pkceVerifier is a fresh RFC 7636 code verifier (x/oauth2's), or zero
// when the provider disabled PKCE.
func (c *Client) pkceVerifier() secret.String {
	if !c.p.PKCE {
		return secret.String{}
	}
	return secret.New(oauth2.GenerateVerifier())
}

// setChallenge sets the S256 challenge of verifier, when there is one.
func setChallenge(q url.Values, verifier secret.String) {
	if !verifier.IsZero() {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(verifier.Reveal()))
		q.Set("code_challenge_method", "S256")
	}
}

// authorizationURL is the endpoint with its own query kept (but for the
// parameters the plugin sets or never sends, whatever their case), then the
// configured extra parameters, then ours set (ours always win).
func (c *Client) authorizationURL(endpoint, redirectURI string, r authRequest) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("provider %q: authorization endpoint %s: %w", c.p.ID, redact.URL(endpoint), err)
	}
	q := u.Query()
	for k := range q {
		if config.ReservedParam(k) { // Client_ID, response_mode, request... in the endpoint's own query
			q.Del(k)
		}
	}
	c.setGrantParams(q, c.p.AuthorizationParams)
	for k, v := range map[string]string{"prompt": c.p.Prompt, "login_hint": c.p.LoginHint, "acr_values": c.p.ACRValues} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", c.p.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", r.state.Reveal())
	if !r.nonce.IsZero() {
		q.Set("nonce", r.nonce.Reveal())
	}
	setChallenge(q, r.verifier)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// setGrantParams sets extra (the interactive grants' authorizationParams),
// then, over anything in q, what the first request of every grant
// carries: scope, resource and audience.
func (c *Client) setGrantParams(q url.Values, extra map[string]string) {
	for k, v := range extra {
		q.Set(k, v)
	}
	if len(c.p.Scopes) > 0 {
		q.Set("scope", strings.Join(c.p.Scopes, " "))
	}
	q.Del("resource")
	for _, r := range c.p.Resources {
		q.Add("resource", r)
	}
	if c.p.Audience != "" {
		q.Set("audience", c.p.Audience)
	}
}

func (c *Client) loginTimeout() time.Duration {
	return cmp.Or(c.p.LoginTimeout, config.DefaultLoginTimeout)
}

// authorizationCode runs the authorization code grant with PKCE through a
// loopback redirect and the user's browser.
func (c *Client) authorizationCode(ctx context.Context) (tokens.Token, error) {
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	if meta.AuthorizationEndpoint == "" {
		return tokens.Token{}, fmt.Errorf("provider %q: the server metadata has no authorization_endpoint; set authorizationEndpoint in the oauth2 block", c.p.ID)
	}
	timeout := c.loginTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req := c.newAuthRequest()
	srv, err := loopback.Listen(loopback.Config{
		Port:          c.p.RedirectPort,
		State:         req.state,
		Issuer:        meta.Issuer,
		RequireIssuer: meta.AuthorizationResponseISSSupported,
		Label:         c.displayName(),
		Log:           c.log,
	})
	if errors.Is(err, loopback.ErrPortInUse) {
		return tokens.Token{}, fmt.Errorf("provider %q: redirectPort %d on 127.0.0.1 is already in use (another login, or another program); "+
			"close it, or change redirectPort (it must match a redirect URI registered for client %q): %w", c.p.ID, c.p.RedirectPort, c.p.ClientID, err)
	}
	if err != nil {
		return tokens.Token{}, fmt.Errorf("provider %q: loopback redirect: %w", c.p.ID, err)
	}
	defer srv.Close()
	authURL, err := c.authorizationURL(meta.AuthorizationEndpoint, srv.RedirectURI(), req)
	if err != nil {
		return tokens.Token{}, err
	}
	if !req.verifier.IsZero() && len(meta.CodeChallengeMethods) > 0 && !slices.Contains(meta.CodeChallengeMethods, "S256") {
		c.log.Warn("the server does not list S256 in code_challenge_methods_supported; sending it anyway (set pkce: false for this provider if the login fails)")
	}
	box := pasteBoxFrom(ctx)
	if box != nil && box.Only {
		srv.Refuse()
	} else {
		srv.Start(authURL)
	}
	c.log.Info("login started", "flow", "authorization_code", "authorization_endpoint", redact.URL(meta.AuthorizationEndpoint),
		"redirect_uri", srv.RedirectURI(), "pkce", !req.verifier.IsZero(), "paste", box != nil, "timeout", timeout.String())
	if box != nil {
		go servePastes(ctx, box, srv.Paste)
		c.show(Prompt{Kind: PromptPaste, URL: authURL, ExpiresAt: c.now().Add(timeout),
			Message: fmt.Sprintf("To log in to %s, open this URL in a browser on any machine. When the browser ends on a page that cannot be reached "+
				"(an address starting with http://127.0.0.1), copy that whole address and paste it here", c.displayName())})
	} else {
		c.announceBrowser(ctx, srv.StartURL(), meta.AuthorizationEndpoint, timeout)
	}

	resp, err := srv.Wait(ctx)
	if err != nil {
		return tokens.Token{}, c.loginWaitError(ctx, err, timeout)
	}
	t, err := c.exchangeCode(ctx, meta, resp.Code, srv.RedirectURI(), req)
	resp.Finish(err)
	if err != nil {
		c.log.Warn("login failed", "flow", "authorization_code", "err", err)
		return tokens.Token{}, err
	}
	c.log.Info("login complete", "flow", "authorization_code")
	return t, nil
}

// announceBrowser opens the start URL and tells the user what happened.
func (c *Client) announceBrowser(ctx context.Context, startURL, authEndpoint string, timeout time.Duration) {
	expires := c.now().Add(timeout)
	host := authEndpoint
	if u, err := url.Parse(authEndpoint); err == nil {
		host = u.Host
	}
	if err := c.open(ctx, startURL); err != nil {
		c.log.Warn("could not open a browser; showing the login URL instead", "err", redact.Text(err.Error(), 200))
		c.show(Prompt{Kind: PromptBrowser, URL: startURL, ExpiresAt: expires,
			Message: fmt.Sprintf("To log in to %s, open this URL in a browser on this machine (it leads to %s)", c.displayName(), host)})
		return
	}
	c.show(Prompt{Kind: PromptBrowser, URL: startURL, ExpiresAt: expires,
		Message: fmt.Sprintf("A browser window was opened to log in to %s at %s. If it did not appear, open this URL on this machine", c.displayName(), host)})
}

// loginWaitError explains why no authorization response arrived.
func (c *Client) loginWaitError(ctx context.Context, err error, timeout time.Duration) error {
	var ae *loopback.AuthError
	switch {
	case errors.As(err, &ae):
		c.log.Warn("login failed", "flow", "authorization_code", "error", ae.Code)
		hint := ""
		if ae.Code == "access_denied" {
			hint = " (the login was cancelled or refused)"
		}
		return fmt.Errorf("provider %q: %w: %s%s", c.p.ID, tokens.ErrLoginRequired, ae.Error(), hint)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		c.log.Warn("login timed out", "flow", "authorization_code", "timeout", timeout.String())
		return fmt.Errorf("provider %q: %w: no login was completed in the browser within %s (loginTimeoutSeconds)", c.p.ID, tokens.ErrLoginRequired, timeout)
	}
	return fmt.Errorf("provider %q: login interrupted: %w", c.p.ID, err)
}

// exchangeCode trades the code for tokens (RFC 6749 4.1.3 with the PKCE
// verifier) and checks the result.
func (c *Client) exchangeCode(ctx context.Context, meta *Metadata, code secret.String, redirectURI string, r authRequest) (tokens.Token, error) {
	grant := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code.Reveal()},
		"redirect_uri": {redirectURI},
	}
	if !r.verifier.IsZero() {
		grant.Set("code_verifier", r.verifier.Reveal())
	}
	t, err := c.tokenRequest(ctx, "authorization code exchange", meta, grant)
	if err != nil {
		return tokens.Token{}, err
	}
	return c.finishLogin(ctx, meta, t, r.nonce)
}
