package config

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

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
