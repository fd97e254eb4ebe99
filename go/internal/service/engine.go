// Package service is what the sidecar serves behind the protocol (Hub, an
// Engine per OpenCode location): it turns the OpenCode config into managed
// providers, builds their OpenCode provider entries, hands out the token
// headers, runs logins, keeps model lists fresh in the background, and
// tells the shim when a provider's headers or models change. The command
// line uses the same providers (Engine.Load, Provider).
package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Options configure an Engine.
type Options struct {
	Log      *slog.Logger
	Sink     *logging.Sink // may be nil (no forwarding)
	CacheDir string        // "" = store.DefaultDir()
	// BootBudget bounds the network work config/apply may do (token
	// refresh or machine grant for the header propagation). Default 3 s.
	BootBudget time.Duration
	// Version is the build version, for the log.
	Version string
	// WatchEvery is how often the cache files are checked for changes made
	// by other processes (CLI login/logout). Default 2 s; <0 disables.
	WatchEvery time.Duration
	// Now is the clock of the engine, its providers and their tokens; nil
	// means time.Now.
	Now func() time.Time
}

// Engine serves one OpenCode location for the Hub (its requests, as
// rpc.Service names them), and the command line (Load, Provider).
type Engine struct {
	opt Options
	log *slog.Logger

	bg     context.Context
	stopBg context.CancelFunc

	mu          sync.RWMutex
	notifier    protocol.Notifier
	interactive bool
	directory   string // OpenCode's project directory (initialize, or the location's)
	location    string // the OpenCode location served ("" in OpenCode 1)
	store       *store.Store
	managedByID map[string]*Provider
	broken      map[string]string // provider id → why its oauth2 block was refused
	// userProviders are the provider entries of the last config/apply, as
	// the user wrote them (the base of the entries a login returns).
	userProviders map[string]map[string]any
	loginMu       sync.Mutex
	logins        []*login       // under way, in the order they began
	bgWork        sync.WaitGroup // background goroutines, waited for by Shutdown
	watchOnce     sync.Once
}

