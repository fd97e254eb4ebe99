package service

import (
	"context"
	"os"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

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
	if ferr := p.Tokens.Flush(ctx); err == nil && ferr != nil {
		return t, ferr
	}
	if err == nil {
		p.clearTokenError()
	}
	return t, err
}

// Sync fetches the model list now (never prompting); a token it renewed is
// in the cache file when it returns.
func (p *Provider) Sync(ctx context.Context) error {
	err := p.sync(ctx)
	if ferr := p.Tokens.Flush(ctx); err == nil && ferr != nil {
		return ferr
	}
	return err
}

// LoginWith runs an interactive login with flow (the configured one, or
// another user flow, e.g. device_code from an SSH session), asking the
// person as o says, and stores the token where the provider's own flow
// finds it (the one login path: Provider.login). The cached login is left
// alone until the new one is at hand: a login that fails or is interrupted
// loses nothing. It returns the new token and the one it replaced (zero
// when none was cached), for the caller to revoke.
func (p *Provider) LoginWith(ctx context.Context, flow config.Flow, o oauth.Options) (tok, replaced tokens.Token, err error) {
	tok, replaced, err = p.login(ctx, flow, &o)
	if err == nil {
		p.clearTokenError()
	}
	return tok, replaced, err
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
