package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// loginHint is the command that logs in to a provider from where an
// OpenCode user is: OpenCode's own login command, served by the plugin's
// auth hook (OpenCode 1) or its login methods (OpenCode 2, whose command
// takes the id as an argument and which logs in from its TUI's /connect too).
func (e *Engine) loginHint(providerID string) string {
	if e.location != "" {
		return "/connect in OpenCode, or opencode auth login " + providerID
	}
	return "opencode auth login -p " + providerID
}

// errLoginCancelled ends a login cancelled by login/cancel (Ctrl-C).
var errLoginCancelled = errors.New("the login was cancelled")

// login is a login under way: login/cancel ends them all, and a paste
// login takes the addresses pasted for its provider.
type login struct {
	providerID string
	cancel     context.CancelCauseFunc
	box        *oauth.PasteBox // a paste login's
}

// beginLogin registers a login for the provider, with paste one that takes
// pasted addresses only; end unregisters it.
func (e *Engine) beginLogin(ctx context.Context, providerID string, paste bool) (_ context.Context, end func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	u := &login{providerID: providerID, cancel: cancel}
	if paste {
		u.box = &oauth.PasteBox{Only: true}
		ctx = oauth.WithPaste(ctx, u.box)
	}
	e.loginMu.Lock()
	e.logins = append(e.logins, u)
	e.loginMu.Unlock()
	return ctx, func() {
		e.loginMu.Lock()
		e.logins = slices.DeleteFunc(e.logins, func(o *login) bool { return o == u })
		e.loginMu.Unlock()
		cancel(nil)
	}
}

// Paste answers login/paste: the pasted address goes to the provider's
// latest paste login under way; its verdict is the answer.
func (e *Engine) Paste(ctx context.Context, p protocol.LoginPasteParams) error {
	var box *oauth.PasteBox
	e.loginMu.Lock()
	for _, u := range slices.Backward(e.logins) {
		if u.providerID == p.ProviderID && u.box != nil {
			box = u.box
			break
		}
	}
	e.loginMu.Unlock()
	if box == nil {
		return &protocol.TokenError{ProviderID: p.ProviderID, Reason: protocol.ReasonConfig, Err: oauth.ErrNoLoginWaits}
	}
	if err := box.Paste(p.Text); err != nil {
		return &protocol.TokenError{ProviderID: p.ProviderID, Reason: protocol.ReasonLoginRequired, Err: err}
	}
	return nil
}

// CancelLogins answers login/cancel: every login under way ends with
// "cancelled" (the user pressed Ctrl-C).
func (e *Engine) CancelLogins() {
	e.loginMu.Lock()
	defer e.loginMu.Unlock()
	for _, u := range e.logins {
		u.cancel(errLoginCancelled)
	}
	if n := len(e.logins); n > 0 {
		e.log.Info("logins cancelled", "count", n)
	}
}

// Login answers login: the provider's interactive login now,
// whatever is cached (with the configured flow, or device_code /
// authorization_code when asked), then its models, so that the entry it
// returns lists them.
func (e *Engine) Login(ctx context.Context, p protocol.LoginParams) (protocol.LoginResult, error) {
	fail := func(reason string, err error) (protocol.LoginResult, error) {
		return protocol.LoginResult{}, &protocol.TokenError{ProviderID: p.ProviderID, Reason: reason, Err: err}
	}
	rt, err := e.lookup(p.ProviderID)
	switch {
	case err != nil:
		return protocol.LoginResult{}, err
	case rt == nil:
		return fail(protocol.ReasonConfig, errors.New("no managed provider has this id (is it declared with an oauth2 block in opencode.json?)"))
	}
	e.mu.RLock()
	user := e.userProviders[p.ProviderID]
	e.mu.RUnlock()
	if p.Paste {
		if p.Flow != "" && p.Flow != string(config.AuthorizationCode) {
			return fail(protocol.ReasonConfig, errors.New("a pasted address answers an authorization_code login only"))
		}
		p.Flow = string(config.AuthorizationCode)
	}
	lctx, done := e.beginLogin(ctx, rt.Config.ID, p.Paste)
	defer done()
	tok, _, err := rt.LoginWith(lctx, config.Flow(p.Flow), nil)
	switch {
	case err != nil && errors.Is(context.Cause(lctx), errLoginCancelled):
		e.log.Info("login cancelled", "provider", rt.Config.ID)
		return fail(protocol.ReasonCancelled, errLoginCancelled)
	case err != nil: // a flow the provider has not (errNoSuchFlow) is a config error
		e.log.Warn("login failed", "provider", rt.Config.ID, "err", err)
		return fail(reason(err), err)
	}
	serr := rt.syncWith(ctx, tok)
	known := rt.Catalog.Models()
	res := protocol.LoginResult{
		ProviderID: rt.Config.ID,
		Provider:   buildEntry(rt.Config, user, known, headerValue(rt.Config, tok).Reveal()),
		Models:     len(known),
		Message:    fmt.Sprintf("logged in to %s (%s); %d model(s) listed", rt.Config.Name, rt.Config.ID, len(known)),
	}
	if serr != nil {
		res.Message = fmt.Sprintf("logged in to %s (%s), but its models could not be listed yet: %v", rt.Config.Name, rt.Config.ID, serr)
	}
	// One frame, as config/apply (fitFrame): a list too large to send keeps
	// only the models the user declared.
	if encodedSize(res) > frameBudget {
		declared, _ := user["models"].(map[string]any)
		res.Provider["models"] = models.Merge(declared, nil)
		res.Models = len(declared)
		res.Message = fmt.Sprintf("logged in to %s (%s); its model list does not fit into one answer to OpenCode, so only the models declared in opencode.json are listed (lower maxModels)", rt.Config.Name, rt.Config.ID)
		e.log.Warn("a provider's model list was left out of the login answer: too large", "provider", rt.Config.ID)
	}
	e.log.Info("login complete", "provider", rt.Config.ID, "models", len(known))
	return res, nil
}

