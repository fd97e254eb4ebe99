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

// Provider is one managed provider: its parts, which the command line uses
// as they are, and the steps that take more than one of them.
type Provider struct {
	deps
	Config  config.Provider
	OAuth   *oauth.Client
	Tokens  *tokens.Manager
	Entry   *store.Entry // the provider's cache entry (State: Entry.Load)
	Catalog *models.Catalog
	sig     string
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
func (p *Provider) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.OAuth.HTTPClient().CloseIdleConnections()
}

// start runs the background model sync: at once when the cached list is
// empty or older than the interval, then on the scheduler's rhythm.
func (p *Provider) start(bg context.Context) {
	p.mu.Lock()
	if p.cancel != nil {
		p.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(bg)
	p.cancel = cancel
	last := p.lastSync
	p.mu.Unlock()

	interval := p.Config.SyncInterval
	if interval <= 0 {
		interval = config.DefaultSyncInterval
	}
	log := p.log.With("provider", p.Config.ID)
	if bg.Err() != nil {
		return // shutting down
	}
	p.bgWork.Add(1)
	go func() {
		defer p.bgWork.Done()
		failures := 0
		if len(p.Catalog.Models()) == 0 || p.now().Sub(last) >= interval {
			if err := p.sync(ctx); err != nil {
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
		_ = s.Run(ctx, p.sync)
	}()
}

// maybeLazySync syncs once in the background when a provider that has no
// models yet is used.
func (p *Provider) maybeLazySync() {
	p.mu.Lock()
	fire := !p.lazyFired && len(p.Catalog.Models()) == 0
	p.lazyFired = true
	p.mu.Unlock()
	if fire {
		if p.bg.Err() != nil {
			return // shutting down
		}
		p.bgWork.Add(1)
		go func() {
			defer p.bgWork.Done()
			_ = p.sync(p.bg)
		}()
	}
}

// sync fetches the model list with a token obtained without prompting and
// stores it with the provider's state. A failure keeps the last good list.
func (p *Provider) sync(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, 2*p.timeout())
	defer cancel()
	tok, err := p.Tokens.Token(tctx, tokens.NoLogin)
	if err != nil {
		p.recordError(fmt.Errorf("%s%w", tokens.NoTokenPrefix, err))
		if errors.Is(err, tokens.ErrLoginRequired) {
			p.log.Info("model sync waits for a login", "provider", p.Config.ID, "err", err)
		} else {
			p.log.Warn("model sync failed: no token", "provider", p.Config.ID, "err", err)
		}
		return err
	}
	return p.syncWith(tctx, tok)
}

// syncWith is sync with a token at hand (a login's).
func (p *Provider) syncWith(ctx context.Context, tok tokens.Token) error {
	log := p.log.With("provider", p.Config.ID)
	url, err := models.URL(p.Config.BaseURL, p.Config.ModelsURL)
	if err != nil {
		log.Error("model discovery is not possible", "err", err)
		return err
	}
	list, err := p.fetcher.Fetch(ctx, url, p.Config.HeaderName(), headerValue(p.Config, tok))
	if err != nil {
		p.recordError(err)
		log.Warn("model sync failed", "err", err)
		return err
	}
	ms := models.Screen(p.log, p.Config.ID, "the gateway's model list", list.Models, list.Unsafe, cmp.Or(p.Config.MaxModels, config.DefaultMaxModels))
	models.Normalize(ms, p.Config.NameOverrides)
	changes, err := p.Catalog.Update(ms)
	if err != nil {
		p.recordError(err)
		log.Warn("the gateway listed no models; keeping the last known list", "models_url", redact.URL(url))
		return err
	}
	now := p.now().UTC()
	data, err := json.Marshal(ms)
	if err != nil {
		return fmt.Errorf("encode models of %s: %w", p.Config.ID, err)
	}
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
		if p.modelsChanged != nil {
			p.modelsChanged()
		}
	}
	return nil
}

func (p *Provider) recordError(cause error) {
	if err := p.Entry.RecordModelError(cause.Error()); err != nil {
		p.log.Debug("could not record the last error", "provider", p.Config.ID, "err", err)
	}
}

// clearTokenError removes a recorded LastError about getting a token, now
// that a token was had: a stale error must not stay in `status`.
func (p *Provider) clearTokenError() {
	if !strings.HasPrefix(p.Entry.Load().LastError, tokens.NoTokenPrefix) {
		return
	}
	if err := p.Entry.RecordModelError(""); err != nil {
		p.log.Debug("could not clear the last error", "provider", p.Config.ID, "err", err)
	}
}

func (p *Provider) timeout() time.Duration {
	return cmp.Or(p.Config.HTTPTimeout, config.DefaultHTTPTimeout)
}

// checkFile adopts a token another process wrote (CLI login, logout, or a
// refresh by another OpenCode) when the state file changed.
func (p *Provider) checkFile() {
	fi, err := os.Stat(p.Entry.Path())
	var mod time.Time
	if err == nil {
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
