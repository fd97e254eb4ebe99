package config

import (
	"cmp"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

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
	start := 0
	if i := strings.Index(s, ":"); i >= 0 && strings.HasPrefix(s[i:], ":/") {
		start = i + 1
	}
	for start < len(s) && (s[start] == '/' || s[start] == '\\') {
		start++
	}
	rest := s[start:]
	end := strings.IndexAny(rest, "/?#\\")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:start] + "***" + rest[at:]
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
		c.report(own, c.props[own].Expected, quote(src.Var), "")
		src.Var = ""
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
