package oauth

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
)

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
	if c.prompt != nil {
		c.prompt(p)
		return
	}
	c.stderrMu.Lock()
	defer c.stderrMu.Unlock()
	_, _ = io.WriteString(c.stderr, "\n[opencode-oauth2] "+c.p.ID+": "+p.Text()+"\n\n")
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
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
