package models

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small single-pass JSON reader for models responses. It
// accepts exactly the documents encoding/json accepts (RFC 8259, nesting up
// to 10,000 levels, any bytes but control characters inside strings) and
// decodes strings the way encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD), but it matches member names exactly and
// allocates only the strings it keeps. encoding/json needed ~15 ms for a
// 5,000-model answer; this needs a tenth of that. FuzzParse checks it
// against encoding/json.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.offset) }

func (s *scanner) fail(msg string) error { return &syntaxError{msg: msg, offset: s.i} }

// unexpected reports the byte at the current position (or the end).
func (s *scanner) unexpected() error {
	if s.i >= len(s.b) {
		return s.fail("unexpected end of input")
	}
	return s.fail(fmt.Sprintf("invalid character %q", s.b[s.i]))
}

func (s *scanner) ws() {
	i := s.i
	for i < len(s.b) && (s.b[i] == ' ' || s.b[i] == '\t' || s.b[i] == '\n' || s.b[i] == '\r') {
		i++
	}
	s.i = i
}

// peek returns the current byte, 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("nesting deeper than 10000 levels")
	}
	s.i++
	return nil
}

// object reads an object at the current position, calling member with each
// decoded name; member must read the value.
func (s *scanner) object(member func(name []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return s.unexpected()
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return s.unexpected()
		}
		s.i++
		s.ws()
		if err := member(name); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.unexpected()
		}
	}
}

// array reads an array at the current position, calling elem for each
// element; elem must read the value.
func (s *scanner) array(elem func() error) error {
	if err := s.enter(); err != nil {
		return err
	}
	s.ws()
	if s.peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if err := elem(); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.unexpected()
		}
	}
}

// skip reads and discards any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := s.number()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.unexpected()
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		for j := 0; j < len(lit) && s.i < len(s.b) && s.b[s.i] == lit[j]; j++ {
			s.i++
		}
		return s.unexpected()
	}
	s.i += len(lit)
	return nil
}

// number reads a number and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, s.unexpected()
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return nil, s.unexpected()
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return nil, s.unexpected()
		}
		s.digits()
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() {
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str reads a string and returns its decoded content. Without escapes or
// invalid UTF-8 the result aliases the input; callers copy what they keep.
func (s *scanner) str() ([]byte, error) {
	s.i++ // the opening quote
	start := s.i
	plain := true // no escapes, valid UTF-8 so far
	for s.i < len(s.b) {
		// The common case, with the position in a register.
		b, i := s.b, s.i
		for i < len(b) && b[i] >= 0x20 && b[i] < utf8.RuneSelf && b[i] != '"' && b[i] != '\\' {
			i++
		}
		s.i = i
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			raw := b[start:i]
			s.i++
			if plain {
				return raw, nil
			}
			return unquote(raw), nil
		case c == '\\':
			plain = false
			s.i++
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for j := 0; j < 4; j++ {
					if !isHex(s.peek()) {
						return nil, s.unexpected()
					}
					s.i++
				}
			default:
				return nil, s.unexpected()
			}
		case c < 0x20:
			return nil, s.fail("control character in string")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			s.i += size
		}
	}
	return nil, s.unexpected()
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// unquote decodes the content of a string already validated by str, with
// encoding/json's rules for invalid UTF-8 and surrogates.
func unquote(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+utf8.UTFMax)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(raw[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			out = utf8.AppendRune(out, r) // invalid bytes become U+FFFD, one each
			i += size
		}
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case isDigit(c):
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
