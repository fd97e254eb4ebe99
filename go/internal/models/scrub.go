package models

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPreview is the most characters of a gateway's body an error carries.
const maxPreview = 300

// Patterns that look like credentials in a gateway's error body. They are
// compiled once and never modified.
var (
	// Authorization schemes followed by their credential.
	reAuthScheme = regexp.MustCompile(`(?i)\b(bearer|basic|dpop)(\s+)[A-Za-z0-9\-._~+/]+=*`)
	// Anything shaped like a JWT (JWS compact or JWE header.payload prefix).
	reJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)*`)
	// JSON members whose name suggests a credential and whose value is a string.
	reJSONField = regexp.MustCompile(`(?i)("[a-z0-9_\-]*(?:token|secret|password|passwd|api[_-]?key|apikey|assertion|authorization|credential|cookie|code_verifier)[a-z0-9_\-]*"\s*:\s*)"(?:[^"\\]|\\.)*"`)
	// Form, query and header style pairs.
	reKeyValue = regexp.MustCompile(`(?i)\b((?:access|refresh|id|subject|actor)_token|client_secret|api[_-]?key|x-api-key|apikey|password|assertion|cookie|set-cookie)(\s*[=:]\s*)[^\s&"',;]+`)
	// An authorization code in a query string.
	reCode = regexp.MustCompile(`\b(code=)[^\s&"',;]+`)
	// Well-known API key shapes (sk-..., ghp_..., and the like).
	reAPIKey = regexp.MustCompile(`\b(?:sk|pk|rk|ghp|gho|ghs|ghu|github_pat|xox[abp])[-_][A-Za-z0-9_\-]{16,}`)
	// Long opaque runs: a token when they look random (see looksRandom).
	reOpaque = regexp.MustCompile(`[A-Za-z0-9_\-+/.~]{32,}=*`)
)

// scrub removes credentials from s: the given known secrets verbatim (those
// of at least 8 bytes), then everything the patterns above match.
func scrub(s string, known ...string) string {
	for _, k := range known {
		if len(k) >= 8 {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	s = reJWT.ReplaceAllString(s, "[redacted-jwt]")
	s = reAuthScheme.ReplaceAllString(s, "${1}${2}[redacted]")
	s = reJSONField.ReplaceAllString(s, `${1}"[redacted]"`)
	s = reKeyValue.ReplaceAllString(s, "${1}${2}[redacted]")
	s = reCode.ReplaceAllString(s, "${1}[redacted]")
	s = reAPIKey.ReplaceAllString(s, "[redacted]")
	s = reOpaque.ReplaceAllStringFunc(s, func(m string) string {
		if looksRandom(m) {
			return "[redacted]"
		}
		return m
	})
	return s
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

// preview renders a response body for an error message: valid UTF-8,
// credentials scrubbed, white space and control characters collapsed to
// single spaces (one line), at most maxPreview characters.
func preview(body []byte, known ...string) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = scrub(s, known...)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	return truncateRunes(s, maxPreview)
}

// truncateRunes cuts s to at most n characters, the last being "…" when
// something was cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}
