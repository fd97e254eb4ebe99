package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// Parse reads OpenCode's whole configuration (the JSON object the config
// hook receives) and returns the managed providers, every problem found and
// the plugin-wide settings. It fails only when raw is not a JSON object;
// everything else is a Problem.
//
// Sources and precedence:
//
//   - Shape 1: provider.<id>.options.oauth2 (alias options.oauth2ModelSync;
//     when both are objects, oauth2 wins and the alias is reported as ignored).
//     baseURL is provider.<id>.options.baseURL, Name is provider.<id>.name.
//   - Shape 2: pluginConfig.oauth2ModelSync.servers[], each entry with id,
//     name, baseURL and the same oauth2 options.
//   - An id in both: the provider's oauth2 block wins for every OAuth option
//     (the server entry's options are ignored as a whole, not merged);
//     baseURL is the provider's options.baseURL when set, else the server
//     entry's; Name is the provider's name, else the server entry's, else
//     the id. A warning says both were given.
//   - A provider entry without an oauth2 block whose id is in servers[]
//     still lends its options.baseURL and name (they win, as above).
//   - Two server entries with one id: an error, that id is skipped.
//
// Order: server entries in array order, then provider entries in the order
// they appear in the document. Problems come in the order they are found:
// plugin-wide settings and server entries, then, in that order of ids, each
// provider entry's own with those of the provider it makes (an entry that
// makes none, e.g. without an oauth2 block, has its problems there too).
func Parse(raw []byte) (Result, error) {
	root, err := Decode(raw)
	if err != nil {
		return Result{}, fmt.Errorf("parse OpenCode config: %w", err)
	}
	return ParseDocument(root), nil
}

// maxDepth bounds the nesting of the decoded config. OpenCode configs are a
// handful of levels deep; the bound keeps hostile input from recursing
// without limit.
const maxDepth = 512

// Decode reads OpenCode's configuration (the JSON object the config hook
// receives) into an ordered tree, so that providers come out in the order
// the user wrote them. The top level must be an object.
func Decode(raw []byte) (*jsontree.Object, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("config is empty: expected a JSON object")
	}
	v, err := jsontree.Decode(raw, maxDepth)
	if se, ok := errors.AsType[*jsontree.SyntaxError](err); ok {
		msg := strings.Replace(se.Msg, "after the top-level value", "after the top-level object", 1)
		return nil, fmt.Errorf("config is not valid JSON (near byte %d): %s", se.Offset, msg)
	} else if err != nil {
		return nil, fmt.Errorf("config is not valid JSON: %w", err)
	}
	obj, ok := v.(*jsontree.Object)
	if !ok {
		return nil, fmt.Errorf("config must be a JSON object, found %s", describe(v))
	}
	return obj, nil
}

// ParseDocument is Parse for a configuration already decoded with Decode,
// for callers that look at the document themselves too.
func ParseDocument(root *jsontree.Object) Result {
	out := &sink{}
	top := &reader{obj: root, sev: SeverityWarning, out: out}
	settings, servers := readPluginConfig(top)
	provs := jsontree.NewObject() // config.provider; empty when absent or not an object
	if r := top.child("provider", "an object mapping provider ids to provider entries"); r != nil {
		provs = r.obj
	}

	byServer, dup := map[string]*reader{}, map[string]bool{}
	var ids []string
	for _, s := range servers {
		if prev, ok := byServer[s.id]; ok {
			dup[s.id] = true
			s.report("id", "an id not used by another server entry", quote(s.id),
				"also used by "+prev.path+"; the provider is skipped")
			continue
		}
		byServer[s.id] = s
		ids = append(ids, s.id)
	}
	for _, id := range provs.Keys() {
		if _, ok := byServer[id]; !ok {
			ids = append(ids, id)
		}
	}

	res := Result{Settings: settings}
	for _, id := range ids {
		v, _ := provs.Get(id)
		pe := readProviderEntry(id, v, out) // its problems come with the provider's
		srv := byServer[id]
		if dup[id] || (srv == nil && !pe.managed()) {
			continue
		}
		if id == "" { // only a provider key can be empty; server ids are checked
			out.add(Problem{Field: JoinPath("provider", id), Expected: "a non-empty provider id",
				Found: `""`, Severity: SeverityError})
			continue
		}
		if p, ok := build(id, srv, pe, settings, out); ok {
			res.Providers = append(res.Providers, p)
		}
	}
	res.Problems = out.list
	return res
}

