package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

// Hub implements rpc.Service for one sidecar process: an Engine per OpenCode
// location. OpenCode 1 runs one plugin instance per process (location "");
// the OpenCode 2 service runs one per project directory in one process, and
// they share one sidecar. Each location's providers are its own (two
// directories may configure one provider id differently); their tokens meet
// only in the cache, whose key keeps different configurations apart.
type Hub struct {
	opt Options

	mu      sync.Mutex
	init    protocol.InitializeParams
	n       protocol.Notifier
	engines map[string]*Engine
	closed  bool
}

// NewHub returns a hub whose engines share o.
func NewHub(o Options) *Hub {
	return &Hub{opt: o, engines: map[string]*Engine{"": New(o)}}
}

// Initialize implements rpc.Service: OpenCode 1's engine (location "")
// takes the shim's word, a location's engine takes it when it is made, and
// OpenCode's log gets the sidecar's.
func (h *Hub) Initialize(_ context.Context, p protocol.InitializeParams, n protocol.Notifier) error {
	h.mu.Lock()
	h.init, h.n = p, n
	e := h.engines[""]
	h.mu.Unlock()
	e.mu.Lock()
	e.notifier, e.interactive, e.directory = n, interactive(p.Interactive, os.Getenv), p.Directory
	e.mu.Unlock()
	if sink := h.opt.Sink; sink != nil {
		// OpenCode's log gets warnings and errors, everything when OpenCode
		// runs at DEBUG; the sidecar's log file follows DEBUG too.
		if lvl, ok := logging.ParseLevel(p.LogLevel); ok && lvl < slog.LevelInfo {
			sink.SetLevel(lvl)
			sink.SetFileLevel(lvl)
		} else if ok {
			sink.SetLevel(max(lvl, slog.LevelWarn))
		}
		sink.SetForwarder(func(r logging.Record) {
			// OpenCode's log does not show who speaks: the message says it.
			msg := r.Message
			if !strings.HasPrefix(msg, "opencode-oauth2") {
				msg = "opencode-oauth2: " + msg
			}
			_ = n(context.Background(), protocol.NotifyLog, protocol.LogParams{Level: r.Level, Message: msg, Extra: r.Extra})
		})
	}
	attrs := []any{"version", h.opt.Version, "pid", os.Getpid(), "host_version", hostVersion(p, os.Getenv),
		"interactive", e.interactive, "directory", p.Directory}
	if b := p.Binary; b != nil {
		attrs = append(attrs, "binary", b.Path, "binary_source", b.Source, "binary_check", b.Check)
	}
	e.log.Info("sidecar started", attrs...)
	return nil
}

// hostVersion is OpenCode's version, for the log (doctor reads it): the
// shim's word (OpenCode 2), else OPENCODE_VERSION, else the npm package the
// host's executable came from (node_modules/opencode-ai/bin/opencode ->
// ../package.json, a package whose name starts with "opencode").
func hostVersion(p protocol.InitializeParams, getenv func(string) string) string {
	if v := cmp.Or(p.HostVersion, getenv("OPENCODE_VERSION")); v != "" || p.HostPath == "" {
		return v
	}
	// Bounded, and never blocked by a FIFO planted there (safefile).
	b, err := safefile.Read(filepath.Join(filepath.Dir(p.HostPath), "..", "package.json"), 1<<20)
	var pkg struct{ Name, Version string }
	if err != nil || json.Unmarshal(b, &pkg) != nil || !strings.HasPrefix(pkg.Name, "opencode") {
		return ""
	}
	return pkg.Version
}

// interactive decides whether a person is at a terminal, so that a login
// may wait for them: OPENCODE_OAUTH2_INTERACTIVE (1/true/yes, 0/false/no)
// decides, else a CI variable (set, not 0/false) means no, else the shim's
// word (a terminal, and no server: initialize's interactive).
func interactive(terminal bool, getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv("OPENCODE_OAUTH2_INTERACTIVE"))) {
	case "1", "true", "yes":
		return true
	case "0", "false", "no":
		return false
	}
	if ci := strings.ToLower(strings.TrimSpace(getenv("CI"))); ci != "" && ci != "0" && ci != "false" {
		return false
	}
	return terminal
}

// engine is the location's engine, made on first use.
func (h *Hub) engine(location, directory string) (*Engine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("the sidecar is shutting down")
	}
	if e, ok := h.engines[location]; ok {
		return e, nil
	}
	e := New(h.opt)
	e.notifier, e.interactive, e.location = h.n, h.init.Interactive, location
	e.directory = cmp.Or(directory, h.init.Directory)
	h.engines[location] = e
	e.log.Info("location opened", "location", location, "directory", e.directory, "locations", len(h.engines))
	return e, nil
}

// Location is the location's engine, or nil when it has none ("" is
// OpenCode 1's).
func (h *Hub) Location(location string) *Engine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engines[location]
}

// ApplyConfig implements rpc.Service.
func (h *Hub) ApplyConfig(ctx context.Context, p protocol.ConfigApplyParams) (protocol.ConfigApplyResult, error) {
	e, err := h.engine(p.Location, p.Directory)
	if err != nil {
		return protocol.ConfigApplyResult{}, err
	}
	return e.ApplyConfig(ctx, p)
}

// Headers implements rpc.Service.
func (h *Hub) Headers(ctx context.Context, p protocol.HeadersParams) (protocol.HeadersResult, error) {
	if e := h.Location(p.Location); e != nil {
		return e.Headers(ctx, p)
	}
	return protocol.HeadersResult{Headers: map[string]string{}}, nil
}

// Login implements rpc.Service.
func (h *Hub) Login(ctx context.Context, p protocol.LoginParams) (protocol.LoginResult, error) {
	e, err := h.engine(p.Location, "")
	if err != nil {
		return protocol.LoginResult{}, err
	}
	return e.Login(ctx, p)
}

// Paste implements rpc.Service.
func (h *Hub) Paste(ctx context.Context, p protocol.LoginPasteParams) error {
	e := h.Location(p.Location)
	if e == nil {
		return oauth.ErrNoLoginWaits
	}
	return e.Paste(ctx, p)
}

// CancelLogins implements rpc.Service: every location's logins end.
func (h *Hub) CancelLogins() {
	for _, e := range h.all() {
		e.CancelLogins()
	}
}

// CloseLocation implements rpc.Service: the location's providers stop (the
// OpenCode 2 service dropped or reloads it); its next config/apply starts
// them again. The location of OpenCode 1 is never closed.
func (h *Hub) CloseLocation(location string) {
	if location == "" {
		return
	}
	h.mu.Lock()
	e := h.engines[location]
	delete(h.engines, location)
	h.mu.Unlock()
	if e != nil {
		_ = e.Shutdown(context.Background())
		e.log.Info("location closed", "location", location)
	}
}

// Shutdown implements rpc.Service.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	var errs []error
	for _, e := range h.all() {
		errs = append(errs, e.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (h *Hub) all() []*Engine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Collect(maps.Values(h.engines))
}
