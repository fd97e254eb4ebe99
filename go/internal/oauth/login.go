package oauth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

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
// The endpoint parses: Metadata checked it (checkEndpoint).
func (c *Client) authorizationURL(endpoint, redirectURI string, r authRequest) string {
	u, _ := url.Parse(endpoint)
	q := u.Query()
	// Client_ID, response_mode, request... in the endpoint's own query go.
	maps.DeleteFunc(q, func(k string, _ []string) bool { return config.ReservedParam(k) })
	c.setGrantParams(q, c.p.AuthorizationParams)
	for k, v := range map[string]string{"prompt": c.p.Prompt, "login_hint": c.p.LoginHint, "acr_values": c.p.ACRValues, "nonce": r.nonce.Reveal()} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("response_type", "code")
	q.Set("client_id", c.p.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", r.state.Reveal())
	setChallenge(q, r.verifier)
	u.RawQuery = q.Encode()
	return u.String()
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

// metadataWith is the server metadata when it names the endpoint a login
// needs (endpoint reads it; claim and option name it in the error).
func (c *Client) metadataWith(ctx context.Context, endpoint func(*Metadata) string, claim, option string) (*Metadata, error) {
	meta, err := c.Metadata(ctx)
	if err == nil && endpoint(meta) == "" {
		err = fmt.Errorf("provider %q: the server metadata has no %s; set %s in the oauth2 block", c.p.ID, claim, option)
	}
	return meta, err
}

// authorizationCode runs the authorization code grant with PKCE through a
// loopback redirect and the user's browser.
func (c *Client) authorizationCode(ctx context.Context) (tokens.Token, error) {
	meta, err := c.metadataWith(ctx, func(m *Metadata) string { return m.AuthorizationEndpoint },
		"authorization_endpoint", "authorizationEndpoint")
	if err != nil {
		return tokens.Token{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.p.LoginTimeout)
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
	authURL := c.authorizationURL(meta.AuthorizationEndpoint, srv.RedirectURI(), req)
	if !req.verifier.IsZero() && len(meta.CodeChallengeMethods) > 0 && !slices.Contains(meta.CodeChallengeMethods, "S256") {
		c.log.Warn("the server does not list S256 in code_challenge_methods_supported; sending it anyway (set pkce: false for this provider if the login fails)")
	}
	box, _ := ctx.Value(pasteKey{}).(*PasteBox)
	if box != nil && box.Only {
		srv.Refuse()
	} else {
		srv.Start(authURL)
	}
	c.log.Info("login started", "flow", "authorization_code", "authorization_endpoint", redact.URL(meta.AuthorizationEndpoint),
		"redirect_uri", srv.RedirectURI(), "pkce", !req.verifier.IsZero(), "paste", box != nil, "timeout", c.p.LoginTimeout.String())
	if box != nil {
		box.srv.Store(srv)
		defer box.srv.Store(nil)
		c.show(Prompt{Kind: PromptPaste, URL: authURL, ExpiresAt: c.o.Now().Add(c.p.LoginTimeout),
			Message: fmt.Sprintf("To log in to %s, open this URL in a browser on any machine. When the browser ends on a page that cannot be reached "+
				"(an address starting with http://127.0.0.1), copy that whole address and paste it here", c.displayName())})
	} else {
		c.announceBrowser(ctx, srv.StartURL(), meta.AuthorizationEndpoint)
	}

	code, err := srv.Wait(ctx)
	if err != nil {
		return tokens.Token{}, c.loginWaitError(ctx, err)
	}
	// The code for tokens (RFC 6749 4.1.3 with the PKCE verifier), checked.
	grant := url.Values{"grant_type": {"authorization_code"}, "code": {code.Reveal()}, "redirect_uri": {srv.RedirectURI()}}
	if !req.verifier.IsZero() {
		grant.Set("code_verifier", req.verifier.Reveal())
	}
	t, err := c.tokenRequest(ctx, "authorization code exchange", meta, grant)
	t, err = c.finishLogin(ctx, meta, t, err, req.nonce)
	srv.Finish(err)
	return t, err
}

// announceBrowser opens the start URL and tells the user what happened.
func (c *Client) announceBrowser(ctx context.Context, startURL, authEndpoint string) {
	u, _ := url.Parse(authEndpoint) // it parses: Metadata checked it (checkEndpoint)
	expires, host := c.o.Now().Add(c.p.LoginTimeout), u.Host
	msg := fmt.Sprintf("A browser window was opened to log in to %s at %s. If it did not appear, open this URL on this machine", c.displayName(), host)
	if err := c.o.OpenBrowser(ctx, startURL); err != nil {
		c.log.Warn("could not open a browser; showing the login URL instead", "err", redact.Text(err.Error(), 200))
		msg = fmt.Sprintf("To log in to %s, open this URL in a browser on this machine (it leads to %s)", c.displayName(), host)
	}
	c.show(Prompt{Kind: PromptBrowser, URL: startURL, ExpiresAt: expires, Message: msg})
}

// loginWaitError explains why no authorization response arrived.
func (c *Client) loginWaitError(ctx context.Context, err error) error {
	ae, isAuth := errors.AsType[*loopback.AuthError](err)
	switch {
	case isAuth:
		c.log.Warn("login failed", "flow", "authorization_code", "error", ae.Code)
		hint := ""
		if ae.Code == "access_denied" {
			hint = " (the login was cancelled or refused)"
		}
		return fmt.Errorf("provider %q: %w: %s%s", c.p.ID, tokens.ErrLoginRequired, ae.Error(), hint)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		c.log.Warn("login timed out", "flow", "authorization_code", "timeout", c.p.LoginTimeout.String())
		return fmt.Errorf("provider %q: %w: no login was completed in the browser within %s (loginTimeoutSeconds)", c.p.ID, tokens.ErrLoginRequired, c.p.LoginTimeout)
	}
	return fmt.Errorf("provider %q: login interrupted: %w", c.p.ID, err)
}

// PasteBox carries pasted authorization responses to an authorization-code
// login that runs with it (WithPaste): for a browser on another machine,
// whose redirect to 127.0.0.1 cannot arrive, the user pastes the address
// it ended on. The login then shows the authorization URL itself (a start
// URL on this machine's loopback would not open there). The zero value is
// an empty box.
type PasteBox struct {
	// Only: the login takes pastes only; nothing answers on the loopback
	// address (a browser there gets "connection refused", as a remote one).
	Only bool
	srv  atomic.Pointer[loopback.Server] // the login's while it takes pastes
}

// ErrNoLoginWaits: no login takes pastes now (none started, or it ended).
var ErrNoLoginWaits = errors.New("no login is waiting for a pasted address")

// Paste hands text to the login and returns its verdict at once: nil when
// it was this login's answer (the login then exchanges the code), else why
// not (ErrNoLoginWaits when no login takes pastes now).
func (b *PasteBox) Paste(text string) error {
	srv := b.srv.Load()
	if srv == nil {
		return ErrNoLoginWaits
	}
	return srv.Paste(text)
}

type pasteKey struct{}

// WithPaste lets the authorization-code login under ctx take pastes from box.
func WithPaste(ctx context.Context, box *PasteBox) context.Context {
	return context.WithValue(ctx, pasteKey{}, box)
}

// Prompt kinds.
const (
	PromptBrowser    = "browser"
	PromptDeviceCode = "device_code"
	// PromptPaste: open URL anywhere, paste the address the browser ended on.
	PromptPaste = "paste"
)

// Prompt asks the user to act during an interactive login: open a URL
// (Kind "browser"), visit a URL and enter a code (Kind "device_code"), or
// open a URL anywhere and paste back the address the browser ended on
// (Kind "paste"). The browser URL is the loopback start page, which
// redirects to the authorization request; a paste prompt's URL is the
// authorization request itself (its state and PKCE challenge are of this
// one login, which the user's paste must answer): prompts go to the user,
// never to a log.
type Prompt struct {
	ProviderID string
	Kind       string // PromptBrowser | PromptDeviceCode | PromptPaste
	Message    string // one sentence for a person
	URL        string
	UserCode   string    // device_code only
	ExpiresAt  time.Time // when the login stops waiting
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Text is the prompt for a terminal: the sentence, then the URL, the code
// and the deadline on lines of their own. (Message itself ends without a
// colon where a UI shows the URL elsewhere: OpenCode's login dialogs.)
func (p Prompt) Text() string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(p.Message, ":"))
	if p.URL != "" {
		fmt.Fprintf(&b, ":\n    %s", p.URL)
	}
	if p.UserCode != "" {
		fmt.Fprintf(&b, "\n    code: %s", p.UserCode)
	}
	if !p.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, "\n    (waiting until %s; Ctrl-C cancels)", p.ExpiresAt.Local().Format("15:04:05"))
	}
	return b.String()
}

