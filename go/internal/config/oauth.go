package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Bounds of the numeric options.
const (
	minHTTPTimeout  = 100 * time.Millisecond
	maxHTTPTimeout  = 10 * time.Minute
	maxExpirySkew   = time.Hour
	minLoginTimeout = 10 * time.Second
	maxLoginTimeout = time.Hour
)

// readOAuth fills p from the oauth2 block (or server entry) read by r.
// settings supply the defaults of the per-provider timeouts.
func readOAuth(r *reader, p *Provider, settings Settings) {
	p.Flow = AuthorizationCode
	if f, ok := r.enum("authFlow", flows); ok {
		p.Flow = Flow(f)
	} else if _, present := r.lookup("authFlow"); present {
		// A typo: reported once by enum. The flow is unknown, so nothing
		// below may report what "the" flow needs or ignores.
		p.Flow = ""
	}
	p.AllowInsecureHTTP = r.boolean("allowInsecureHttp", false)

	p.Issuer, _ = r.str("issuer", "an absolute https URL (the authorization server's issuer)", true)
	rules := urlRules{allowInsecure: p.AllowInsecureHTTP, origin: r.path}
	issuerRules := rules
	issuerRules.issuer = true
	if p.Issuer != "" && !checkURL(r, "issuer", p.Issuer, issuerRules) {
		p.Issuer = ""
	}
	p.ClientID, _ = r.str("clientId", "a non-empty string (the OAuth client id)", true)
	readSecret(r, p)
	if m, ok := r.enum("clientAuthMethod", authMethods); ok {
		p.ClientAuthMethod = m
	}
	readClientAssertion(r, p)
	scopesReported := readScopes(r, p)
	p.PKCE = r.boolean("pkce", true)
	if port, ok := r.intIn("redirectPort", 1, 65535, "an integer in [1, 65535]", false); ok {
		p.RedirectPort = int(port)
	}
	p.LoginTimeout = DefaultLoginTimeout
	if s, ok := r.intIn("loginTimeoutSeconds", int64(minLoginTimeout/time.Second),
		int64(maxLoginTimeout/time.Second), "an integer number of seconds in [10, 3600]", true); ok {
		p.LoginTimeout = time.Duration(s) * time.Second
	}
	p.SyncInterval = DefaultSyncInterval
	if m, ok := r.numberClamped("syncIntervalMinutes", MinSyncInterval.Minutes(), MaxSyncInterval.Minutes(),
		"a number of minutes in [1, 10080] (1 minute to 7 days)"); ok {
		p.SyncInterval = time.Duration(math.Round(m * float64(time.Minute)))
	}
	p.MaxModels = DefaultMaxModels
	if n, ok := r.intIn("maxModels", MinMaxModels, MaxMaxModels, "an integer number of models in [1, 20000]", true); ok {
		p.MaxModels = int(n)
	}
	p.NameOverrides = readNameOverrides(r)

	endpoint := func(key string) string {
		s, ok := r.str(key, "an absolute https URL", false)
		fieldRules := rules
		if key == "modelsURL" {
			fieldRules.example = exampleModelsURL
		}
		if !ok || !checkURL(r, key, s, fieldRules) {
			return ""
		}
		return s
	}
	p.Endpoints = Endpoints{
		Authorization:       endpoint("authorizationEndpoint"),
		Token:               endpoint("tokenEndpoint"),
		DeviceAuthorization: endpoint("deviceAuthorizationEndpoint"),
		JWKS:                endpoint("jwksUri"),
		Revocation:          endpoint("revocationEndpoint"),
	}
	p.ModelsURL = endpoint("modelsURL")

	readTokenExchange(r, p)
	readResources(r, p)
	readRequestParams(r, p)

	p.ResponseAPI = r.boolean("responseApi", false)
	readTokenHeader(r, p)
	p.TokenStorage = settings.TokenStorage
	if s, ok := r.enum("tokenStorage", Storages); ok {
		p.TokenStorage = Storage(s)
	}
	if s, ok := r.str("caFile", "a non-empty path to a PEM file", false); ok {
		p.CAFile = s
	}
	p.ExpirySkew = settings.ExpirySkew
	if d, ok := r.durationMs("tokenExpirySkewMs", 0, maxExpirySkew); ok {
		p.ExpirySkew = d
	}
	p.HTTPTimeout = settings.HTTPTimeout
	if d, ok := r.durationMs("httpTimeoutMs", minHTTPTimeout, maxHTTPTimeout); ok {
		p.HTTPTimeout = d
	}
	checkFlowRequirements(r, p, scopesReported)
}

