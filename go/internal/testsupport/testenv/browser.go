package testenv

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The pages of the test authorization server are ours (examples/test-stack/lib/pages.mjs)
// or oidc-provider's small fixed forms, so a tiny form reader is enough here.
var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z_:][-a-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?`)
	tagRe   = regexp.MustCompile(`(?s)<[^>]*>`)
	styleRe = regexp.MustCompile(`(?is)<(style|script)\b.*?</(style|script)>`)
	spaceRe = regexp.MustCompile(`\s+`)
)

const maxPageBytes = 1 << 20

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3] + m[4])
	}
	return out
}

type form struct {
	id     string
	action string
	method string
	fields url.Values
}

// page is one answer the browser got: either an HTML page or a redirect it did not
// follow (Location set) because it leaves the authorization server.
type page struct {
	url      *url.URL
	status   int
	body     string
	location string
}

func (p page) form(id string) *form {
	for _, m := range formRe.FindAllStringSubmatch(p.body, -1) {
		a := attrs(m[1])
		if a["id"] != id {
			continue
		}
		f := &form{id: a["id"], action: a["action"], method: strings.ToUpper(a["method"]), fields: url.Values{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if ia["name"] == "" {
				continue
			}
			f.fields.Set(ia["name"], ia["value"])
		}
		return f
	}
	return nil
}

func (p page) hasID(id string) bool {
	return strings.Contains(p.body, `id="`+id+`"`)
}

// text is the visible text of the page, for error messages.
func (p page) text() string {
	s := styleRe.ReplaceAllString(p.body, " ")
	s = html.UnescapeString(tagRe.ReplaceAllString(s, " "))
	s = strings.TrimSpace(spaceRe.ReplaceAllString(s, " "))
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}

func (p page) describe() string {
	return fmt.Sprintf("%s answered %d: %s", p.url, p.status, p.text())
}

// browser is a cookie-keeping HTTP client that follows redirects within the
// authorization server and stops at any redirect that leaves it (the client's
// loopback callback), like a person's browser would hand over to the application.
type browser struct {
	origin string
	client *http.Client
}

func (s *AuthServer) newBrowser() (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("cookie jar: %w", err)
	}
	origin, err := url.Parse(s.Issuer)
	if err != nil {
		return nil, fmt.Errorf("parse issuer: %w", err)
	}
	b := &browser{origin: origin.Scheme + "://" + origin.Host}
	b.client = &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme+"://"+req.URL.Host != b.origin {
				return http.ErrUseLastResponse
			}
			if len(via) >= 20 {
				return errors.New("stopped after 20 redirects")
			}
			return nil
		},
	}
	return b, nil
}

func (b *browser) do(req *http.Request) (page, error) {
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", "opencode-oauth2-testenv")
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes))
	if err != nil {
		return page{}, fmt.Errorf("read %s: %w", resp.Request.URL, err)
	}
	p := page{url: resp.Request.URL, status: resp.StatusCode, body: string(body)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		loc, err := resp.Location()
		if err != nil {
			return page{}, fmt.Errorf("redirect from %s without a usable Location: %w", p.url, err)
		}
		p.location = loc.String()
	}
	return p, nil
}

func (b *browser) get(ctx context.Context, rawURL string) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return page{}, fmt.Errorf("build request: %w", err)
	}
	return b.do(req)
}

func (b *browser) submit(ctx context.Context, from page, f *form) (page, error) {
	action, err := from.url.Parse(f.action)
	if err != nil {
		return page{}, fmt.Errorf("form %s: bad action %q: %w", f.id, f.action, err)
	}
	if f.method != http.MethodPost {
		return page{}, fmt.Errorf("form %s: unsupported method %q", f.id, f.method)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(f.fields.Encode()))
	if err != nil {
		return page{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn fills the login form if p shows one, and returns the next page.
func (s *AuthServer) signIn(ctx context.Context, b *browser, p page) (page, error) {
	f := p.form("login-form")
	if f == nil {
		return p, nil
	}
	f.fields.Set("login", s.Username)
	f.fields.Set("password", s.Password)
	next, err := b.submit(ctx, p, f)
	if err != nil {
		return page{}, fmt.Errorf("sign in: %w", err)
	}
	if next.hasID("login-error") {
		return page{}, fmt.Errorf("sign in as %q rejected: %s", s.Username, next.text())
	}
	return next, nil
}

// CompleteAuthorization plays the person at the browser for an authorization request:
// it opens authorizeURL with a fresh cookie jar, signs in on the login form when one
// is shown (as Username/Password; AUTO_LOGIN skips it), lets consent be granted, and
// returns the URL of the redirect to the client's redirect URI without following it
// (so the caller can deliver it to its loopback listener or parse it). An error
// redirect (error=... in the callback URL) is returned as a callback URL too; an
// error page of the server is an error.
func (s *AuthServer) CompleteAuthorization(ctx context.Context, authorizeURL string) (string, error) {
	b, err := s.newBrowser()
	if err != nil {
		return "", err
	}
	p, err := b.get(ctx, authorizeURL)
	if err != nil {
		return "", fmt.Errorf("complete authorization: %w", err)
	}
	for range 3 {
		if p.location != "" {
			return p.location, nil
		}
		if p.form("login-form") == nil {
			break
		}
		if p, err = s.signIn(ctx, b, p); err != nil {
			return "", fmt.Errorf("complete authorization: %w", err)
		}
	}
	return "", fmt.Errorf("complete authorization: no redirect to the client: %s", p.describe())
}

// BrowseAuthorization is CompleteAuthorization followed by the browser loading the
// callback URL, i.e. delivering the code (or error) to the client's loopback listener,
// which is what a stub "open the browser" function in a test needs. It returns the
// status code of the listener's answer; an unreachable listener is an error.
func (s *AuthServer) BrowseAuthorization(ctx context.Context, authorizeURL string) (int, error) {
	callback, err := s.CompleteAuthorization(ctx, authorizeURL)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, callback, nil)
	if err != nil {
		return 0, fmt.Errorf("browse authorization: %w", err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("browse authorization: deliver callback: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPageBytes))
	return resp.StatusCode, nil
}

// ApproveDevice plays the person approving a device login: a fresh browser opens the
// verification page, types userCode, confirms, signs in if asked (AUTO_LOGIN skips
// it) and checks that the success page is shown.
func (s *AuthServer) ApproveDevice(ctx context.Context, userCode string) error {
	return s.answerDevice(ctx, userCode, true)
}

// DenyDevice is like ApproveDevice but presses Abort on the confirmation page; the
// device's next poll then gets access_denied.
func (s *AuthServer) DenyDevice(ctx context.Context, userCode string) error {
	return s.answerDevice(ctx, userCode, false)
}

func (s *AuthServer) answerDevice(ctx context.Context, userCode string, approve bool) error {
	what := "approve"
	if !approve {
		what = "deny"
	}
	b, err := s.newBrowser()
	if err != nil {
		return err
	}
	p, err := b.get(ctx, s.DeviceVerificationURL())
	if err != nil {
		return fmt.Errorf("%s device: %w", what, err)
	}
	input := p.form("op.deviceInputForm")
	if input == nil {
		return fmt.Errorf("%s device: no code input form: %s", what, p.describe())
	}
	input.fields.Set("user_code", userCode)
	if p, err = b.submit(ctx, p, input); err != nil {
		return fmt.Errorf("%s device: submit code: %w", what, err)
	}
	confirm := p.form("op.deviceConfirmForm")
	if confirm == nil {
		return fmt.Errorf("%s device: code %q not accepted: %s", what, userCode, p.describe())
	}
	if !approve {
		confirm.fields.Set("abort", "yes")
	}
	if p, err = b.submit(ctx, p, confirm); err != nil {
		return fmt.Errorf("%s device: confirm: %w", what, err)
	}
	if !approve {
		if p.hasID("device-aborted") {
			return nil
		}
		return fmt.Errorf("deny device: unexpected answer: %s", p.describe())
	}
	for range 3 {
		if p.form("login-form") == nil {
			break
		}
		if p, err = s.signIn(ctx, b, p); err != nil {
			return fmt.Errorf("approve device: %w", err)
		}
	}
	if p.hasID("device-success") {
		return nil
	}
	return fmt.Errorf("approve device: no success page: %s", p.describe())
}
