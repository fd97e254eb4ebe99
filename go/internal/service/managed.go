package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// deps are what a managed provider uses of the engine that runs it, given
// when it is built: it holds no pointer back to the engine.
type deps struct {
	log *slog.Logger
	now func() time.Time
	// bg is the background work's context (it ends at Shutdown), bgWork
	// counts the goroutines Shutdown waits for.
	bg     context.Context
	bgWork *sync.WaitGroup
	// prompt shows a login prompt where the user sees it.
	prompt func(oauth.Prompt)
	// modelsChanged tells the shim that the model list changed.
	modelsChanged func()
}

// managed is one managed provider: its configuration, OAuth client, token manager, cache entry and models.
type managed struct {
	deps
	p       config.Provider
	sig     string
	client  *oauth.Client
	tokens  *tokens.Manager
	entry   *store.Entry
	catalog *models.Catalog
	fetcher models.Fetcher

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
func (rt *managed) stop() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.cancel != nil {
		rt.cancel()
		rt.cancel = nil
	}
	rt.client.HTTPClient().CloseIdleConnections()
}

// start runs the background model sync: at once when the cached list is
// empty or older than the interval, then on the scheduler's rhythm.
func (rt *managed) start(bg context.Context) {
	rt.mu.Lock()
	if rt.cancel != nil {
		rt.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(bg)
	rt.cancel = cancel
	last := rt.lastSync
	rt.mu.Unlock()

	interval := rt.p.SyncInterval
	if interval <= 0 {
		interval = config.DefaultSyncInterval
	}
	log := rt.log.With("provider", rt.p.ID)
	if bg.Err() != nil {
		return // shutting down
	}
	rt.bgWork.Add(1)
	go func() {
		defer rt.bgWork.Done()
		failures := 0
		if len(rt.catalog.Models()) == 0 || rt.now().Sub(last) >= interval {
			if err := rt.sync(ctx); err != nil {
				failures = 1
			}
		}
		s := models.Scheduler{
			Interval: interval,
			Failures: failures,
			Report: func(a models.Attempt) {
				if a.Err != nil {
					log.Debug("next model sync scheduled after a failure", "failures", a.Failures, "next", a.Next)
				}
			},
		}
		_ = s.Run(ctx, rt.sync)
	}()
}

// maybeLazySync syncs once in the background when a provider that has no
// models yet is used.
func (rt *managed) maybeLazySync() {
	rt.mu.Lock()
	fire := !rt.lazyFired && len(rt.catalog.Models()) == 0
	rt.lazyFired = true
	rt.mu.Unlock()
	if fire {
		if rt.bg.Err() != nil {
			return // shutting down
		}
		rt.bgWork.Add(1)
		go func() {
			defer rt.bgWork.Done()
			_ = rt.sync(rt.bg)
		}()
	}
}

// sync fetches the model list with a token obtained without prompting and
// stores it with the provider's state. A failure keeps the last good list.
func (rt *managed) sync(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 2*rt.timeout())
	defer cancel()
	tok, err := rt.tokens.Token(tctx, tokens.NoLogin)
	if err != nil {
		rt.recordError(fmt.Errorf("%s%w", tokens.NoTokenPrefix, err))
		if errors.Is(err, tokens.ErrLoginRequired) {
			rt.log.Info("model sync waits for a login", "provider", rt.p.ID, "err", err)
		} else {
			rt.log.Warn("model sync failed: no token", "provider", rt.p.ID, "err", err)
		}
		return err
	}
	return rt.syncWith(tctx, tok)
}

// syncWith is sync with a token at hand (a login's).
func (rt *managed) syncWith(ctx context.Context, tok tokens.Token) error {
	log := rt.log.With("provider", rt.p.ID)
	url, err := models.URL(rt.p.BaseURL, rt.p.ModelsURL)
	if err != nil {
		log.Error("model discovery is not possible", "err", err)
		return err
	}
	list, err := rt.fetcher.Fetch(ctx, url, rt.p.HeaderName(), headerValue(rt.p, tok))
	if err != nil {
		rt.recordError(err)
		log.Warn("model sync failed", "err", err)
		return err
	}
	ms := models.Screen(rt.log, rt.p.ID, "the gateway's model list", list.Models, list.Unsafe, cmp.Or(rt.p.MaxModels, config.DefaultMaxModels))
	models.Normalize(ms, rt.p.NameOverrides)
	changes, err := rt.catalog.Update(ms)
	if err != nil {
		rt.recordError(err)
		log.Warn("the gateway listed no models; keeping the last known list", "models_url", redact.URL(url))
		return err
	}
	now := rt.now().UTC()
	data, err := json.Marshal(ms)
	if err != nil {
		return fmt.Errorf("encode models of %s: %w", rt.p.ID, err)
	}
	// The models file only: a model list never touches the credentials.
	if err := rt.entry.SaveModels(data, now, ""); err != nil {
		log.Warn("could not write the model cache", "err", err)
	}
	rt.mu.Lock()
	rt.lastSync = now
	rt.mu.Unlock()
	if changes.Empty() {
		log.Debug("models unchanged", "count", len(ms))
	} else {
		log.Info("models synced", "count", len(ms),
			"added", len(changes.Added), "removed", len(changes.Removed), "renamed", len(changes.Renamed))
		if rt.modelsChanged != nil {
			rt.modelsChanged()
		}
	}
	return nil
}

func (rt *managed) recordError(cause error) {
	if err := rt.entry.RecordModelError(cause.Error()); err != nil {
		rt.log.Debug("could not record the last error", "provider", rt.p.ID, "err", err)
	}
}

// clearTokenError removes a recorded LastError about getting a token, now
// that a token was had: a stale error must not stay in `status`.
func (rt *managed) clearTokenError() {
	if !strings.HasPrefix(rt.entry.Load().LastError, tokens.NoTokenPrefix) {
		return
	}
	if err := rt.entry.RecordModelError(""); err != nil {
		rt.log.Debug("could not clear the last error", "provider", rt.p.ID, "err", err)
	}
}

func (rt *managed) timeout() time.Duration {
	return cmp.Or(rt.p.HTTPTimeout, config.DefaultHTTPTimeout)
}

// checkFile adopts a token another process wrote (CLI login, logout, or a
// refresh by another OpenCode) when the state file changed.
func (rt *managed) checkFile() {
	fi, err := os.Stat(rt.entry.Path())
	var mod time.Time
	if err == nil {
		mod = fi.ModTime()
	}
	rt.mu.Lock()
	changed := !mod.Equal(rt.fileMod)
	rt.fileMod = mod
	rt.mu.Unlock()
	if changed {
		rt.tokens.Adopt()
	}
}
