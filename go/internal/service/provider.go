package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Provider is one managed provider: its parts, which the command line uses
// as they are, and the steps that take more than one of them.
type Provider struct {
	e       *Engine // the engine that runs it
	Config  config.Provider
	OAuth   *oauth.Client
	Tokens  *tokens.Manager
	Entry   *store.Entry // the provider's cache entry (State: Entry.Load)
	Catalog *models.Catalog

	mu        sync.Mutex
	lastSync  time.Time
	cancel    context.CancelFunc
	lazyFired bool
	fileMod   time.Time
}

// stop ends the background sync and closes the idle connections of the
// provider's HTTP client: a provider replaced by a new config/apply must not
// keep a connection (two goroutines, buffers, a descriptor) open until the
// transport's idle timeout.
func (p *Provider) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel() // and start does nothing any more
	}
	p.OAuth.HTTPClient().CloseIdleConnections()
}

// start runs the background model sync: at once when the cached list is
// empty or older than the interval, then on the scheduler's rhythm.
func (p *Provider) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil || p.e.bg.Err() != nil { // started, stopped, or shutting down
		return
	}
	ctx, cancel := context.WithCancel(p.e.bg)
	p.cancel = cancel
	last := p.lastSync
	interval := cmp.Or(max(p.Config.SyncInterval, 0), config.DefaultSyncInterval)
	p.e.bgWork.Go(func() {
		failures := 0
		if len(p.Catalog.Models()) == 0 || p.e.opt.Now().Sub(last) >= interval {
			if err := p.sync(ctx); err != nil {
				failures = 1
			}
		}
		_ = models.Scheduler{
			Interval: interval,
			Failures: failures,
			Report: func(a models.Attempt) {
				if a.Err != nil {
					p.e.log.Debug("next model sync scheduled after a failure", "provider", p.Config.ID, "failures", a.Failures, "next", a.Next)
				}
			},
		}.Run(ctx, p.sync)
	})
}

// maybeLazySync syncs once in the background when a provider that has no
// models yet is used.
func (p *Provider) maybeLazySync() {
	p.mu.Lock()
	fire := !p.lazyFired && len(p.Catalog.Models()) == 0
	p.lazyFired = true
	p.mu.Unlock()
	if fire && p.e.bg.Err() == nil { // not shutting down
		p.e.bgWork.Go(func() {
			_ = p.sync(p.e.bg)
		})
	}
}

// sync fetches the model list with a token obtained without prompting and
// stores it with the provider's state. A failure keeps the last good list.
func (p *Provider) sync(ctx context.Context) error { return p.syncWith(ctx, tokens.Token{}) }

// syncWith is sync with tok when it is set (a login's: the token manager is
// not asked again).
func (p *Provider) syncWith(ctx context.Context, tok tokens.Token) error {
	tctx, cancel := context.WithTimeout(ctx, 2*cmp.Or(p.Config.HTTPTimeout, config.DefaultHTTPTimeout))
	defer cancel()
	log := p.e.log.With("provider", p.Config.ID)
	var err error
	if tok.AccessToken.IsZero() {
		tok, err = p.Tokens.Token(tctx, tokens.NoLogin)
	}
	if err != nil {
		p.recordError(tokens.NoTokenPrefix + err.Error())
		if errors.Is(err, tokens.ErrLoginRequired) {
			log.Info("model sync waits for a login", "err", err)
		} else {
			log.Warn("model sync failed: no token", "err", err)
		}
		return err
	}
	url, err := models.URL(p.Config.BaseURL, p.Config.ModelsURL)
	if err != nil {
		log.Error("model discovery is not possible", "err", err)
		return err
	}
	list, err := models.Fetcher{Client: p.OAuth.HTTPClient()}.Fetch(tctx, url, p.Config.HeaderName(), headerValue(p.Config, tok))
	if err != nil {
		p.recordError(err.Error())
		log.Warn("model sync failed", "err", err)
		return err
	}
	ms := models.Screen(p.e.log, p.Config.ID, "the gateway's model list", list.Models, list.Unsafe, cmp.Or(p.Config.MaxModels, config.DefaultMaxModels))
	models.Normalize(ms, p.Config.NameOverrides)
	changes, err := p.Catalog.Update(ms)
	if err != nil {
		p.recordError(err.Error())
		log.Warn("the gateway listed no models; keeping the last known list", "models_url", redact.URL(url))
		return err
	}
	now := p.e.opt.Now().UTC()
	data, _ := json.Marshal(ms) // strings and whole numbers: it cannot fail
	// The models file only: a model list never touches the credentials.
	if err := p.Entry.SaveModels(data, now, ""); err != nil {
		log.Warn("could not write the model cache", "err", err)
	}
	p.mu.Lock()
	p.lastSync = now
	p.mu.Unlock()
	if changes.Empty() {
		log.Debug("models unchanged", "count", len(ms))
	} else {
		log.Info("models synced", "count", len(ms),
			"added", len(changes.Added), "removed", len(changes.Removed), "renamed", len(changes.Renamed))
		p.e.notify(protocol.NotifyModelsChanged, protocol.ProviderParams{ProviderID: p.Config.ID, Location: p.e.location})
	}
	return nil
}

// recordError records why the last sync failed, for `status` ("" clears it).
func (p *Provider) recordError(cause string) {
	if err := p.Entry.RecordModelError(cause); err != nil {
		p.e.log.Debug("could not record the last error", "provider", p.Config.ID, "err", err)
	}
}

// clearTokenError removes a recorded LastError about getting a token, now
// that a token was had: a stale error must not stay in `status`.
func (p *Provider) clearTokenError() {
	if strings.HasPrefix(p.Entry.Load().LastError, tokens.NoTokenPrefix) {
		p.recordError("")
	}
}

