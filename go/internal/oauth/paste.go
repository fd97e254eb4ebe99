package oauth

import (
	"context"
	"errors"
)

// PasteBox carries pasted authorization responses to an authorization-code
// login that runs with it (WithPaste): for a browser on another machine,
// whose redirect to 127.0.0.1 cannot arrive, the user pastes the address
// it ended on. The login then shows the authorization URL itself (a start
// URL on this machine's loopback would not open there).
type PasteBox struct {
	in chan pasteRequest
	// Only: the login takes pastes only; nothing answers on the loopback
	// address (a browser there gets "connection refused", as a remote one).
	Only bool
}

type pasteRequest struct {
	text  string
	reply chan error
}

// NewPasteBox returns an empty box; only says whether the login takes
// pastes only (see PasteBox.Only).
func NewPasteBox(only bool) *PasteBox { return &PasteBox{in: make(chan pasteRequest), Only: only} }

// ErrNoLoginWaits: no login takes pastes now (none started, or it ended).
var ErrNoLoginWaits = errors.New("no login is waiting for a pasted address")

// Paste hands text to the login and returns its verdict: nil when it was
// this login's answer (the login then exchanges the code), else why not.
func (b *PasteBox) Paste(ctx context.Context, text string) error {
	r := pasteRequest{text: text, reply: make(chan error, 1)}
	select {
	case b.in <- r:
	case <-ctx.Done():
		return ErrNoLoginWaits
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type pasteKey struct{}

// WithPaste lets the authorization-code login under ctx take pastes from box.
func WithPaste(ctx context.Context, box *PasteBox) context.Context {
	return context.WithValue(ctx, pasteKey{}, box)
}

func pasteBoxFrom(ctx context.Context) *PasteBox {
	b, _ := ctx.Value(pasteKey{}).(*PasteBox)
	return b
}

// servePastes judges pastes for paste until ctx ends.
func servePastes(ctx context.Context, box *PasteBox, paste func(string) error) {
	for {
		select {
		case r := <-box.in:
			r.reply <- paste(r.text)
		case <-ctx.Done():
			return
		}
	}
}