// providerEntry is what Parse needs from config.provider.<id>.
type providerEntry struct {
	path      string
	name      string           // provider.<id>.name, trimmed
	opts      *reader          // provider.<id>.options, nil when absent
	block     *jsontree.Object // the oauth2 block, nil when absent or not an object
	blockPath string           // where the block is; set with block nil: no usable block was found
}

func (e *providerEntry) managed() bool { return e.blockPath != "" }

// readPluginConfig reads pluginConfig.oauth2ModelSync: the plugin-wide
// settings (a bad one falls back to its default with a warning) and the
// server entries that have an id (a reader of each; its id is the provider id).
// top reads the whole configuration.
func readPluginConfig(top *reader) (Settings, []*reader) {
	settings := Settings{HTTPTimeout: DefaultHTTPTimeout, ExpirySkew: DefaultExpirySkew}
	pc := top.child("pluginConfig", "an object")
	if pc == nil {
		return settings, nil
	}
	pc.sev = SeverityError
	ms := pc.child("oauth2ModelSync", `an object like {"servers": [...]}`)
	if ms == nil {
		return settings, nil
	}
	ms.sev, ms.props = SeverityWarning, settingsProps
	for _, f := range []field{{"httpTimeoutMs", &settings.HTTPTimeout}, {"tokenExpirySkewMs", &settings.ExpirySkew}} {
		start, def := len(ms.out.list), *f.dst.(*time.Duration)
		if !ms.set(f.key, f.dst) && len(ms.out.list) > start { // a wrong value: the default stays
			ms.out.list[start].Hint = "ignored; using the default " + strconv.FormatInt(def.Milliseconds(), 10)
		}
	}
	if dir := ""; ms.set("cacheDir", &dir) {
		if filepath.IsAbs(dir) {
			settings.CacheDir = filepath.Clean(dir)
		} else {
			ms.warn("cacheDir", ms.props["cacheDir"].Expected, quote(dir), "ignored; the user cache directory is used")
		}
	}
	ms.set("tokenStorage", &settings.TokenStorage)
	for _, old := range [][2]string{{"cacheNamespace", "set cacheDir to choose where tokens are cached"},
		{"logLevel", "the log level follows OpenCode's logLevel"}} {
		if v, ok := ms.lookup(old[0]); ok {
			ms.warn(old[0], "unset (the option is no longer used)", renderAt(old[0], v), old[1])
		}
	}
	ms.unknownKeys(settingsKeys, nil)

	v, ok := ms.lookup("servers")
	arr, isArr := v.([]any)
	if ok && !isArr {
		ms.reportAt(ms.field("servers"), SeverityError, "an array of server objects", render(v), "")
	}
	var servers []*reader
	for i, e := range arr {
		path := IndexPath(ms.field("servers"), i)
		o, isObj := e.(*jsontree.Object)
		if !isObj {
			ms.reportAt(path, SeverityError, `an object like {"id": "...", "baseURL": "...", "issuer": "...", "clientId": "..."}`, render(e), "")
			continue
		}
		r := &reader{path: path, obj: o, sev: SeverityError, out: ms.out, props: serverProps}
		if r.set("id", &r.id) {
			servers = append(servers, r)
		}
	}
	return settings, servers
}

