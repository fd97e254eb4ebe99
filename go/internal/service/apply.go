package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Provider package names OpenCode loads for a managed provider.
const (
	NPMCompatible = "@ai-sdk/openai-compatible"
	NPMResponses  = "@ai-sdk/openai"
	// PlaceholderAPIKey lets @ai-sdk/openai construct; the real bearer
	// comes from chat.headers on every request.
	PlaceholderAPIKey = "oauth2-managed-bearer"
)

// ApplyConfig applies OpenCode's config object when the host gave one
// (OpenCode 1 hands it to the config hook), else the OpenCode config files
// of the engine's directory, read as OpenCode reads them (OpenCode 2 hands
// a plugin no config). The document is decoded once; the steps below each
// take what they need from it.
func (e *Engine) ApplyConfig(ctx context.Context, p protocol.ConfigApplyParams) (protocol.ConfigApplyResult, error) {
	e.mu.Lock()
	e.directory = cmp.Or(p.Directory, e.directory)
	dir := e.directory
	e.mu.Unlock()
	if len(p.Config) == 0 {
		files, err := configfile.Load(configfile.Options{Dir: dir})
		if err != nil {
			return protocol.ConfigApplyResult{}, fmt.Errorf("config/apply: read the OpenCode config of %s: %w", dir, err)
		}
		return e.apply(ctx, files.Tree, func(p config.Problem) string { return files.Hide(p.Field, p.Found, p.Message()) })
	}
	root, err := config.Decode(p.Config)
	if err != nil {
		return protocol.ConfigApplyResult{}, fmt.Errorf("config/apply: parse OpenCode config: %w", err)
	}
	// pluginConfig (the older config shape) is put back when the host
	// dropped it: OpenCode removes keys it does not know before plugins see
	// the config, so it is read from the same files OpenCode reads.
	if _, ok := root.Get("pluginConfig"); !ok {
		if files, err := configfile.Load(configfile.Options{Dir: dir}); err != nil {
			e.log.Debug("could not read the OpenCode config files for pluginConfig", "err", err)
		} else if pc, ok := files.Tree.Get("pluginConfig"); ok && pc != nil {
			root.Set("pluginConfig", pc)
			e.log.Debug("pluginConfig read from the OpenCode config files", "sources", len(files.Sources))
		}
	}
	return e.apply(ctx, root, config.Problem.Message)
}

// apply applies a decoded config; message words each problem.
func (e *Engine) apply(ctx context.Context, root *jsontree.Object, message func(config.Problem) string) (protocol.ConfigApplyResult, error) {
	res := config.ParseDocument(root)
	userProviders := providerEntries(root)
	out := protocol.ConfigApplyResult{Providers: map[string]map[string]any{}, Managed: []string{}, Problems: e.problems(res, message),
		ResponseAPI: []string{}, Logins: []protocol.PendingLogin{}, LoginTimeoutMs: map[string]int64{}, TokenHeaders: map[string]string{}}

	managedByID, failed := e.reconcile(res)
	for id, err := range failed {
		out.Problems = append(out.Problems, protocol.Problem{
			ProviderID: id, Field: "provider." + id, Expected: "a usable provider", Found: "an error",
			Severity: string(config.SeverityError), Message: err.Error(),
		})
	}
	broken := brokenProviders(out.Problems, userProviders)
	e.mu.Lock()
	e.broken = broken
	e.userProviders = userProviders
	out.Interactive = e.interactive
	e.mu.Unlock()

	headers, needLogin := e.bootTokens(ctx, managedByID)
	for i, rt := range managedByID {
		known := rt.Catalog.Models() // a copy: taken once per provider
		out.Providers[rt.Config.ID] = buildEntry(rt.Config, userProviders[rt.Config.ID], known, headers[i])
		out.Managed = append(out.Managed, rt.Config.ID)
		out.TokenHeaders[rt.Config.ID] = rt.Config.HeaderName()
		if rt.Config.ResponseAPI {
			out.ResponseAPI = append(out.ResponseAPI, rt.Config.ID)
		}
		if rt.Config.Flow.Interactive() {
			out.LoginTimeoutMs[rt.Config.ID] = loginWait(rt.Config).Milliseconds()
			if needLogin[i] {
				out.Logins = append(out.Logins, e.pendingLogin(rt.Config))
			}
		}
		if len(known) == 0 && !needLogin[i] {
			e.log.Info("no models known yet for this provider; they are fetched in the background and appear at the next start", "provider", rt.Config.ID)
		}
		rt.start()
	}
	out.Managed = slices.AppendSeq(out.Managed, maps.Keys(broken))
	fitFrame(e.log, &out, userProviders, frameBudget)
	pending := make([]string, 0, len(out.Logins))
	for i, l := range out.Logins {
		out.Logins[i].Announce = announce(l, i, len(out.Logins))
		pending = append(pending, l.ProviderID)
	}
	e.log.Info("configuration applied", "managed", out.Managed, "problems", len(out.Problems), "logins_pending", pending)
	e.startWatcher()
	return out, nil
}

