// Package redact makes text that came from outside (server error bodies,
// error descriptions, URLs) safe to put into a log line or an error: it
// masks credentials that a server might echo and bounds the length.
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

const mask = "[redacted]"

var (
	// "access_token": "…" (JSON) and access_token=… (form) for credential-bearing names.
	// The JSON value's closing quote is left in place, so that it can still
	// open the next key when the text is not JSON (`"token":" {"access_token":"x"}`).
	jsonField = regexp.MustCompile(`(?i)("(?:access_token|refresh_token|id_token|client_secret|client_assertion|assertion|subject_token|actor_token|device_code|code|password|token)"\s*:\s*")(?:[^"\\]|\\.)*`)
	formField = regexp.MustCompile(`(?i)\b(access_token|refresh_token|id_token|client_secret|client_assertion|assertion|subject_token|actor_token|device_code|code|password|token)=[^&\s"']+`)
	// Authorization schemes followed by a credential, any case; a repeated
	// scheme word ("Bearer Bearer x") is not taken for the credential.
	scheme = regexp.MustCompile(`(?i)\b((?:bearer|basic|dpop)(?:\s+(?:bearer|basic|dpop)\b)*)\s+[A-Za-z0-9\-._~+/]+=*`)
	// Compact JWS/JWE-looking strings.
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*`)
)

// Text masks credentials in s, replaces invalid UTF-8 and control
// characters, and truncates the result to at most max runes (with "…").
func Text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Control characters go first: removed after the masking, they could
	// join the parts of a credential split to evade it ("Bea\x00rer x").
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = jsonField.ReplaceAllString(s, `${1}`+mask)
	s = formField.ReplaceAllString(s, `${1}=`+mask)
	s = scheme.ReplaceAllString(s, `${1} `+mask)
	s = jwt.ReplaceAllString(s, mask)
	s = strings.TrimSpace(s)
	if max > 0 && utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return s
}

// URL drops userinfo, query and fragment from u, which is what may carry
// credentials; an unparsable URL is reduced to its part before '?' or '#'.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		if i := strings.Index(u, "@"); i >= 0 {
			if j := strings.Index(u, "//"); j >= 0 && j < i {
				u = u[:j+2] + u[i+1:]
			}
		}
		return Text(u, 200)
	}
	p.User = nil
	p.RawQuery = ""
	p.ForceQuery = false
	p.Fragment = ""
	p.RawFragment = ""
	return p.String()
}