// show hands p to the Prompt callback, or writes it to stderr, which
// reaches the user's terminal when the command line runs there.
func (c *Client) show(p Prompt) {
	p.ProviderID = c.p.ID
	if c.o.Prompt != nil {
		c.o.Prompt(p)
		return
	}
	c.stderrMu.Lock()
	defer c.stderrMu.Unlock()
	_, _ = io.WriteString(c.o.Stderr, "\n[opencode-oauth2] "+c.p.ID+": "+p.Text()+"\n\n")
}

// displayName is how the user knows the provider.
func (c *Client) displayName() string { return cmp.Or(c.p.Name, c.p.ID) }

// safeDisplayURL accepts an http(s) URL from the server for display in a
// terminal or a UI: no control characters (escape sequences), bounded.
func safeDisplayURL(raw string) bool {
	if raw == "" || len(raw) > 2048 || !printable(raw) || strings.ContainsAny(raw, " \"'<>`\\") {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// GrantDeviceCode is the RFC 8628 grant type.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Device polling bounds (RFC 8628 section 3.5).
const (
	defaultDeviceInterval = 5 * time.Second
	slowDownStep          = 5 * time.Second
	maxDeviceInterval     = 60 * time.Second
	maxUserCode           = 64
)

// deviceAuth is a validated device authorization response (RFC 8628 3.2).
type deviceAuth struct {
	Prompt     // the user code, verification_uri_complete when usable (else verification_uri), the expiry
	deviceCode secret.String
	interval   time.Duration
}

// seconds reads a JSON number or numeric string; ok is false otherwise.
func seconds(raw json.RawMessage) (float64, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, false
	}
	return f, true
}

// parseDeviceAuth validates the device authorization response body.
func (c *Client) parseDeviceAuth(body []byte, now time.Time) (deviceAuth, error) {
	fail := func(what string) error {
		return fmt.Errorf("provider %q: the device authorization response %s", c.p.ID, what)
	}
	var r struct {
		DeviceCode              string          `json:"device_code"`
		UserCode                string          `json:"user_code"`
		VerificationURI         string          `json:"verification_uri"`
		VerificationURL         string          `json:"verification_url"` // pre-RFC name (Google)
		VerificationURIComplete string          `json:"verification_uri_complete"`
		ExpiresIn               json.RawMessage `json:"expires_in"`
		Interval                json.RawMessage `json:"interval"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return deviceAuth{}, fail("is not a JSON object")
	}
	if r.DeviceCode == "" {
		return deviceAuth{}, fail("has no device_code")
	}
	code := strings.TrimSpace(r.UserCode)
	if code == "" || len(code) > maxUserCode || !printable(code) {
		return deviceAuth{}, fail("has no usable user_code")
	}
	d := deviceAuth{Prompt: Prompt{Kind: PromptDeviceCode, UserCode: code}, deviceCode: secret.New(r.DeviceCode), interval: defaultDeviceInterval}
	for i, u := range []string{r.VerificationURIComplete, r.VerificationURI, r.VerificationURL} {
		if safeDisplayURL(u) {
			act := "enter this code"
			if i == 0 { // the URL carries the code already
				act = "check that it shows this code"
			}
			d.URL, d.Message = u, fmt.Sprintf("To log in to %s, visit this URL and %s:", c.displayName(), act)
			break
		}
	}
	if d.URL == "" {
		return deviceAuth{}, fail("has no usable verification_uri (an http or https URL)")
	}
	life := c.p.LoginTimeout
	if f, ok := seconds(r.ExpiresIn); ok {
		life = time.Duration(math.Min(f, 24*3600) * float64(time.Second))
	}
	d.ExpiresAt = now.Add(life)
	if f, ok := seconds(r.Interval); ok {
		d.interval = time.Duration(math.Ceil(math.Min(f, maxDeviceInterval.Seconds()))) * time.Second
	}
	return d, nil
}

// deviceCode runs the device authorization grant: show the code, then poll
// the token endpoint until the user acts or the code expires. A transport
// error, 429 or 5xx backs off exponentially (capped) and goes on; only the
// server's answer or the expiry ends the flow.
func (c *Client) deviceCode(ctx context.Context) (tokens.Token, error) {
	meta, err := c.metadataWith(ctx, func(m *Metadata) string { return m.DeviceAuthorizationEndpoint },
		"device_authorization_endpoint", "deviceAuthorizationEndpoint")
	if err != nil {
		return tokens.Token{}, err
	}
	form := url.Values{}
	c.setGrantParams(form, c.p.AuthorizationParams)
	verifier := c.pkceVerifier()
	setChallenge(form, verifier) // Keycloak requires it when the client enforces PKCE
	body, err := c.postForm(ctx, "device authorization request", meta.DeviceAuthorizationEndpoint, meta, form)
	if err != nil {
		return tokens.Token{}, err
	}
	d, err := c.parseDeviceAuth(body, c.o.Now())
	if err != nil {
		return tokens.Token{}, err
	}
	c.log.Info("login started", "flow", "device_code", "verification_uri", redact.URL(d.URL),
		"expires_at", d.ExpiresAt.UTC().Format(time.RFC3339), "interval", d.interval.String())
	c.show(d.Prompt)

	grant := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {d.deviceCode.Reveal()}}
	if !verifier.IsZero() {
		grant.Set("code_verifier", verifier.Reveal())
	}
	t, err := c.pollDevice(ctx, meta, d, grant)
	return c.finishLogin(ctx, meta, t, err, secret.String{})
}

// pollDevice sends grant to the token endpoint at d's pace until the
// server answers with a token or an error that ends the login.
func (c *Client) pollDevice(ctx context.Context, meta *Metadata, d deviceAuth, grant url.Values) (tokens.Token, error) {
	interval := d.interval
	var backoff time.Duration // > 0 while the server is unreachable or failing
	for {
		remaining := d.ExpiresAt.Sub(c.o.Now())
		if remaining <= 0 {
			return tokens.Token{}, c.deviceExpired()
		}
		if err := c.o.Sleep(ctx, min(cmp.Or(backoff, interval), remaining)); err != nil {
			return tokens.Token{}, fmt.Errorf("provider %q: device login interrupted: %w", c.p.ID, err)
		}
		t, err := c.tokenRequest(ctx, "device_code token request", meta, grant)
		oe, isOAuth := errors.AsType[*Error](err)
		switch {
		case err == nil:
			return t, nil
		case ctx.Err() != nil:
			return tokens.Token{}, fmt.Errorf("provider %q: device login interrupted: %w", c.p.ID, ctx.Err())
		case !isOAuth:
			return tokens.Token{}, err
		case oe.Code == "authorization_pending":
			backoff = 0
		case oe.Code == "slow_down":
			backoff = 0
			interval = min(interval+slowDownStep, maxDeviceInterval)
			c.log.Debug("device login: the server asked to poll more slowly", "interval", interval.String())
		case oe.Code == "expired_token":
			return tokens.Token{}, c.deviceExpired()
		case oe.Code == "access_denied":
			return tokens.Token{}, fmt.Errorf("provider %q: %w: the device login was denied at the authorization server", c.p.ID, tokens.ErrLoginRequired)
		case errors.Is(err, tokens.ErrTransient):
			backoff = min(max(2*backoff, 2*interval), maxDeviceInterval)
			c.log.Warn("device login: temporary failure while polling; retrying", "err", err, "retry_in", backoff.String())
		default:
			return tokens.Token{}, err
		}
	}
}

func (c *Client) deviceExpired() error {
	return fmt.Errorf("provider %q: %w: the device code expired before the login was approved; start the login again", c.p.ID, tokens.ErrLoginRequired)
}
