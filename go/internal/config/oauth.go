package config

import (
	"slices"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// readOAuth fills p from the oauth2 block (or server entry) read by r.
// settings supply the defaults of the per-provider timeouts and storage.
func readOAuth(r *reader, p *Provider, settings Settings) {
	p.Flow, p.PKCE, p.LoginTimeout = AuthorizationCode, true, DefaultLoginTimeout
	p.SyncInterval, p.MaxModels = DefaultSyncInterval, DefaultMaxModels
	p.TokenStorage, p.ExpirySkew, p.HTTPTimeout = settings.TokenStorage, settings.ExpirySkew, settings.HTTPTimeout
	if _, present := r.lookup("authFlow"); present && !r.set("authFlow", &p.Flow) {
		// A typo: reported once by set. The flow is unknown, so nothing
		// below may report what "the" flow needs or ignores.
		p.Flow = ""
	}
	r.set("allowInsecureHttp", &p.AllowInsecureHTTP)
	readURL(r, p, "issuer", &p.Issuer)
	r.set("clientId", &p.ClientID)
	readSecret(r, p)
	r.set("clientAuthMethod", &p.ClientAuthMethod)
	readClientAssertion(r, p)
	scopesReported := readScopes(r, p)
	r.setEach(field{"pkce", &p.PKCE}, field{"redirectPort", &p.RedirectPort}, field{"loginTimeoutSeconds", &p.LoginTimeout},
		field{"syncIntervalMinutes", &p.SyncInterval}, field{"maxModels", &p.MaxModels})
	p.NameOverrides = readNameOverrides(r)
	for _, f := range []field{{"authorizationEndpoint", &p.Endpoints.Authorization}, {"tokenEndpoint", &p.Endpoints.Token},
		{"deviceAuthorizationEndpoint", &p.Endpoints.DeviceAuthorization}, {"jwksUri", &p.Endpoints.JWKS}, {"revocationEndpoint", &p.Endpoints.Revocation},
		{"modelsURL", &p.ModelsURL}} {
		readURL(r, p, f.key, f.dst.(*string))
	}

	readTokenExchange(r, p)
	readResources(r, p)
	readRequestParams(r, p)

	r.set("responseApi", &p.ResponseAPI)
	readTokenHeader(r, p)
	r.setEach(field{"tokenStorage", &p.TokenStorage}, field{"caFile", &p.CAFile},
		field{"tokenExpirySkewMs", &p.ExpirySkew}, field{"httpTimeoutMs", &p.HTTPTimeout})
	checkFlowRequirements(r, p, scopesReported)
}

// readURL reads the URL option key of p's oauth2 block into dst when it is
// set and good (checkURL).
func readURL(r *reader, p *Provider, key string, dst *string) {
	var s string
	if r.set(key, &s) && checkURL(r, key, s, p.AllowInsecureHTTP, r.path) {
		*dst = s
	}
}

// readSecret reads clientSecret without ever rendering its value.
func readSecret(r *reader, p *Provider) {
	v, ok := r.lookup("clientSecret")
	if !ok {
		return
	}
	s, isStr := v.(string)
	if !isStr || strings.TrimSpace(s) == "" {
		r.report("clientSecret", r.props["clientSecret"].Expected, describe(v), "")
		return
	}
	if strings.TrimSpace(s) != s {
		r.warn("clientSecret", "a string without leading or trailing whitespace",
			"a string with leading or trailing whitespace", "used as written")
	}
	p.ClientSecret = secret.New(s)
}

// readScopes accepts an array of strings or one string of scopes separated
// by whitespace or commas (as the original plugin did). Duplicates are
// dropped. It reports whether it found something wrong with reader severity.
func readScopes(r *reader, p *Provider) (reported bool) {
	var parts []string
	whole := r.field("scopes")
	if !r.each("scopes", `an array of scope strings or a string like "openid profile"`, func(path string, e any) {
		s, isStr := e.(string)
		fields := strings.FieldsFunc(s, isSpace)
		switch {
		case path == whole: // one string: commas separate scopes too
			fields = strings.FieldsFunc(s, func(c rune) bool { return c == ',' || isSpace(c) })
		case !isStr:
			r.reportAt(path, r.sev, "a scope string", render(e), "")
			reported = true
		case len(fields) == 0:
			r.reportAt(path, SeverityWarning, "a non-empty scope string", render(e), "ignored")
		}
		parts = append(parts, fields...)
	}) {
		return true
	}
	for _, s := range parts {
		if !validScope(s) {
			r.report("scopes", `scope tokens of printable ASCII without spaces, '"' or '\'`, quote(s), "")
			reported = true
			continue
		}
		if !slices.Contains(p.Scopes, s) {
			p.Scopes = append(p.Scopes, s)
		}
	}
	return reported
}

func isSpace(c rune) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// validScope checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(c rune) bool { return c < 0x21 || c > 0x7e || c == '"' || c == '\\' })
}

