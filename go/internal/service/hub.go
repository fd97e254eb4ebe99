package service

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
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

// Initialize implements rpc.Service.
func (h *Hub) Initialize(ctx context.Context, p protocol.InitializeParams, n protocol.Notifier) error {
	h.mu.Lock()
	h.init, h.n = p, n
	first := h.engines[""]
	h.mu.Unlock()
	return first.Initialize(ctx, p, n)
}

// engine is the location's engine, made on first use.
func (h *Hub) engine(location, directory string) (*Engine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("the sidecar is shutting down")
	}
	if e, ok := h.engines[location]; ok {
		if directory != "" {
			e.mu.Lock()
			e.directory = directory
			e.mu.Unlock()
		}
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