// problems turns the parser's problems into the protocol's, each message
// complete (the shim shows it as it is).
func (e *Engine) problems(res config.Result, message func(config.Problem) string) []protocol.Problem {
	out := make([]protocol.Problem, 0, len(res.Problems))
	for _, p := range res.Problems {
		msg, found := message(p), p.Found
		if msg != p.Message() {
			found = "(not shown)" // a substituted value
		}
		if p.Severity == config.SeverityError && p.ProviderID != "" {
			msg += "; the provider is not available until this is fixed"
		}
		out = append(out, protocol.Problem{
			ProviderID: p.ProviderID, Field: p.Field, Expected: p.Expected, Found: found,
			Severity: string(p.Severity), Message: msg,
		})
		// OpenCode 1's shim logs problems where the user sees them; OpenCode 2
		// gives a plugin no such place, so the sidecar's log says it.
		if e.location != "" {
			e.log.Warn("config problem: "+msg, "location", e.location)
		} else {
			e.log.Debug("config problem", "provider", p.ProviderID, "field", p.Field, "severity", string(p.Severity))
		}
	}
	return out
}

// providerEntries are the provider entries of the document as the user
// wrote them, by id; none when the document has no provider object.
func providerEntries(root *jsontree.Object) map[string]map[string]any {
	v, _ := root.Get("provider")
	provs, _ := jsontree.Plain(v).(map[string]any)
	out := make(map[string]map[string]any, len(provs))
	for id, entry := range provs {
		if m, ok := entry.(map[string]any); ok {
			out[id] = m
		}
	}
	return out
}

// brokenProviders are the providers in OpenCode's config whose oauth2 block
// has an error, with the first error's message. They stay in OpenCode's
// config as the user wrote them; their requests must fail with that error
// rather than go out without a token.
func brokenProviders(problems []protocol.Problem, userProviders map[string]map[string]any) map[string]string {
	broken := map[string]string{}
	for _, p := range problems {
		if p.Severity != string(config.SeverityError) || p.ProviderID == "" || broken[p.ProviderID] != "" {
			continue
		}
		if _, inOpenCode := userProviders[p.ProviderID]; inOpenCode {
			broken[p.ProviderID] = p.Message
		}
	}
	return broken
}

// bootTokens reads each provider's token within the start-up budget, in
// parallel and never prompting: for each provider of managed, the
// Authorization header it could get ("" when none), and whether it needs a
// login. A provider with a token and no models yet has them listed now,
// within what is left of the budget.
func (e *Engine) bootTokens(ctx context.Context, managed []*Provider) (headers []string, needLogin []bool) {
	headers, needLogin = make([]string, len(managed)), make([]bool, len(managed))
	var wg sync.WaitGroup
	bctx, cancel := context.WithTimeout(ctx, e.opt.BootBudget)
	defer cancel()
	for i, rt := range managed {
		wg.Go(func() {
			tok, err := rt.Tokens.Token(bctx, tokens.NoLogin)
			if err != nil {
				e.log.Debug("no token at start-up", "provider", rt.Config.ID, "err", err)
				needLogin[i] = errors.Is(err, tokens.ErrLoginRequired)
				return
			}
			headers[i] = headerValue(rt.Config, tok).Reveal()
			if len(rt.Catalog.Models()) == 0 {
				if err := rt.sync(bctx); err != nil {
					e.log.Debug("no models at start-up; they are fetched in the background", "provider", rt.Config.ID, "err", err)
				}
			}
		})
	}
	wg.Wait()
	return headers, needLogin
}

// reconcile replaces the managedByID with ones for res, reusing unchanged ones.
func (e *Engine) reconcile(res config.Result) ([]*Provider, map[string]error) {
	e.mu.Lock()
	old := e.managedByID
	e.mu.Unlock()
	next := make(map[string]*Provider, len(res.Providers))
	list := make([]*Provider, 0, len(res.Providers))
	failed := map[string]error{}
	for _, p := range res.Providers {
		// The config's settings fill what the provider leaves unset.
		p.ExpirySkew = cmp.Or(max(p.ExpirySkew, 0), res.Settings.ExpirySkew)
		p.HTTPTimeout = cmp.Or(max(p.HTTPTimeout, 0), res.Settings.HTTPTimeout)
		// A provider is reused while its configuration (the client secret
		// included) is unchanged.
		rt, ok := old[p.ID]
		if !ok || !reflect.DeepEqual(rt.Config, p) {
			var err error
			if rt, err = e.newManaged(p, res.Settings.CacheDir); err != nil {
				failed[p.ID] = err
				continue
			}
		}
		next[p.ID] = rt
		list = append(list, rt)
	}
	for id, rt := range old {
		if next[id] != rt {
			rt.stop()
		}
	}
	e.mu.Lock()
	e.managedByID = next
	e.mu.Unlock()
	return list, failed
}