// errNoSuchFlow: the provider cannot log in with the flow asked for.
var errNoSuchFlow = errors.New("no such login")

// LoginWith is the one login path, of the RPC server (Login) and the
// command line: an interactive login with flow (empty: the provider's own;
// or another user flow, e.g. device_code from an SSH session), through the
// token manager, which stores the token where the provider's own flow finds
// it. o (nil: the sidecar's prompts) says how a person is asked: prompts,
// the browser. The cached login is left alone until the new one is at hand:
// a login that fails or is interrupted loses nothing. It returns the new
// token and the one it replaced (zero when none was cached), for the caller
// to revoke.
func (p *Provider) LoginWith(ctx context.Context, flow config.Flow, o *oauth.Options) (tok, replaced tokens.Token, err error) {
	flow = cmp.Or(flow, p.Config.Flow)
	switch {
	case !p.Config.Flow.Interactive():
		return tok, replaced, fmt.Errorf("%w: provider %q uses the %s flow, which needs no login", errNoSuchFlow, p.Config.ID, p.Config.Flow)
	case !flow.Interactive():
		return tok, replaced, fmt.Errorf("%w: provider %q: login flow %q: expected authorization_code or device_code", errNoSuchFlow, p.Config.ID, flow)
	}
	var grant tokens.Grant = p.OAuth
	if flow != p.Config.Flow || o != nil {
		cfg := p.Config
		cfg.Flow = flow
		client, err := oauth.New(cfg, *cmp.Or(o, &oauth.Options{Log: p.e.log, Prompt: p.e.prompt, Now: p.e.opt.Now}))
		if err != nil {
			return tok, replaced, fmt.Errorf("%w: %w", errNoSuchFlow, err)
		}
		grant = client
	}
	p.e.log.Info("login requested", "provider", p.Config.ID, "flow", string(flow))
	if tok, replaced, err = p.Tokens.Login(ctx, grant); err == nil {
		p.clearTokenError()
	}
	return tok, replaced, err
}

// pendingLogin describes a user-flow provider without a usable token. Its
// message says how to log in first: OpenCode 2 shows it as a model's name,
// which its model list cuts short.
func (e *Engine) pendingLogin(p config.Provider) protocol.PendingLogin {
	msg := fmt.Sprintf("%s (%s) is not logged in, so OpenCode cannot list its models; log in with: %s", p.Name, p.ID, e.loginHint(p.ID))
	if e.location != "" {
		msg = fmt.Sprintf("Sign in to %s (%s): %s", p.Name, p.ID, e.loginHint(p.ID))
	}
	return protocol.PendingLogin{ProviderID: p.ID, Name: p.Name, Flow: string(p.Flow),
		TimeoutMs: loginTimeout(p).Milliseconds(), Message: msg}
}

// announce is the line said in a terminal before the i-th (from 0) of n
// logins OpenCode 1's shim runs at start.
func announce(l protocol.PendingLogin, i, n int) string {
	how := "your browser"
	if l.Flow == string(config.DeviceCode) {
		how = "a code to enter in a browser"
	}
	count := ""
	if n > 1 {
		count = fmt.Sprintf(" (%d of %d)", i+1, n)
	}
	return fmt.Sprintf("logging in to %s (%s)%s with %s; Ctrl-C to skip.", l.Name, l.ProviderID, count, how)
}