// readSecret reads clientSecret without ever rendering its value.
func readSecret(r *reader, p *Provider) {
	const expected = "a non-empty string (the OAuth client secret)"
	v, ok := r.lookup("clientSecret")
	if !ok {
		return
	}
	s, isStr := v.(string)
	if !isStr || strings.TrimSpace(s) == "" {
		r.report("clientSecret", expected, describe(v), "")
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
	const expected = `an array of scope strings or a string like "openid profile"`
	v, ok := r.lookup("scopes")
	if !ok {
		return false
	}
	var parts []string
	switch t := v.(type) {
	case string:
		parts = strings.FieldsFunc(t, func(c rune) bool { return c == ',' || isSpace(c) })
	case []any:
		elemPath := r.field("scopes")
		for i, e := range t {
			s, isStr := e.(string)
			if !isStr {
				r.out.add(Problem{ProviderID: r.id, Field: indexPath(elemPath, i),
					Expected: "a scope string", Found: render(e), Severity: r.sev})
				reported = true
				continue
			}
			fields := strings.FieldsFunc(s, isSpace)
			if len(fields) == 0 {
				r.out.add(Problem{ProviderID: r.id, Field: indexPath(elemPath, i),
					Expected: "a non-empty scope string", Found: render(e),
					Severity: SeverityWarning, Hint: "ignored"})
			}
			parts = append(parts, fields...)
		}
	default:
		r.report("scopes", expected, render(v), "")
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
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// readNameOverrides reads an object of model id → display name. Bad
// entries are dropped with a warning; they never disable the provider.
func readNameOverrides(r *reader) map[string]string {
	c := r.child("nameOverrides", `an object mapping model ids to display names, like {"gpt-4o": "GPT-4o"}`)
	if c == nil {
		return nil
	}
	out := map[string]string{}
	for _, k := range c.obj.Keys() {
		v, _ := c.obj.Get(k)
		s, isStr := v.(string)
		switch {
		case strings.TrimSpace(k) == "":
			c.warn(k, "a non-empty model id as the key", quote(k), "ignored")
		case !isStr || strings.TrimSpace(s) == "":
			c.warn(k, "a non-empty display name string", renderAt(k, v), "ignored")
		default:
			out[k] = strings.TrimSpace(s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// readResources reads resource: one absolute URI or an array of them (RFC 8707).
func readResources(r *reader, p *Provider) {
	const expected = "an absolute URI without a fragment, or an array of them"
	v, ok := r.lookup("resource")
	if !ok {
		return
	}
	add := func(field string, e any) {
		s, isStr := e.(string)
		s = strings.TrimSpace(s)
		if !isStr || !absoluteURI(s, true) {
			r.out.add(Problem{ProviderID: r.id, Field: field, Expected: "an absolute URI without a fragment",
				Found: render(e), Severity: r.sev})
			return
		}
		if !slices.Contains(p.Resources, s) {
			p.Resources = append(p.Resources, s)
		}
	}
	switch t := v.(type) {
	case string:
		add(r.field("resource"), t)
	case []any:
		for i, e := range t {
			add(indexPath(r.field("resource"), i), e)
		}
	default:
		r.report("resource", expected, render(v), "")
	}
}

// readTokenExchange reads the options that only jwt_bearer and
// token_exchange use; set for another flow they are ignored with a warning.
func readTokenExchange(r *reader, p *Provider) {
	if _, ok := r.lookup("subjectTokenSource"); ok {
		if p.Flow == JWTBearer || p.Flow == TokenExchange {
			p.SubjectToken = readSubjectTokenSource(r, "subjectTokenSource", SeverityError)
		} else {
			if p.Flow != "" { // else an unknown flow (a typo, reported already)
				r.unusedBy(p.Flow, "subjectTokenSource", `"jwt_bearer" or "token_exchange"`)
			}
			readSubjectTokenSource(r, "subjectTokenSource", SeverityWarning) // still point out mistakes
		}
	}
	type opt struct {
		key, expected string
		dst           *string
	}
	opts := []opt{
		{"subjectTokenType", "an absolute URI, like " + strconv.Quote(DefaultSubjectTokenType), &p.SubjectTokenType},
		{"tokenExchangeAudience", "a non-empty string (the audience of the exchanged token)", &p.Audience},
		{"requestedTokenType", "an absolute URI, like \"urn:ietf:params:oauth:token-type:access_token\"", &p.RequestedTokenType},
	}
	for _, o := range opts {
		if p.Flow != TokenExchange {
			if p.Flow != "" {
				r.unusedBy(p.Flow, o.key, `"token_exchange"`)
			}
			continue
		}
		s, ok := r.str(o.key, o.expected, false)
		if ok && o.key != "tokenExchangeAudience" && !absoluteURI(s, false) {
			v, _ := r.lookup(o.key)
			r.report(o.key, o.expected, render(v), "")
			continue
		}
		*o.dst = s
	}
	if p.Flow == TokenExchange && p.SubjectTokenType == "" {
		p.SubjectTokenType = DefaultSubjectTokenType
	}
}
