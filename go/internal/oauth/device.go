package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

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
	deviceCode secret.String
	userCode   string
	uri        string // verification_uri_complete when usable, else verification_uri
	complete   bool   // uri already carries the user code
	expiresAt  time.Time
	interval   time.Duration
}

type deviceAuthJSON struct {
	DeviceCode              string          `json:"device_code"`
	UserCode                string          `json:"user_code"`
	VerificationURI         string          `json:"verification_uri"`
	VerificationURL         string          `json:"verification_url"` // pre-RFC name (Google)
	VerificationURIComplete string          `json:"verification_uri_complete"`
	ExpiresIn               json.RawMessage `json:"expires_in"`
	Interval                json.RawMessage `json:"interval"`
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
	var r deviceAuthJSON
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
	d := deviceAuth{deviceCode: secret.New(r.DeviceCode), userCode: code, interval: defaultDeviceInterval}
	for i, u := range []string{r.VerificationURIComplete, r.VerificationURI, r.VerificationURL} {
		if safeDisplayURL(u) {
			d.uri, d.complete = u, i == 0
			break
		}
	}
	if d.uri == "" {
		return deviceAuth{}, fail("has no usable verification_uri (an http or https URL)")
	}
	life := c.loginTimeout()
	if f, ok := seconds(r.ExpiresIn); ok {
		life = time.Duration(math.Min(f, 24*3600) * float64(time.Second))
	}
	d.expiresAt = now.Add(life)
	if f, ok := seconds(r.Interval); ok {
		d.interval = time.Duration(math.Ceil(math.Min(f, maxDeviceInterval.Seconds()))) * time.Second
	}
	return d, nil
}

// deviceCode runs the device authorization grant: show the code, then poll.
func (c *Client) deviceCode(ctx context.Context) (tokens.Token, error) {
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	if meta.DeviceAuthorizationEndpoint == "" {
		return tokens.Token{}, fmt.Errorf("provider %q: the server metadata has no device_authorization_endpoint; set deviceAuthorizationEndpoint in the oauth2 block", c.p.ID)
	}
	form := url.Values{}
	c.setGrantParams(form, c.p.AuthorizationParams)
	verifier := c.pkceVerifier()
	setChallenge(form, verifier) // Keycloak requires it when the client enforces PKCE
	const op = "device authorization request"
	body, err := c.postForm(ctx, op, meta.DeviceAuthorizationEndpoint, meta, form)
	if err != nil {
		return tokens.Token{}, err
	}
	d, err := c.parseDeviceAuth(body, c.now())
	if err != nil {
		return tokens.Token{}, err
	}
	c.log.Info("login started", "flow", "device_code", "verification_uri", redact.URL(d.uri),
		"expires_at", d.expiresAt.UTC().Format(time.RFC3339), "interval", d.interval.String())
	msg := fmt.Sprintf("To log in to %s, visit this URL and enter this code:", c.displayName())
	if d.complete {
		msg = fmt.Sprintf("To log in to %s, visit this URL and check that it shows this code:", c.displayName())
	}
	c.show(Prompt{Kind: PromptDeviceCode, Message: msg, URL: d.uri, UserCode: d.userCode, ExpiresAt: d.expiresAt})

	t, err := c.pollDevice(ctx, meta, d, verifier)
	if err == nil {
		t, err = c.finishLogin(ctx, meta, t, secret.String{})
	}
	if err != nil {
		c.log.Warn("login failed", "flow", "device_code", "err", err)
		return tokens.Token{}, err
	}
	c.log.Info("login complete", "flow", "device_code")
	return t, nil
}

// pollDevice polls the token endpoint until the user acts or the code
// expires. A transport error, 429 or 5xx backs off exponentially (capped)
// and goes on; only the server's answer or the expiry ends the flow.
func (c *Client) pollDevice(ctx context.Context, meta *Metadata, d deviceAuth, verifier secret.String) (tokens.Token, error) {
	const op = "device_code token request"
	grant := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {d.deviceCode.Reveal()}}
	if !verifier.IsZero() {
		grant.Set("code_verifier", verifier.Reveal())
	}
	interval := d.interval
	var backoff time.Duration // > 0 while the server is unreachable or failing
	for {
		wait := interval
		if backoff > 0 {
			wait = backoff
		}
		remaining := d.expiresAt.Sub(c.now())
		if remaining <= 0 {
			return tokens.Token{}, c.deviceExpired()
		}
		if err := c.sleep(ctx, min(wait, remaining)); err != nil {
			return tokens.Token{}, fmt.Errorf("provider %q: device login interrupted: %w", c.p.ID, err)
		}
		t, err := c.tokenRequest(ctx, op, meta, grant)
		if err == nil {
			return t, nil
		}
		if ctx.Err() != nil {
			return tokens.Token{}, fmt.Errorf("provider %q: device login interrupted: %w", c.p.ID, ctx.Err())
		}
		var oe *Error
		if !errors.As(err, &oe) {
			return tokens.Token{}, err
		}
		switch {
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
