package config

import (
	"cmp"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
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

// readClientAssertion reads the private_key_jwt options. Setting the key
// file or the source selects private_key_jwt when clientAuthMethod is
// unset; with another method it is an error, as is setting both.
func readClientAssertion(r *reader, p *Provider) {
	hasKey := r.set("clientAssertionKeyFile", &p.ClientAssertionKeyFile)
	_, hasSource := r.lookup("clientAssertionSource")
	p.ClientAssertionSource = readSubjectTokenSource(r, "clientAssertionSource", SeverityError)
	r.setEach(field{"clientAssertionKeyId", &p.ClientAssertionKeyID}, field{"clientAssertionAlg", &p.ClientAssertionAlg})

	switch {
	case !hasKey && !hasSource:
		if p.ClientAuthMethod == AuthMethodPrivateKeyJWT {
			r.report("clientAssertionKeyFile", `a path to the client's private key, or clientAssertionSource instead, when clientAuthMethod is "private_key_jwt"`, "", "")
		}
	case p.ClientAuthMethod != AuthMethodAuto && p.ClientAuthMethod != AuthMethodPrivateKeyJWT:
		key := "clientAssertionKeyFile"
		if !hasKey {
			key = "clientAssertionSource"
		}
		r.report("clientAuthMethod", `"private_key_jwt" or unset when `+key+" is set", strconv.Quote(p.ClientAuthMethod), "")
	case hasKey && hasSource:
		r.report("clientAssertionSource", "unset when clientAssertionKeyFile is set (the client assertion is either signed with the key or read from the source)",
			"an object", "")
	default:
		p.ClientAuthMethod = AuthMethodPrivateKeyJWT
	}
	for _, f := range []field{{"clientAssertionKeyId", &p.ClientAssertionKeyID}, {"clientAssertionAlg", &p.ClientAssertionAlg}} {
		if dst := f.dst.(*string); *dst != "" && !hasKey {
			r.warn(f.key, "unset unless clientAssertionKeyFile is set", strconv.Quote(*dst), "ignored")
			*dst = ""
		}
	}
	if p.ClientAuthMethod == AuthMethodPrivateKeyJWT && !p.ClientSecret.IsZero() {
		r.warn("clientSecret", `unset when clientAuthMethod is "private_key_jwt"`, "a string", "it is not sent")
	}
}

// reservedParams are the request parameters the plugin sets itself, with
// what sets them; authorizationParams and tokenParams may not name them.
var reservedParams = map[string]string{
	"state": "the plugin sets it for each login", "nonce": "the plugin sets it for each login",
	"code_challenge": "the plugin sets it for each login (PKCE)", "code_challenge_method": "the plugin sets it for each login (PKCE)",
	"code_verifier": "the plugin sets it for each login (PKCE)", "redirect_uri": "the plugin's loopback redirect sets it",
	"response_type": "the plugin sets it", "response_mode": "the loopback redirect reads the answer from the query",
	"client_id": "use clientId", "client_secret": "use clientSecret",
	"client_assertion": "use clientAuthMethod \"private_key_jwt\"", "client_assertion_type": "use clientAuthMethod \"private_key_jwt\"",
	"grant_type": "authFlow sets it", "code": "the grant sets it", "refresh_token": "the grant sets it",
	"device_code": "the grant sets it", "assertion": "use subjectTokenSource", "subject_token": "use subjectTokenSource",
	"subject_token_type": "use subjectTokenType", "actor_token": "the plugin does not send it", "actor_token_type": "the plugin does not send it",
	"requested_token_type": "use requestedTokenType", "scope": "use scopes", "resource": "use resource",
	"audience": "use audience", "prompt": "use prompt", "login_hint": "use loginHint", "acr_values": "use acrValues",
	"request":     "the plugin sends no request object: one would replace the parameters it checks",
	"request_uri": "the plugin sends no request object: one would replace the parameters it checks",
}

// ReservedParam reports whether the plugin sets (or never sends) the request
// parameter name, compared without case: neither the configuration's extra
// parameters nor an endpoint's own query may carry it.
func ReservedParam(name string) bool {
	_, ok := reservedParams[strings.ToLower(name)]
	return ok
}

// readRequestParams reads the extra request parameters. What a flow does
// not send is ignored with a warning.
func readRequestParams(r *reader, p *Provider) {
	if s := ""; r.set("audience", &s) {
		if p.Audience != "" {
			r.report("audience", "unset when tokenExchangeAudience is set (both are the audience parameter)", quote(s), "")
		} else {
			p.Audience = s
		}
	}
	for _, f := range []field{{"prompt", &p.Prompt}, {"loginHint", &p.LoginHint}, {"acrValues", &p.ACRValues}} {
		dst := f.dst.(*string)
		switch {
		case p.Flow != AuthorizationCode:
			r.unusedBy(p.Flow, f.key, `"authorization_code"`)
		case r.set(f.key, dst) && !redact.Printable(*dst):
			r.report(f.key, r.props[f.key].Expected+" of printable characters", quote(*dst), "")
			*dst = ""
		}
	}
	if p.Flow.Interactive() {
		p.AuthorizationParams = readParamMap(r, "authorizationParams")
	} else {
		r.unusedBy(p.Flow, "authorizationParams", `"authorization_code" or "device_code"`)
	}
	p.TokenParams = readParamMap(r, "tokenParams")
}

// readParamMap reads an object of parameter names to string values,
// refusing names the plugin sets itself (compared without case).
func readParamMap(r *reader, key string) map[string]string {
	return readStringMap(r, key, `an object of parameter names to string values, like {"connector_id": "github"}`,
		func(c *reader, k string, v any) (string, bool) {
			s, isStr := v.(string)
			why, reserved := reservedParams[strings.ToLower(k)]
			switch {
			case !validScope(k):
				c.report(k, "a parameter name of printable ASCII without spaces, '\"' or '\\'", quote(k), "")
			case reserved:
				c.report(k, "a parameter the plugin does not set itself", quote(k), why)
			case !isStr || !redact.Printable(s):
				c.report(k, "a string of printable characters", renderAt(k, v), "")
			default:
				return s, true
			}
			return "", false
		})
}

// refusedHeaders may not carry the token: the host sets them, they end at
// the next hop, or they describe the body.
var refusedHeaders = map[string]string{
	"Host": "it names the server", "Cookie": "it carries the host's cookies",
	"Connection": "it is hop-by-hop", "Keep-Alive": "it is hop-by-hop", "Proxy-Authenticate": "it is hop-by-hop",
	"Proxy-Authorization": "it is hop-by-hop (a proxy takes it, never the gateway)", "Proxy-Connection": "it is hop-by-hop",
	"Te": "it is hop-by-hop", "Trailer": "it is hop-by-hop", "Transfer-Encoding": "it is hop-by-hop", "Upgrade": "it is hop-by-hop",
}

// readTokenHeader reads tokenHeader (the header that carries the token, as
// Cloudflare AI Gateway's cf-aig-authorization or Portkey's x-portkey-api-key)
// and tokenScheme (the word before the token; "" for the token alone).
func readTokenHeader(r *reader, p *Provider) {
	if s := ""; r.set("tokenHeader", &s) {
		name := http.CanonicalHeaderKey(s)
		why, refused := refusedHeaders[name]
		switch {
		case !isToken(s):
			r.report("tokenHeader", r.props["tokenHeader"].Expected, quote(s), "")
		case refused:
			r.report("tokenHeader", "a header that may carry a credential", quote(s), why)
		case strings.HasPrefix(name, "Content-"):
			r.report("tokenHeader", "a header that may carry a credential", quote(s), "Content-* headers describe the body")
		default:
			p.TokenHeader = name
		}
	}
	if v, ok := r.lookup("tokenScheme"); ok {
		s, isStr := v.(string)
		if s = strings.TrimSpace(s); isStr && (s == "" || isToken(s)) {
			p.TokenScheme, p.TokenSchemeSet = s, true
		} else {
			r.report("tokenScheme", `a scheme word like "Bearer", or "" for the token alone`, renderAt("tokenScheme", v), "")
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	return s != "" && strings.Trim(s, alphanumeric+"!#$%&'*+-.^_|~`") == ""
}

// HeaderName is the header that carries the provider's token.
func (p Provider) HeaderName() string {
	return cmp.Or(p.TokenHeader, "Authorization")
}

// HeaderValue is the value of that header for an access token whose type
// is tokenType: the configured scheme (none when set to ""), else the
// token's type, Bearer when it has none.
func (p Provider) HeaderValue(tokenType, accessToken string) string {
	scheme := p.TokenScheme
	if !p.TokenSchemeSet {
		scheme = strings.TrimSpace(tokenType)
		if scheme == "" || strings.EqualFold(scheme, "bearer") {
			scheme = "Bearer"
		}
	}
	if scheme == "" {
		return accessToken
	}
	return scheme + " " + accessToken
}

// exampleURLs are the example URLs in messages about the URL option key,
// so the example fits the field the user is fixing; the other URL options
// are an authorization server's (https://auth.example.com).
var exampleURLs = map[string]string{"baseURL": "https://llm.example.com/v1", "modelsURL": "https://llm.example.com/v1/models"}

// checkURL validates s, a trimmed non-empty value of the URL option key, and
// reports what is wrong. insecure is allowInsecureHttp (plain http to any
// host), origin the path of the oauth2 block (for the opt-out hint). It
// never echoes userinfo (user:password@) back.
func checkURL(r *reader, key, s string, insecure bool, origin string) bool {
	expected, hint := urlProblem(key, s, insecure, origin)
	if expected == "" {
		return true
	}
	r.report(key, expected, quote(redactUserinfo(s)), hint)
	return false
}

// urlProblem returns what was expected of s at key and a hint, or "" when s
// is a good URL there (see checkURL).
func urlProblem(key, s string, insecure bool, origin string) (expected, hint string) {
	absolute := "an absolute http(s) URL, like " + strconv.Quote(cmp.Or(exampleURLs[key], "https://auth.example.com"))
	if strings.ContainsAny(s, " \t\r\n") {
		return absolute, "URLs cannot contain whitespace"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return absolute, ""
	}
	if u.User != nil {
		return "a URL without user:password@", "credentials do not belong in URLs"
	}
	if u.Hostname() == "" {
		return absolute, "the host is missing"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return absolute, "the port must be in [1, 65535]"
		}
	}
	if strings.Contains(s, "#") {
		return "a URL without a #fragment", ""
	}
	if key == "issuer" && strings.Contains(s, "?") { // RFC 8414 §2
		return "an issuer URL without a ?query", "RFC 8414 issuers have no query"
	}
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return "an https URL",
			"plain http is only accepted for loopback hosts (localhost, 127.0.0.0/8, ::1); " +
				"to allow it anyway set \"allowInsecureHttp\": true in " + origin
	}
	return "", ""
}

// isLoopback reports whether host (without brackets or port) is localhost
// or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// redactUserinfo replaces the userinfo of a URL-looking string with ***,
// so a mistyped URL carrying credentials is never rendered in full. It is
// deliberately loose ("https:/u:p@h" and "u:p@h" are redacted too).
func redactUserinfo(s string) string {
	rest := s
	if i := strings.Index(s, ":"); i >= 0 && strings.HasPrefix(s[i:], ":/") {
		rest = s[i+1:]
	}
	rest = strings.TrimLeft(rest, "/\\") // the authority and what follows
	authority := rest
	if end := strings.IndexAny(rest, "/?#\\"); end >= 0 {
		authority = rest[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	return s[:len(s)-len(rest)] + "***" + rest[at:]
}

// absoluteURI reports whether s is an absolute URI (a scheme, no
// whitespace), without a fragment when noFragment is set.
func absoluteURI(s string, noFragment bool) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return false
	}
	return !noFragment || !strings.Contains(s, "#")
}

// readSubjectTokenSource reads a token source object at key
// (subjectTokenSource, clientAssertionSource), reporting with sev. It
// returns nil when the source is missing or has an error.
func readSubjectTokenSource(r *reader, key string, sev Severity) *SubjectTokenSource {
	sub := *r
	sub.sev = sev
	c := sub.child(key,
		`an object like {"type": "github_actions", "audience": "..."} with type `+quotedList(sourceTypes))
	if c == nil {
		return nil
	}
	start := len(c.out.list)
	v, _ := c.value("type", option{Type: "string", Enum: sourceTypes, required: true, Expected: "one of " + quotedList(sourceTypes)})
	t, _ := v.(string)
	src := &SubjectTokenSource{Type: t}
	if t == SourceKubernetesSA {
		src.Path = DefaultKubernetesTokenPath
	}
	c.props = sourceProps[t]
	own := sourceKey[t]
	dst := map[string]*string{"audience": &src.Audience, "tokenPath": &src.Path, "path": &src.Path, "var": &src.Var}[own]
	if own != "" && c.set(own, dst) && own == "var" && strings.ContainsAny(src.Var, "=\x00") {
		c.report(own, c.props[own].Expected, quote(src.Var), "") // then src is not returned
	}
	if t != "" {
		hints := map[string]string{}
		for typ, key := range sourceKey {
			if typ != t {
				hints[key] = "used only when type is " + strconv.Quote(typ) + "; ignored"
			}
		}
		c.unknownKeys([]string{"type", own}, hints)
	}
	if c.out.hasError(start) || t == "" {
		return nil
	}
	return src
}

// checkFlowRequirements reports what the chosen flow needs but lacks, and
// what is set but unused by it. scopesReported says readScopes already
// reported an error for scopes.
func checkFlowRequirements(r *reader, p *Provider, scopesReported bool) {
	if p.Flow == "" {
		return // unknown flow (a typo, reported already): nothing to check against
	}
	flow := strconv.Quote(string(p.Flow))
	if p.Flow.Interactive() && len(p.Scopes) == 0 && !scopesReported {
		found := ""
		if v, present := r.lookup("scopes"); present {
			found = render(v)
		}
		r.report("scopes", `at least one scope, like ["openid", "offline_access"], when authFlow is `+flow, found, "")
	}
	if _, secretSet := r.lookup("clientSecret"); !secretSet {
		switch {
		case p.Flow == ClientCredentials && p.ClientAuthMethod != AuthMethodPrivateKeyJWT:
			r.report("clientSecret", "a non-empty string (required when authFlow is \"client_credentials\", "+
				"unless clientAuthMethod is \"private_key_jwt\")", "", "")
		case p.ClientAuthMethod == AuthMethodPost || p.ClientAuthMethod == AuthMethodBasic:
			r.report("clientSecret", "a non-empty string (required when clientAuthMethod is "+
				strconv.Quote(p.ClientAuthMethod)+")", "", "")
		}
	}
	if p.ClientAuthMethod == AuthMethodNone {
		if p.Flow == ClientCredentials {
			r.report("clientAuthMethod", `"client_secret_post", "client_secret_basic" or "private_key_jwt" when authFlow is "client_credentials"`,
				strconv.Quote(AuthMethodNone), "")
		} else if !p.ClientSecret.IsZero() {
			r.warn("clientSecret", `unset when clientAuthMethod is "none"`, "a string", "it is not sent")
		}
	}
	if (p.Flow == JWTBearer || p.Flow == TokenExchange) && p.SubjectToken == nil {
		if _, present := r.lookup("subjectTokenSource"); !present {
			r.report("subjectTokenSource", `an object like {"type": `+quotedList(sourceTypes)+`, ...} (required when authFlow is `+flow+")", "", "")
		}
	}
	if p.Flow != AuthorizationCode && r.unusedBy(p.Flow, "redirectPort", `"authorization_code"`) {
		p.RedirectPort = 0
	}
}