// buildEntry is the complete provider entry for OpenCode: the user's own
// entry with what the plugin manages filled in. The user's fields win where
// they make sense (npm, name, model names, an Authorization header).
func buildEntry(p config.Provider, user map[string]any, discovered []models.Model, authorization string) map[string]any {
	blank := func(v any) bool { s, ok := v.(string); return !ok || strings.TrimSpace(s) == "" }
	entry := map[string]any{}
	maps.Copy(entry, user)
	if blank(entry["npm"]) {
		entry["npm"] = NPMCompatible
		if p.ResponseAPI {
			entry["npm"] = NPMResponses
		}
	}
	if blank(entry["name"]) {
		entry["name"] = p.Name
	}
	options := map[string]any{}
	userOptions, _ := entry["options"].(map[string]any)
	maps.Copy(options, userOptions)
	options["baseURL"] = p.BaseURL
	if p.ResponseAPI && blank(options["apiKey"]) {
		options["apiKey"] = PlaceholderAPIKey
	} else if !p.ResponseAPI && options["apiKey"] == PlaceholderAPIKey {
		delete(options, "apiKey")
	}
	userHeaders, _ := options["headers"].(map[string]any)
	userSet := slices.ContainsFunc(slices.Collect(maps.Keys(userHeaders)), func(k string) bool { return strings.EqualFold(k, p.HeaderName()) })
	if authorization != "" && !userSet {
		headers := map[string]any{p.HeaderName(): authorization}
		maps.Copy(headers, userHeaders)
		options["headers"] = headers
	}
	entry["options"] = options
	userModels, _ := entry["models"].(map[string]any)
	entry["models"] = models.Merge(userModels, discovered)
	return entry
}

// startWatcher polls the state files so that a token written by another
// process (a CLI login or logout) is used at once.
func (e *Engine) startWatcher() {
	if e.opt.WatchEvery < 0 {
		return
	}
	e.watchOnce.Do(func() {
		e.bgWork.Go(func() {
			tick := time.Tick(e.opt.WatchEvery) // collected with the goroutine
			for {
				select {
				case <-e.bg.Done():
					return
				case <-tick:
				}
				e.mu.RLock()
				rts := slices.Collect(maps.Values(e.managedByID))
				e.mu.RUnlock()
				for _, rt := range rts {
					rt.checkFile()
				}
			}
		})
	})
}

// frameBudget is what a config/apply result may take of one protocol frame
// (protocol.MaxFrame), leaving room for the JSON-RPC envelope.
const frameBudget = protocol.MaxFrame - 64<<10

// fitFrame keeps the config/apply answer within one protocol frame, so that
// it can never fail as a whole because of one provider: while the encoded
// answer is over limit, the provider whose models take the most room keeps
// only the models its user declared, and a problem names it. user is each
// provider's entry as the user wrote it.
func fitFrame(log *slog.Logger, out *protocol.ConfigApplyResult, user map[string]map[string]any, limit int) {
	total := encodedSize(out)
	if total <= limit {
		return
	}
	sizes := make(map[string]int, len(out.Providers))
	for id, entry := range out.Providers {
		sizes[id] = encodedSize(entry["models"])
	}
	// The largest model lists first; among equals, by id.
	order := slices.SortedFunc(maps.Keys(sizes), func(a, b string) int { return cmp.Or(sizes[b]-sizes[a], strings.Compare(a, b)) })
	for _, largest := range order {
		if total <= limit {
			break
		}
		most := sizes[largest]
		declared, _ := user[largest]["models"].(map[string]any)
		entry := out.Providers[largest]
		entry["models"] = models.Merge(declared, nil)
		total += encodedSize(entry["models"]) - most
		msg := fmt.Sprintf("provider %q: its model list (%d bytes) does not fit into the answer to OpenCode (at most %d bytes in all); "+
			"it is registered with the models declared in opencode.json only; lower maxModels", largest, most, limit)
		out.Problems = append(out.Problems, protocol.Problem{
			ProviderID: largest, Field: "provider." + largest + ".models", Expected: "a model list that fits into one protocol frame",
			Found: fmt.Sprintf("%d bytes", most), Severity: string(config.SeverityWarning), Message: msg,
		})
		log.Warn("a provider's model list was left out of the answer to OpenCode: too large", "provider", largest, "bytes", most)
	}
}

func encodedSize(v any) int {
	b, _ := json.Marshal(v) // nil on error
	return len(b)
}