// readProviderEntry reads provider.<id> (v; nil when absent).
func readProviderEntry(id string, v any, out *sink) *providerEntry {
	e := &providerEntry{path: JoinPath("provider", id)}
	if v == nil {
		return e
	}
	o, isObj := v.(*jsontree.Object)
	if !isObj {
		out.add(Problem{ProviderID: id, Field: e.path, Expected: "an object", Found: renderAt(id, v),
			Severity: SeverityWarning, Hint: "ignored"})
		return e
	}
	n, _ := o.Get("name")
	name, _ := n.(string)
	e.name = strings.TrimSpace(name)
	pr := &reader{id: id, path: e.path, obj: o, sev: SeverityWarning, out: out}
	e.opts = pr.child("options", "an object")
	if e.opts == nil {
		return e
	}
	e.opts.sev = SeverityError
	v1, has1 := e.opts.lookup("oauth2")
	v2, has2 := e.opts.lookup("oauth2ModelSync")
	o1, is1 := v1.(*jsontree.Object)
	o2, is2 := v2.(*jsontree.Object)
	const expected = "an object with the oauth2 options (issuer, clientId, scopes, ...)"
	switch {
	case is1:
		e.blockPath, e.block = e.opts.field("oauth2"), o1
		if has2 {
			e.opts.warn("oauth2ModelSync", "unset when options.oauth2 is set", render(v2), "ignored; options.oauth2 is used")
		}
	case is2:
		e.blockPath, e.block = e.opts.field("oauth2ModelSync"), o2
		if has1 {
			e.opts.warn("oauth2", expected, render(v1), "ignored; options.oauth2ModelSync is used")
		}
	default:
		for _, k := range []string{"oauth2", "oauth2ModelSync"} {
			if v, has := e.opts.lookup(k); has {
				e.opts.report(k, expected, render(v), "")
				e.blockPath = cmp.Or(e.blockPath, e.opts.field(k))
			}
		}
	}
	return e
}

// build assembles and validates the provider id from its server entry
// and/or provider entry (see Parse for the precedence).
func build(id string, srv *reader, pe *providerEntry, settings Settings, out *sink) (Provider, bool) {
	start := len(out.list)
	p := Provider{ID: id, Name: id}
	src, known, hints := srv, serverKeys, map[string]string{}
	if pe.managed() {
		if srv != nil {
			srv.warn("id", "an id not also configured by "+pe.blockPath, quote(id),
				pe.blockPath+" wins for the OAuth options; this entry only supplies baseURL and name when the provider entry lacks them")
		}
		if pe.block == nil {
			return Provider{}, false
		}
		src = &reader{id: id, path: pe.blockPath, obj: pe.block, sev: SeverityError, out: out, props: optionProps}
		known = oauthKeys
		hints["baseURL"] = "ignored; set " + pe.opts.field("baseURL") + " instead"
		hints["name"] = "ignored; set " + JoinPath(pe.path, "name") + " instead"
	}
	p.Origin = src.path
	readOAuth(src, &p, settings)
	src.unknownKeys(known, hints)

	if srv != nil {
		sr := *srv
		sr.sev = SeverityWarning
		sr.set("name", &p.Name)
	}
	if pe.name != "" {
		p.Name = pe.name
	}
	readBaseURL(&p, srv, pe, out)
	return p, !out.hasError(start)
}

// readBaseURL sets p.BaseURL: the provider's options.baseURL, else the
// server entry's.
func readBaseURL(p *Provider, srv *reader, pe *providerEntry, out *sink) {
	opt := serverProps["baseURL"] // required where it is set and no other one is used
	var at *reader
	for _, r := range []*reader{pe.opts, srv} {
		if r == nil {
			continue
		}
		c := *r // an error where set, unless the provider's wins: then a warning
		if at != nil {
			c.sev = SeverityWarning
		}
		_, present := c.lookup("baseURL")
		opt.required = at == nil && present
		v, ok := c.value("baseURL", opt)
		switch {
		case !ok && opt.required:
			return // set but unusable: reported by value, no silent fallback
		case !ok:
		case at == nil:
			p.BaseURL, at = v.(string), &c
		case v != p.BaseURL:
			c.warn("baseURL", "the same as "+at.field("baseURL"), quote(redactUserinfo(v.(string))), at.field("baseURL")+" wins")
		}
	}
	if at == nil {
		path := p.Origin
		if pe.managed() {
			path = pe.opts.path
		}
		out.add(Problem{ProviderID: p.ID, Field: JoinPath(path, "baseURL"), Expected: opt.Expected, Severity: SeverityError})
		return
	}
	if !checkURL(at, "baseURL", p.BaseURL, p.AllowInsecureHTTP, p.Origin) {
		p.BaseURL = ""
	}
}
