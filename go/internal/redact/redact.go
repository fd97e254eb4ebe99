// Package redact is the one owner of making text safe for a terminal or a
// log: text that came from outside (server error bodies, error
// descriptions, URLs, names) loses the characters that change what a
// terminal shows (Unprintable, Clean), the credentials a server might echo
// (Text, URL, Values), and its excess length (Truncate).
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
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
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)*`)
	// Any other JSON member whose name suggests a credential.
	jsonNamed = regexp.MustCompile(`(?i)("[a-z0-9_\-]*(?:token|secret|password|passwd|api[_-]?key|apikey|assertion|authorization|credential|cookie|code_verifier)[a-z0-9_\-]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// Form, query and header style pairs.
	keyValue = regexp.MustCompile(`(?i)\b(api[_-]?key|x-api-key|apikey|passwd|cookie|set-cookie)(\s*[=:]\s*)[^\s&"',;]+`)
	// Well-known API key shapes (sk-..., ghp_..., and the like).
	apiKey = regexp.MustCompile(`\b(?:sk|pk|rk|ghp|gho|ghs|ghu|github_pat|xox[abp])[-_][A-Za-z0-9_\-]{16,}`)
	// Long opaque runs: a token when they look random (see looksRandom).
	opaque = regexp.MustCompile(`[A-Za-z0-9_\-+/.~]{32,}=*`)
)

// Text masks credentials in s (the known values given, of at least 8
// bytes, verbatim; then whatever looks like one), replaces invalid UTF-8,
// removes Unprintable characters, collapses white space to single spaces,
// and truncates the result to at most max runes (see Truncate).
func Text(s string, max int, known ...string) string {
	for _, k := range known {
		if len(k) >= 8 {
			s = strings.ReplaceAll(s, k, mask)
		}
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Control characters go first: removed after the masking, they could
	// join the parts of a credential split to evade it ("Bea\x00rer x").
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' || (r > 0x7f && unicode.IsSpace(r)) {
			return ' '
		}
		if Unprintable(r) {
			return -1
		}
		return r
	}, s)
	s = jsonField.ReplaceAllString(s, `${1}`+mask)
	s = formField.ReplaceAllString(s, `${1}=`+mask)
	s = scheme.ReplaceAllString(s, `${1} `+mask)
	s = jwt.ReplaceAllString(s, mask)
	s = jsonNamed.ReplaceAllString(s, `${1}"`+mask+`"`)
	s = keyValue.ReplaceAllString(s, "${1}${2}"+mask)
	s = apiKey.ReplaceAllString(s, mask)
	s = opaque.ReplaceAllStringFunc(s, func(m string) string {
		if looksRandom(m) {
			return mask
		}
		return m
	})
	return Truncate(strings.Join(strings.Fields(s), " "), max)
}

// Unprintable reports the runes that change what a terminal or a log line
// shows instead of showing themselves: C0 and C1 control characters and DEL
// (escape sequences, bell, carriage return, NUL, line breaks), the
// JavaScript line terminators U+2028/U+2029, and the bidirectional marks,
// embeddings, overrides and isolates that reorder the text around them
// (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
func Unprintable(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Printable reports whether s has no Unprintable rune.
func Printable(s string) bool { return !strings.ContainsFunc(s, Unprintable) }

// Clean removes every Unprintable rune from s (display text: a name, an
// owner) and truncates the result to at most max runes (see Truncate).
func Clean(s string, max int) string {
	if !Printable(s) {
		s = strings.Map(func(r rune) rune {
			if Unprintable(r) {
				return -1
			}
			return r
		}, s)
	}
	return Truncate(s, max)
}

// Truncate cuts s to at most max runes, the last one "…" when cut; max 0
// (or less) means no limit.
func Truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	i := 0
	for range max - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// URL drops userinfo, query and fragment from u, which is what may carry
// credentials; an unparsable URL is reduced to its part before '?' or '#'.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		if at, slashes := strings.Index(u, "@"), strings.Index(u, "//"); slashes >= 0 && slashes < at {
			u = u[:slashes+2] + u[at+1:] // the userinfo goes
		}
		return Text(u, 200)
	}
	// What is kept, by name: the userinfo, query and fragment are not.
	kept := url.URL{Scheme: p.Scheme, Opaque: p.Opaque, Host: p.Host, Path: p.Path, RawPath: p.RawPath, OmitHost: p.OmitHost}
	return kept.String()
}

// looksRandom tells a token (base64 with upper case, lower case and digits,
// or a hex string) from a long readable run such as a model path
// ("accounts/fireworks/models/llama-v3p1-70b-instruct").
func looksRandom(m string) bool {
	var upper, lower, digit, nonHex bool
	for i := 0; i < len(m); i++ {
		switch c := m[i]; {
		case 'A' <= c && c <= 'Z':
			upper = true
			nonHex = nonHex || c > 'F'
		case 'a' <= c && c <= 'z':
			lower = true
			nonHex = nonHex || c > 'f'
		case '0' <= c && c <= '9':
			digit = true
		default:
			nonHex = true
		}
	}
	return (upper && lower && digit && len(m) >= 40) || (!nonHex && digit && (upper || lower))
}

// minFragment is the shortest piece of a known secret Values masks when
// only a part of it appears.
const minFragment = 6

// Values masks every occurrence in s of the given values (of 4 bytes or
// more), and of any piece of 6 bytes or more of them: a server (or an
// error) that repeats half a secret gives none of it away.
func Values(s string, values []string) string {
	for _, v := range values {
		if len(v) < 4 {
			continue
		}
		for n := len(v); n >= min(len(v), minFragment); n-- { // v itself, then its pieces
			for i := 0; i+n <= len(v); i++ {
				s = strings.ReplaceAll(s, v[i:i+n], mask)
			}
		}
	}
	return s
}
