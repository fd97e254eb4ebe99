// Package secret holds credentials (tokens, client secrets, codes, assertions)
// in a type that redacts itself wherever it is formatted, logged or encoded,
// so that leaking one through a log line or an error is impossible by
// construction. The plain value is only reachable through Reveal.
package secret

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what every formatting of a non-empty secret prints.
const Redacted = "[redacted]"

// String is a secret string value. The zero value is the empty secret.
type String struct {
	v string
}

// New wraps a plain value.
func New(v string) String { return String{v: v} }

// Reveal returns the plain value, for the few places that must send it on
// the wire or write it to the token cache.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s.v == "" }

// Equal compares two secrets in constant time.
func (s String) Equal(o String) bool {
	return subtle.ConstantTimeCompare([]byte(s.v), []byte(o.v)) == 1
}

func (s String) redacted() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// String implements fmt.Stringer with the redacted form.
func (s String) String() string { return s.redacted() }

// GoString implements fmt.GoStringer with the redacted form (%#v).
func (s String) GoString() string { return fmt.Sprintf("secret.String(%q)", s.redacted()) }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d...)
// prints the redacted form.
func (s String) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.redacted())
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, s.GoString())
	default:
		_, _ = io.WriteString(f, s.redacted())
	}
}

// MarshalText encodes the redacted form, as a JSON string too (encoding/json
// and json/v2 use it), in encoding/xml, map keys and slog text. The token
// cache uses its own record type with plain strings, filled through Reveal.
func (s String) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.redacted()) }
