package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// waiter shows a login's prompt and, while the login waits, what it waits
// for, the time left and how to cancel: on a terminal as one line updated
// in place, otherwise as one plain line.
type waiter struct {
	c       *cli
	name    string // the provider as the user knows it
	tty     bool
	tick    time.Duration
	opened  bool  // a browser was opened for the login
	openErr error // why not (browser.ErrDisabled: OPENCODE_OAUTH2_BROWSER=none)

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// show renders a prompt of the oauth package (called from the login).
func (w *waiter) show(p oauth.Prompt) {
	k := w.c.color
	var b strings.Builder
	waitingFor := "the login in the browser"
	switch p.Kind {
	case oauth.PromptPaste:
		fmt.Fprintf(&b, "%s\n  %s\nPaste the address here: ", redact.Clean(p.Message, 400), k.bold(p.URL))
		p.ExpiresAt = time.Time{} // no countdown: the user types (pastes) on this terminal
	case oauth.PromptDeviceCode:
		fmt.Fprintf(&b, "%s\n  %s\n  code: %s\n", redact.Clean(p.Message, 300), k.bold(p.URL), k.bold(k.yellow(p.UserCode)))
		waitingFor = "the code to be entered at " + hostOf(p.URL)
	default:
		switch err := w.openErr; {
		case w.opened:
			fmt.Fprintf(&b, "A browser window was opened to log in to %s. If it did not appear, open this URL on this machine:\n", w.name)
		case err != nil && !errors.Is(err, browser.ErrDisabled):
			fmt.Fprintf(&b, "Could not open a browser (%s). To log in to %s, open this URL in a browser on this machine:\n", redact.Clean(err.Error(), 200), w.name)
		default:
			fmt.Fprintf(&b, "To log in to %s, open this URL in a browser on this machine:\n", w.name)
		}
		fmt.Fprintf(&b, "  %s\n", k.bold(p.URL))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
	fmt.Fprint(w.c.stderr, b.String())
	if p.ExpiresAt.IsZero() {
		return
	}
	if !w.tty {
		fmt.Fprintf(w.c.stderr, "Waiting for %s until %s (Ctrl-C to cancel).\n", waitingFor, p.ExpiresAt.Local().Format("15:04:05"))
		return
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.countdown(waitingFor, p.ExpiresAt, w.stop, w.done)
}

// countdown rewrites the status line every tick until stop is closed.
func (w *waiter) countdown(waitingFor string, until time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	k := w.c.color
	spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	t := time.NewTicker(w.tick)
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
	w.stopLocked()
}

func (w *waiter) stopLocked() {
	if w.stop == nil {
		return
	}
	close(w.stop)
	<-w.done
	w.stop, w.done = nil, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return "that URL"
}
