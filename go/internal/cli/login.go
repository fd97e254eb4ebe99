package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func (c *cli) newLoginCmd() *cobra.Command {
	var device, noBrowser, force, paste bool
	cmd := c.command(&cobra.Command{
		Use: "login [provider]", Short: "Log in now (in the browser, or --device: a code to enter elsewhere).",
		Long: `Runs the provider's interactive flow (authorization_code in the browser, or
device_code) and stores the tokens in the cache that OpenCode sessions share; a
running OpenCode picks them up within seconds. When a valid or refreshable login
is cached already, nothing is done unless --force is given. Without a provider,
a terminal offers the providers to choose from.

With --force, the cached login keeps working until the new one is stored (an
interrupted or failed login changes nothing); then the replaced refresh token is
revoked at the server (RFC 7009), unless both logins share one server session.

On a terminal the command shows what it waits for, the time left and how to
cancel (Ctrl-C, exit code 130).

In an SSH session, --device logs in with a code you enter on any other device
(the server must support the device authorization grant), and --paste with a
browser on any other machine: open the URL it prints there, sign in, and paste
back the address the browser ends on (a page on 127.0.0.1 that cannot be
reached from there). On a terminal where no browser can be opened (no display),
an authorization_code login offers the paste by itself; the loopback redirect
still works if the browser runs on this machine after all. For providers with a
machine flow (client_credentials, jwt_bearer, token_exchange) there is nothing
to log in to: a token is obtained to check the credentials.

The browser is opened with the platform's opener or the command in
OPENCODE_OAUTH2_BROWSER ("none" never opens one: the URL is printed instead).
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		if len(args) == 0 {
			id, err := pickProvider(c, cf)
			if err != nil {
				return err
			}
			args = []string{id}
		}
		s, p, err := c.openOne(cf, args)
		if err != nil {
			return err
		}
		defer s.Close()
		cfg := p.Config
		name := displayName(cfg)

		machine, flow := !cfg.Flow.Interactive(), cfg.Flow
		switch {
		case machine && device:
			return failf(exitUsage, "%s uses the %s flow, which needs no login; --device applies to user logins only", name, cfg.Flow)
		case paste && device:
			return failf(exitUsage, "--paste signs in with a browser (authorization_code), --device with a code: choose one")
		case paste:
			flow = config.AuthorizationCode
		case device:
			flow = config.DeviceCode
			if err := checkDeviceSupport(ctx, s, cfg); err != nil {
				return err
			}
		}
		// A machine flow has nothing to log in to: a token checks the
		// credentials. A user flow keeps a usable login unless --force.
		if machine || !force {
			tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			tok, err := p.Token(tctx, tokens.NoLogin)
			cancel()
			switch {
			case machine && err != nil:
				return withCode(tokenExitCode(err), explain(fmt.Sprintf("%s uses the %s flow, which needs no login, but getting a token failed", name, cfg.Flow), err))
			case machine:
				fmt.Fprintf(c.stderr, "%s uses the %s flow: no login needed. A token was obtained (%s).\n", name, cfg.Flow, expiryText(tok, c.now()))
				return nil
			case err == nil:
				fmt.Fprintf(c.stderr, "Already logged in to %s%s (%s). Use --force to log in again.\n", name, asWho(tok), expiryText(tok, c.now()))
				return nil
			case tokenExitCode(err) != exitLoginRequired:
				return withCode(tokenExitCode(err), explain("could not check the cached login of "+name, err))
			}
		}

		opener := browser.Opener{Getenv: c.getenv, Stderr: c.stderr}
		w := &waiter{c: c, name: name, openErr: browser.ErrDisabled}
		opts := oauth.Options{Log: s.log, Stderr: io.Discard, Getenv: c.getenv, Prompt: w.show,
			// Never an error: the prompt says what happened, and --no-browser or
			// OPENCODE_OAUTH2_BROWSER=none are choices, not failures to warn about.
			OpenBrowser: func(ctx context.Context, u string) error {
				if !noBrowser {
					w.openErr = opener.Open(ctx, u)
				}
				return nil
			}}
		// The login is bounded where every login is (tokens.Manager.Login); this
		// context ends the paste reader with it.
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// A browser on another machine: the user pastes the address it ended on.
		if flow == config.AuthorizationCode && (paste || (!noBrowser && isTTY(c.stdin) && noDisplay(opener))) {
			box := &oauth.PasteBox{Only: paste}
			lctx = oauth.WithPaste(lctx, box)
			go readPastes(lctx, c, box)
		}
		tok, replaced, err := p.LoginWith(lctx, flow, &opts)
		w.finish()
		if err != nil {
			code := tokenExitCode(err)
			if code == exitLoginRequired { // the login itself failed, was refused or timed out
				code = exitFailure
			}
			return withCode(code, explain("login to "+name+" failed", err))
		}
		fmt.Fprintf(c.stderr, "%s to %s%s with %s (%s). OpenCode sessions use this login from now on.\n",
			c.color.green("Logged in"), name, asWho(tok), flow, expiryText(tok, c.now()))
		revokeReplaced(ctx, c, p, replaced, tok)
		return nil
	})
	fs := cmd.Flags()
	fs.BoolVar(&device, "device", false, "use the device authorization grant (a code to enter elsewhere), e.g. over SSH")
	fs.BoolVar(&noBrowser, "no-browser", false, "do not open a browser; print the URL to open instead")
	fs.BoolVar(&force, "force", false, "log in again even when a valid login is cached")
	fs.BoolVar(&paste, "paste", false, "sign in with a browser on another machine and paste back the address it ends on")
	return cmd
}

// noDisplay reports whether no browser can be opened here (no graphical
// session, as over SSH).
func noDisplay(o browser.Opener) bool {
	_, err := o.Command("http://127.0.0.1/")
	return errors.Is(err, browser.ErrNoDisplay)
}

// readPastes hands each line of stdin to the login until one is its answer;
// a line that is not says why, and the login goes on waiting.
func readPastes(ctx context.Context, c *cli, box *oauth.PasteBox) {
	lines := bufio.NewScanner(c.stdin)
	lines.Buffer(make([]byte, 0, 4096), 64<<10)
	for lines.Scan() {
		text := strings.TrimSpace(lines.Text())
		if text == "" {
			continue
		}
		err := box.Paste(text)
		if err == nil || ctx.Err() != nil {
			return
		}
		fmt.Fprintf(c.stderr, "%s %s\nPaste the address again (Ctrl-C to cancel): ", c.color.red("Not accepted:"), redact.Clean(err.Error(), 300))
	}
}

// pickProvider asks which provider to log in to: a numbered list to
// choose from on a terminal; elsewhere the list and a usage error.
func pickProvider(c *cli, cf *commonFlags) (string, error) {
	s, ps, err := c.open(cf)
	if err != nil {
		return "", err
	}
	defer s.Close()
	if len(ps) == 0 {
		return "", failf(exitConfig, "no provider with an oauth2 block in the OpenCode config (read from %s); see `%s`",
			s.sourcesText(), c.hint("doctor"))
	}
	var list strings.Builder
	for i, p := range ps {
		fmt.Fprintf(&list, "  %d) %s — %s\n", i+1, displayName(p.Config), p.Config.Flow)
	}
	if !isTTY(c.stdin) || !isTTY(c.stderr) {
		return "", failf(exitUsage, "name the provider to log in to, e.g. `%s`; the providers are:\n%s",
			c.hint("login", ps[0].Config.ID), strings.TrimRight(list.String(), "\n"))
	}
	fmt.Fprintf(c.stderr, "Log in to which provider?\n%s", list.String())
	def := ""
	if len(ps) == 1 {
		def = " [1]"
	}
	fmt.Fprintf(c.stderr, "Number%s: ", def)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil && line == "" {
		return "", failf(exitUsage, "no provider chosen")
	}
	if line == "" && len(ps) == 1 {
		line = "1"
	}
	if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(ps) {
		return ps[n-1].Config.ID, nil
	}
	// A typed id is fine too.
	if slices.ContainsFunc(ps, func(p *service.Provider) bool { return p.Config.ID == line }) {
		return line, nil
	}
	return "", failf(exitUsage, "%q is not one of the numbers 1 to %d", line, len(ps))
}

// checkDeviceSupport fails unless the server (or the config) has a device
// authorization endpoint, before the cached login is touched.
func checkDeviceSupport(ctx context.Context, s *session, cfg config.Provider) error {
	dc := cfg
	dc.Flow = config.DeviceCode
	client, err := oauth.New(dc, oauth.Options{Log: s.log})
	if err != nil {
		return withCode(exitConfig, err)
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	meta, err := client.Metadata(mctx)
	if err != nil {
		return withCode(exitFailure, explain("cannot check device login support of "+displayName(cfg), err))
	}
	if meta.DeviceAuthorizationEndpoint == "" {
		return failf(exitFailure, "%s does not support device logins: the server metadata of %s has no device_authorization_endpoint "+
			"(if the server has one, set deviceAuthorizationEndpoint in the oauth2 block); log in without --device", displayName(cfg), cfg.Issuer)
	}
	return nil
}

// asWho is " as <identity>" from the id_token, or "".
func asWho(t tokens.Token) string {
	if id, ok := identityOf(t.IDToken); ok {
		return " as " + id.String()
	}
	return ""
}

// expiryText describes when the access token expires.
func expiryText(t tokens.Token, now time.Time) string {
	if t.ExpiresAt.IsZero() {
		return "the access token has no expiry"
	}
	s := "access token " + expiry(t.ExpiresAt, now)
	if !t.RefreshToken.IsZero() {
		s += "; it is renewed with the refresh token"
	}
	return s
}

// revokeReplaced revokes (RFC 7009) the refresh token of the login that
// `login --force` replaced, so it cannot be used any more. It is skipped
// when both logins belong to the same session at the server (the same sid
// claim in their id_tokens): servers like Keycloak end the whole session
// on such a revocation, which would take the new login with it. A failure
// is reported, never fatal: the new login is stored already.
func revokeReplaced(ctx context.Context, c *cli, p *service.Provider, old, cur tokens.Token) {
	if old.RefreshToken.IsZero() || old.RefreshToken.Equal(cur.RefreshToken) {
		return
	}
	if sid, _ := jwtClaims(old.IDToken)["sid"].(string); sid != "" && jwtClaims(cur.IDToken)["sid"] == sid {
		fmt.Fprintln(c.stderr, "The replaced login belongs to the same session at the server; its refresh token is not revoked (that would end the new login too).")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := p.OAuth.Revoke(rctx, old.RefreshToken, oauth.HintRefreshToken)
	switch {
	case err == nil:
		fmt.Fprintf(c.stderr, "Revoked the replaced refresh token at %s.\n", p.Config.Issuer)
	case errors.Is(err, oauth.ErrNoRevocationEndpoint):
		fmt.Fprintf(c.stderr, "The replaced refresh token was not revoked: %s has no revocation endpoint; it stays valid until it expires.\n", p.Config.Issuer)
	default:
		fmt.Fprintf(c.stderr, "warning: %v\n", explain("could not revoke the replaced refresh token", err))
	}
}

// waiter shows a login's prompt and, while the login waits, what it waits
// for, the time left and how to cancel: on a terminal as one line updated
// in place, otherwise as one plain line.
type waiter struct {
	c    *cli
	name string // the provider as the user knows it
	// openErr is why no browser was opened for the login: nil when one was,
	// browser.ErrDisabled when none was to be (--no-browser, or
	// OPENCODE_OAUTH2_BROWSER=none).
	openErr error

	mu   sync.Mutex
	stop func() // ends the countdown, if one runs, and waits for it
}

// show renders a prompt of the oauth package (called from the login).
func (w *waiter) show(p oauth.Prompt) {
	k, out := w.c.color, w.c.stderr
	w.finish()
	waitingFor := "the login in the browser"
	switch p.Kind {
	case oauth.PromptPaste:
		fmt.Fprintf(out, "%s\n  %s\nPaste the address here: ", redact.Clean(p.Message, 400), k.bold(p.URL))
		p.ExpiresAt = time.Time{} // no countdown: the user types (pastes) on this terminal
	case oauth.PromptDeviceCode:
		fmt.Fprintf(out, "%s\n  %s\n  code: %s\n", redact.Clean(p.Message, 300), k.bold(p.URL), k.bold(k.yellow(p.UserCode)))
		waitingFor = "the code to be entered at " + hostOf(p.URL)
	default:
		switch err := w.openErr; {
		case err == nil:
			fmt.Fprintf(out, "A browser window was opened to log in to %s. If it did not appear, open this URL on this machine:\n", w.name)
		case !errors.Is(err, browser.ErrDisabled):
			fmt.Fprintf(out, "Could not open a browser (%s). To log in to %s, open this URL in a browser on this machine:\n", redact.Clean(err.Error(), 200), w.name)
		default:
			fmt.Fprintf(out, "To log in to %s, open this URL in a browser on this machine:\n", w.name)
		}
		fmt.Fprintf(out, "  %s\n", k.bold(p.URL))
	}
	if p.ExpiresAt.IsZero() {
		return
	}
	if !isTTY(out) {
		fmt.Fprintf(out, "Waiting for %s until %s (Ctrl-C to cancel).\n", waitingFor, p.ExpiresAt.Local().Format("15:04:05"))
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go w.countdown(waitingFor, p.ExpiresAt, stop, done)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stop = func() {
		close(stop)
		<-done
	}
}

// countdown rewrites the status line every tick until stop is closed.
func (w *waiter) countdown(waitingFor string, until time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	k := w.c.color
	spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for i := 0; ; i++ {
		left := max(until.Sub(w.c.now()).Round(time.Second), 0)
		fmt.Fprintf(w.c.stderr, "\r\x1b[K%s Waiting for %s: %s left %s", k.yellow(spin[i%len(spin)]), waitingFor, left,
			k.dim("(Ctrl-C to cancel)"))
		select {
		case <-stop:
			fmt.Fprint(w.c.stderr, "\r\x1b[K")
			return
		case <-t.C:
		}
	}
}

// finish stops the status line; the next output starts on a clean line.
func (w *waiter) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "that URL"
}
