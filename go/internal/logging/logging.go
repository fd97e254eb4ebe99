// Package logging builds the sidecar's structured logger. Records go to
// stderr (never stdout, which carries the protocol), to the sidecar's own
// size-bounded log file (RotatingFile) and, once a host is connected, to a
// forwarder that turns them into `log` notifications.
// Secrets are values of type secret.String, which resolve to a redacted form
// through slog.LogValuer, so no record can carry one.
package logging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/adrg/xdg"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

// Record is a log record in the form the host receives it.
type Record struct {
	Level   string         // "debug" | "info" | "warn" | "error"
	Message string         // the event name or sentence
	Extra   map[string]any // attributes, already resolved (secrets redacted)
}

// Forwarder receives records at or above the logger's level.
type Forwarder func(Record)

// Sink owns the levels and the forwarder of a logger built by NewWithFile.
type Sink struct {
	level     slog.LevelVar // stderr and forwarded records
	fileLevel slog.LevelVar // the log file's records
	forward   atomic.Value  // Forwarder, nil when none
}

// SetLevel changes the minimum level of both stderr and forwarded records.
func (s *Sink) SetLevel(l slog.Level) { s.level.Set(l) }

// SetFileLevel changes the minimum level of the log file's records.
func (s *Sink) SetFileLevel(l slog.Level) { s.fileLevel.Set(l) }

// SetForwarder installs (or, with nil, removes) the forwarder.
func (s *Sink) SetForwarder(f Forwarder) { s.forward.Store(f) }

// NewWithFile returns a logger writing JSON lines to w, to a log file
// (nil: none) at its own level, and to the sink's forwarder.
// A record goes to each of the log file, w and the forwarder that takes
// its level (slog.MultiHandler); a full disk does not stop the others.
func NewWithFile(w io.Writer, level slog.Level, file io.Writer, fileLevel slog.Level) (*slog.Logger, *Sink) {
	s := &Sink{}
	s.level.Set(level)
	s.fileLevel.Set(fileLevel)
	var hs []slog.Handler
	if file != nil {
		hs = append(hs, slog.NewJSONHandler(file, &slog.HandlerOptions{Level: &s.fileLevel}))
	}
	hs = append(hs, slog.NewJSONHandler(w, &slog.HandlerOptions{Level: &s.level}), &forwarder{sink: s})
	return slog.New(slog.NewMultiHandler(hs...)), s
}

// Discard returns a logger that drops everything (for tests and tools).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// levels are OpenCode's and our level names, lower case ("" is blank).
var levels = map[string]slog.Level{
	"trace": slog.LevelDebug, "debug": slog.LevelDebug, "": slog.LevelInfo, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError,
}

// ParseLevel maps OpenCode's and our level names to slog levels.
// Unknown names, and "", give info (the zero Level) and false.
func ParseLevel(name string) (slog.Level, bool) {
	l, ok := levels[strings.ToLower(strings.TrimSpace(name))]
	return l, ok && name != ""
}

// LevelName is the protocol name of a level: the name of the level slog
// rounds it down to (slog's "WARN+2" is "warn"), lower case.
func LevelName(l slog.Level) string {
	return strings.ToLower(strings.TrimRight(l.String(), "+-0123456789"))
}

// forwarder hands records at the sink's level to its forwarder, if any.
type forwarder struct {
	sink   *Sink
	attrs  []slog.Attr // with their groups' names in the key
	prefix string      // the open groups: "group.subgroup."
}

func (h *forwarder) Enabled(_ context.Context, l slog.Level) bool {
	f, _ := h.sink.forward.Load().(Forwarder)
	return l >= h.sink.level.Level() && f != nil
}

func (h *forwarder) Handle(_ context.Context, r slog.Record) error {
	f, _ := h.sink.forward.Load().(Forwarder)
	if f == nil {
		return nil
	}
	extra := make(map[string]any, r.NumAttrs()+len(h.attrs))
	for _, a := range h.attrs {
		extra[a.Key] = value(a.Value) // its groups are in its key already
	}
	r.Attrs(func(a slog.Attr) bool {
		extra[h.prefix+a.Key] = value(a.Value)
		return true
	})
	if len(extra) == 0 {
		extra = nil
	}
	f(Record{Level: LevelName(r.Level), Message: r.Message, Extra: extra})
	return nil
}

func (h *forwarder) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		n.attrs = append(n.attrs, a)
	}
	return &n
}

func (h *forwarder) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix += name + "."
	return &n
}

func value(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		out := map[string]any{}
		for _, a := range v.Group() {
			out[a.Key] = value(a.Value)
		}
		return out
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return v.String()
	default: // string, int64, uint64, float64, bool
		return v.Any()
	}
}

// EnvLogFile overrides where the sidecar's log file is written ("none":
// nowhere).
const EnvLogFile = "OPENCODE_OAUTH2_LOG_FILE"

// MaxFileBytes is the size at which the log file is rotated: the current
// file becomes <name>.1 (replacing the previous one), so the log never
// takes more than twice this.
const MaxFileBytes = 1 << 20

// DefaultFile is the sidecar's log file: $OPENCODE_OAUTH2_LOG_FILE, else
// opencode-oauth2/sidecar.log in the XDG state directory. "" means none.
func DefaultFile(getenv func(string) string) string {
	if v := getenv(EnvLogFile); v != "none" {
		return cmp.Or(v, filepath.Join(xdg.StateHome, "opencode-oauth2", "sidecar.log"))
	}
	return ""
}

// RotatingFile appends to a log file, rotating it at MaxFileBytes. Several
// processes may append to the same file: each line is one write to a file
// opened with O_APPEND. It is safe for concurrent use.
type RotatingFile struct {
	path string

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenFile opens (creating it and its directory, private to the user) the
// log file at path.
func OpenFile(path string) (*RotatingFile, error) {
	r := &RotatingFile{path: path}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	// Never through a symbolic link; a FIFO fails at once.
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|safefile.NoFollow|safefile.NonBlock, 0o600)
	if err != nil {
		return fmt.Errorf("open log file %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("log file %s: %w", r.path, err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// Write implements io.Writer: one call, one line.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, errors.New("log file closed")
	}
	if r.size+int64(len(p)) > MaxFileBytes && r.size > 0 {
		r.rotate()
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate moves the file to <path>.1 and starts a new one. A failure keeps
// writing to the current file.
func (r *RotatingFile) rotate() {
	if err := os.Rename(r.path, r.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return
	}
	old := r.f
	if r.open() == nil { // open leaves r.f as it was when it fails
		_ = old.Close()
	}
}

// Close closes the file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