// checkFile adopts a token another process wrote (CLI login, logout, or a
// refresh by another OpenCode) when the state file changed.
func (p *Provider) checkFile() {
	var mod time.Time
	if fi, err := os.Stat(p.Entry.Path()); err == nil {
		mod = fi.ModTime()
	}
	p.mu.Lock()
	changed := !mod.Equal(p.fileMod)
	p.fileMod = mod
	p.mu.Unlock()
	if changed {
		p.Tokens.Adopt()
	}
}

// Load reads a decoded OpenCode config and prepares its providers without
// starting any background work: what the command line needs.
func (e *Engine) Load(root *jsontree.Object) config.Result {
	res := config.ParseDocument(root)
	_, failed := e.reconcile(res)
	for id, err := range failed {
		res.Problems = append(res.Problems, config.Problem{ProviderID: id, Field: "provider." + id,
			Expected: "a usable provider", Found: err.Error(), Severity: config.SeverityError})
	}
	return res
}

// Provider returns the managed provider with this id.
func (e *Engine) Provider(id string) (*Provider, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rt, ok := e.managedByID[id]
	return rt, ok
}

// Providers returns the managed providers in config order.
func (e *Engine) Providers(order []config.Provider) []*Provider {
	out := make([]*Provider, 0, len(order))
	for _, p := range order {
		if h, ok := e.Provider(p.ID); ok {
			out = append(out, h)
		}
	}
	return out
}

// Token returns a fresh token, doing at most what mode allows, once it is
// in the cache file too (a command may exit right after).
func (p *Provider) Token(ctx context.Context, mode tokens.Mode) (tokens.Token, error) {
	t, err := p.Tokens.Token(ctx, mode)
	err = cmp.Or(err, p.Tokens.Flush(ctx))
	if err == nil {
		p.clearTokenError()
	}
	return t, err
}

// Sync fetches the model list now (never prompting); a token it renewed is
// in the cache file when it returns.
func (p *Provider) Sync(ctx context.Context) error {
	return cmp.Or(p.sync(ctx), p.Tokens.Flush(ctx)) // both run
}

// CacheDirFor is the cache directory an engine without the CacheDir option
// uses for a config with these settings (openStore): $OPENCODE_OAUTH2_CACHE_DIR,
// else the config's cacheDir, else the user cache directory.
func CacheDirFor(s config.Settings) string {
	if os.Getenv(store.EnvCacheDir) == "" && s.CacheDir != "" {
		return s.CacheDir
	}
	return store.DefaultDir()
}

// Revocation is what became of one token at the server in a logout.
type Revocation struct {
	What    string    // "refresh token", "access token", "refresh token of an earlier configuration"
	Expires time.Time // the access token's expiry, when known
	// Err is nil when revoked; oauth.ErrNoRevocationEndpoint or
	// oauth.ErrUnsupportedTokenType when the server cannot, else why not.
	Err error
}

// LogoutReport is what a logout did: the one logout of the command line
// and of OpenCode 2's `opencode auth logout`, each wording it its way.
type LogoutReport struct {
	// Had says a token was cached (memory, file or keychain).
	Had bool
	// Leftovers counts the files of earlier configurations deleted.
	Leftovers int
	// LeftoverErrs are the ones that could not be deleted.
	LeftoverErrs []error
	Revocations  []Revocation
}

// OK reports whether everything was deleted and nothing failed to revoke
// (a server that cannot revoke is not a failure).
func (r LogoutReport) OK() bool {
	return len(r.LeftoverErrs) == 0 && !slices.ContainsFunc(r.Revocations, func(v Revocation) bool {
		return v.Err != nil && !errors.Is(v.Err, oauth.ErrNoRevocationEndpoint) && !errors.Is(v.Err, oauth.ErrUnsupportedTokenType)
	})
}

// Logout ends the provider's session here: its tokens deleted (wherever
// they are kept), the files of earlier configurations too, then, unless
// localOnly, the refresh tokens revoked at the server (RFC 7009) and the
// access token when the server has no refresh token to revoke. The error
// is the deletion's; revocations are in the report.
func (p *Provider) Logout(ctx context.Context, localOnly bool) (LogoutReport, error) {
	var r LogoutReport
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	old, err := p.Tokens.Forget(fctx)
	cancel()
	if err != nil {
		return r, err
	}
	r.Had = !old.AccessToken.IsZero() || !old.RefreshToken.IsZero()
	leftovers := p.Entry.Leftovers()
	for _, l := range leftovers {
		if err := p.Entry.RemoveLeftover(l); err != nil {
			r.LeftoverErrs = append(r.LeftoverErrs, err)
		} else {
			r.Leftovers++
		}
	}
	if localOnly {
		return r, nil
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	revoke := func(what string, tok secret.String, hint string, expires time.Time) error {
		if tok.IsZero() {
			return nil
		}
		err := p.OAuth.Revoke(rctx, tok, hint)
		r.Revocations = append(r.Revocations, Revocation{What: what, Expires: expires, Err: err})
		return err
	}
	for _, l := range leftovers {
		if l.Token != nil && l.Token.RefreshToken != "" {
			_ = revoke("refresh token of an earlier configuration", secret.New(l.Token.RefreshToken), oauth.HintRefreshToken, time.Time{})
		}
	}
	if errors.Is(revoke("refresh token", old.RefreshToken, oauth.HintRefreshToken, time.Time{}), oauth.ErrNoRevocationEndpoint) {
		return r, nil
	}
	_ = revoke("access token", old.AccessToken, oauth.HintAccessToken, old.ExpiresAt)
	return r, nil
}