// readNameOverrides reads an object of model id → display name. Bad
// entries are dropped with a warning; they never disable the provider.
func readNameOverrides(r *reader) map[string]string {
	return readStringMap(r, "nameOverrides", `an object mapping model ids to display names, like {"gpt-4o": "GPT-4o"}`,
		func(c *reader, k string, v any) (string, bool) {
			s, isStr := v.(string)
			switch {
			case strings.TrimSpace(k) == "":
				c.warn(k, "a non-empty model id as the key", quote(k), "ignored")
			case !isStr || strings.TrimSpace(s) == "":
				c.warn(k, "a non-empty display name string", renderAt(k, v), "ignored")
			default:
				return strings.TrimSpace(s), true
			}
			return "", false
		})
}

// readStringMap reads the object at key: the entries keep accepts (it
// reports the others, with the reader c of the object), nil when none is.
func readStringMap(r *reader, key, expected string, keep func(c *reader, k string, v any) (string, bool)) map[string]string {
	c := r.child(key, expected)
	if c == nil {
		return nil
	}
	out := map[string]string{}
	for _, k := range c.obj.Keys() {
		v, _ := c.obj.Get(k)
		if s, ok := keep(c, k, v); ok {
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// readResources reads resource: one absolute URI or an array of them (RFC 8707).
func readResources(r *reader, p *Provider) {
	r.each("resource", "an absolute URI without a fragment, or an array of them", func(path string, e any) {
		s, isStr := e.(string)
		s = strings.TrimSpace(s)
		switch {
		case !isStr || !absoluteURI(s, true):
			r.reportAt(path, r.sev, "an absolute URI without a fragment", render(e), "")
		case !slices.Contains(p.Resources, s):
			p.Resources = append(p.Resources, s)
		}
	})
}

// readTokenExchange reads the options that only jwt_bearer and
// token_exchange use; set for another flow they are ignored with a warning.
func readTokenExchange(r *reader, p *Provider) {
	if p.Flow == JWTBearer || p.Flow == TokenExchange {
		p.SubjectToken = readSubjectTokenSource(r, "subjectTokenSource", SeverityError)
	} else {
		r.unusedBy(p.Flow, "subjectTokenSource", `"jwt_bearer" or "token_exchange"`)
		readSubjectTokenSource(r, "subjectTokenSource", SeverityWarning) // still point out mistakes
	}
	for _, f := range []field{{"subjectTokenType", &p.SubjectTokenType}, {"tokenExchangeAudience", &p.Audience},
		{"requestedTokenType", &p.RequestedTokenType}} {
		dst := f.dst.(*string)
		switch {
		case p.Flow != TokenExchange:
			r.unusedBy(p.Flow, f.key, `"token_exchange"`)
		case r.set(f.key, dst) && f.key != "tokenExchangeAudience" && !absoluteURI(*dst, false):
			v, _ := r.lookup(f.key)
			r.report(f.key, r.props[f.key].Expected, render(v), "")
			*dst = ""
		}
	}
	if p.Flow == TokenExchange && p.SubjectTokenType == "" {
		p.SubjectTokenType = DefaultSubjectTokenType
	}
}
