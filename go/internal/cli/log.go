package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
)

// lineHandler renders log records for a person at a terminal:
// "warning: message (key=value, ...)". Values are resolved through
// slog.LogValuer first, so secrets print redacted as in every log.
//
// With hold, a warning or error that carries an "err" is held until Flush:
// when the command then fails with that same error, the error is said
// once, by the command, not first as a warning.
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
	held  *[]heldLine // shared by the handlers derived with WithAttrs
}

type heldLine struct {
	text string
	err  string
}

func newLineHandler(w io.Writer, level slog.Leveler) *lineHandler {
	return &lineHandler{mu: &sync.Mutex{}, w: w, level: level}
}

// Flush writes the held lines, except those whose error the command's
// final error already says (failed may be nil).
func (h *lineHandler) Flush(failed error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return
	}
	said := errorTexts(failed)
	for _, l := range *h.held {
		if !slices.ContainsFunc(said, func(s string) bool { return strings.Contains(s, l.err) }) {
			_, _ = io.WriteString(h.w, l.text)
		}
	}
	*h.held = nil
}

// errorTexts are the messages of err and of every error it wraps.
func errorTexts(err error) []string {
	var out []string
	for err != nil {
		out = append(out, err.Error())
		err = errors.Unwrap(err)
	}
	return out
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if level := logging.LevelName(r.Level); level == "warn" {
		b.WriteString("warning: ")
	} else {
		b.WriteString(level + ": ")
	}
	b.WriteString(r.Message)
	var parts []string
	errText := ""
	add := func(a slog.Attr) {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			return
		}
		if a.Key == "err" {
			errText = a.Value.String()
		}
		parts = append(parts, fmt.Sprintf("%s=%s", a.Key, a.Value.String()))
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(a)
		return true
	})
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString("\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != nil && errText != "" && r.Level >= slog.LevelWarn {
		*h.held = append(*h.held, heldLine{text: b.String(), err: errText})
		return nil
	}
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is flattened: the command line's records are small.
func (h *lineHandler) WithGroup(string) slog.Handler { return h }