// New returns an engine; background work stops with Shutdown.
func New(o Options) *Engine {
	o.BootBudget = cmp.Or(max(o.BootBudget, 0), 3*time.Second)
	if o.WatchEvery == 0 {
		o.WatchEvery = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	bg, cancel := context.WithCancel(context.Background())
	return &Engine{opt: o, log: o.Log, bg: bg, stopBg: cancel, managedByID: map[string]*Provider{}}
}

// openStore opens the cache directory once: the engine's option, else
// the directory CacheDirFor names ($OPENCODE_OAUTH2_CACHE_DIR, else the
// config's cacheDir, else the user cache directory). When that directory is
// unusable (read-only, full, another user's) the state is kept in memory for
// this process: nothing is written to a temporary directory, so no token is
// left behind. The store returned is usable either way; unusable says why
// the state is in memory, to the call that opened the store only, for its
// caller to report.
func (e *Engine) openStore(configured string) (s *store.Store, unusable error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil {
		return e.store, nil
	}
	dir := cmp.Or(e.opt.CacheDir, CacheDirFor(config.Settings{CacheDir: configured}))
	s, err := store.Open(dir, e.log)
	if err != nil {
		s, unusable = store.Memory(e.log), fmt.Errorf("open the token cache: %w", err)
	}
	e.store = s
	return s, unusable
}

func (e *Engine) notify(method string, params any) {
	e.mu.RLock()
	n := e.notifier
	e.mu.RUnlock()
	if n != nil {
		_ = n(context.Background(), method, params)
	}
}

// Headers answers headers/get.
func (e *Engine) Headers(ctx context.Context, p protocol.HeadersParams) (protocol.HeadersResult, error) {
	e.mu.RLock()
	mode := tokens.Mode(e.interactive) // AllowLogin when a person may be asked
	e.mu.RUnlock()
	rt, err := e.lookup(p.ProviderID)
	if rt == nil {
		return protocol.HeadersResult{Headers: map[string]string{}}, err
	}
	if p.Refused != "" && rt.Tokens.Reject(p.Refused) {
		e.log.Warn("the gateway refused a token within its lifetime; renewing it", "provider", p.ProviderID)
	}
	tok, err := rt.Tokens.Token(ctx, mode)
	if err != nil {
		if errors.Is(err, tokens.ErrLoginRequired) && mode == tokens.NoLogin {
			err = fmt.Errorf("%w; log in with: %s", err, e.loginHint(p.ProviderID))
		}
		e.log.Error("no access token for a request", "provider", p.ProviderID, "err", err)
		return protocol.HeadersResult{}, &protocol.TokenError{ProviderID: p.ProviderID, Reason: reason(err), Err: err}
	}
	rt.maybeLazySync()
	return protocol.HeadersResult{
		Headers:    map[string]string{rt.Config.HeaderName(): headerValue(rt.Config, tok).Reveal()},
		CacheUntil: min(rt.Tokens.Policy().FreshUntil(tok).UnixMilli(), e.opt.Now().Add(5*time.Minute).UnixMilli()),
	}, nil
}

// lookup is the managed provider with this id, else nil and, when its
// oauth2 block was refused, the error its requests get.
func (e *Engine) lookup(id string) (*Provider, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if why := e.broken[id]; why != "" {
		return nil, &protocol.TokenError{ProviderID: id, Reason: protocol.ReasonConfig, Err: fmt.Errorf("the oauth2 configuration is invalid: %s", why)}
	}
	return e.managedByID[id], nil
}

func reason(err error) string {
	switch {
	case errors.Is(err, tokens.ErrLoginRequired), errors.Is(err, tokens.ErrInvalidGrant):
		return protocol.ReasonLoginRequired
	case errors.Is(err, tokens.ErrInvalidClient):
		return protocol.ReasonInvalidClient
	case errors.Is(err, tokens.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		return protocol.ReasonTransient
	}
	return protocol.ReasonConfig
}

// Shutdown ends the engine: background work stops, and token cache
// writes under way finish (a renewed refresh token must reach the disk
// before the process exits).
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopBg()
	e.mu.Lock()
	rts := slices.Collect(maps.Values(e.managedByID))
	e.mu.Unlock()
	for _, rt := range rts {
		rt.stop()
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second) // for the background work and the cache writes
	defer cancel()
	// Background work (model syncs, the file watcher) sees the cancelled
	// context and ends; wait for it, so nothing writes after Shutdown.
	done := make(chan struct{})
	go func() {
		e.bgWork.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-fctx.Done():
		e.log.Warn("background work did not finish before shutdown")
	}
	for _, rt := range rts {
		if err := rt.Tokens.Flush(fctx); err != nil {
			e.log.Warn("a token cache write did not finish before shutdown", "provider", rt.Config.ID, "err", err)
		}
	}
	return nil
}

// newManaged builds the per-provider machinery for p (the config's settings applied).
func (e *Engine) newManaged(p config.Provider, cacheDir string) (*Provider, error) {
	client, err := oauth.New(p, oauth.Options{Log: e.log, Prompt: e.prompt, Now: e.opt.Now})
	if err != nil {
		return nil, err
	}
	st, err := e.openStore(cacheDir)
	if err != nil {
		e.log.Warn("token cache directory unusable; tokens are kept in memory for this process only "+
			"(set OPENCODE_OAUTH2_CACHE_DIR to a directory of yours)", "provider", p.ID, "err", err)
	}
	entry, err := e.tokenEntry(p, st)
	if err != nil {
		return nil, err
	}
	rt := &Provider{e: e, Config: p, OAuth: client, Entry: entry}
	rt.Tokens = tokens.NewManager(tokens.Options{
		ProviderID: p.ID,
		Grant:      client,
		Entry:      entry,
		Policy:     tokens.Policy{Skew: p.ExpirySkew, UserFlow: p.Flow.Interactive()},
		Header:     func(t tokens.Token) secret.String { return headerValue(p, t) },
		Log:        e.log,
		Now:        e.opt.Now,
		OnChange: func() {
			e.notify(protocol.NotifyInvalidate, protocol.ProviderParams{ProviderID: p.ID, Location: e.location})
		},
		LoginTimeout: loginTimeout(p),
		// Requests are answered before the cache write; Shutdown and the
		// command line's calls (Provider) wait for it.
		WriteBehind: true,
	})
	state := entry.Load()
	var cached []models.Model
	if err := json.Unmarshal(state.Models, &cached); err != nil && len(state.Models) > 0 {
		e.log.Warn("cached model list unreadable; it will be fetched again", "provider", p.ID, "err", err)
		cached = nil
	}
	cached = models.Screen(e.log, p.ID, "cached model list", cached, 0, cmp.Or(p.MaxModels, config.DefaultMaxModels))
	rt.Catalog = models.NewCatalog(cached)
	rt.lastSync = state.LastSyncAt
	return rt, nil
}

// headerValue is the value of the provider's token header for tok.
func headerValue(p config.Provider, tok tokens.Token) secret.String {
	return secret.New(p.HeaderValue(tok.TokenType, tok.AccessToken.Reveal()))
}

// tokenEntry is where the provider's tokens live (tokenStorage): the cache
// directory's file, the OS keychain, or this process's memory.
func (e *Engine) tokenEntry(p config.Provider, st *store.Store) (*store.Entry, error) {
	entry := st.Entry(p.ID, p.CacheKey())
	switch p.TokenStorage {
	case config.StorageMemory:
		return store.Memory(e.log).Entry(p.ID, p.CacheKey()), nil
	case config.StorageKeyring, config.StorageAuto:
		k := store.DefaultKeyring()
		err := k.Probe()
		switch {
		case err == nil:
			return entry.InKeyring(k), nil
		case p.TokenStorage == config.StorageAuto:
			e.log.Warn("no keychain answers; this provider's tokens are kept in the cache file (tokenStorage auto)", "provider", p.ID, "err", err)
			return entry, nil
		}
		return nil, fmt.Errorf("provider %q: tokenStorage is \"keyring\", but %w; start and unlock a keychain (on Linux a Secret Service such as gnome-keyring or KeePassXC), or set tokenStorage to \"auto\" or \"file\"", p.ID, err)
	}
	return entry, nil
}

// prompt forwards a login prompt (open this URL, enter this code) to the
// shim, which shows it where the user sees it.
func (e *Engine) prompt(p oauth.Prompt) {
	params := protocol.PromptParams{ProviderID: p.ProviderID, Kind: p.Kind, Message: p.Message, URL: p.URL, UserCode: p.UserCode,
		Text: p.Text(), Location: e.location}
	if !p.ExpiresAt.IsZero() {
		params.ExpiresAt = p.ExpiresAt.UnixMilli()
	}
	params.Toast, params.ToastMs = toast(p, e.opt.Now())
	e.notify(protocol.NotifyPrompt, params)
}

// toast is a prompt as a toast words it, which promises no key (in the
// full-screen TUI Ctrl-C is a key, not a signal): the sentence, the URL and
// the code on lines of their own; and how long it stays, until the login
// stops waiting (within 10 s to 5 min; 2 min when that is unknown).
func toast(p oauth.Prompt, now time.Time) (string, int64) {
	words := []string{p.Message, p.URL}
	if p.UserCode != "" {
		words = append(words, "code: "+p.UserCode)
	}
	words = slices.DeleteFunc(words, func(w string) bool { return w == "" })
	d := 2 * time.Minute
	if !p.ExpiresAt.IsZero() {
		d = min(max(p.ExpiresAt.Sub(now), 10*time.Second), 5*time.Minute)
	}
	return strings.Join(words, "\n"), d.Milliseconds()
}

// loginTimeout bounds one interactive acquisition. The device grant ends by
// itself when its code expires (often 10-15 min), so it gets a wider bound.
func loginTimeout(p config.Provider) time.Duration {
	t := cmp.Or(max(p.LoginTimeout, 0), config.DefaultLoginTimeout)
	if p.Flow == config.DeviceCode {
		t = max(t, 30*time.Minute)
	}
	return t
}

// loginWait is how long the shim waits for a login of p, and for a
// headers/get that may run one (config/apply's loginTimeoutMs): the login's
// own bound plus a tenth (at least 5 s), so that the sidecar's timeout
// speaks first, and never less than headers/get's own minute.
func loginWait(p config.Provider) time.Duration {
	t := loginTimeout(p)
	return max(t+max(5*time.Second, t/10), time.Minute)
}
