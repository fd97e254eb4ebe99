package config

import (
	"cmp"
	"net/http"
	"strings"
)

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
	v, ok := r.lookup("tokenScheme")
	if !ok {
		return
	}
	s, isStr := v.(string)
	s = strings.TrimSpace(s)
	if !isStr || (s != "" && !isToken(s)) {
		r.report("tokenScheme", `a scheme word like "Bearer", or "" for the token alone`, renderAt("tokenScheme", v), "")
		return
	}
	p.TokenScheme, p.TokenSchemeSet = s, true
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
