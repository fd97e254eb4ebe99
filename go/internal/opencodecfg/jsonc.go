package opencodecfg

import (
	"fmt"
)

// ToJSON converts JSONC, the JSON dialect OpenCode reads (JSON plus
// `//` and `/* */` comments and trailing commas in objects and arrays),
// to plain JSON.
//
// Comments, trailing commas and a leading UTF-8 byte order mark are
// replaced with spaces (line breaks inside block comments are kept), so the
// output has exactly the input's length and every offset, line and column
// of the input points at the same place in the output: a JSON syntax error
// found later can be reported against the file the user wrote. Strings are
// copied verbatim, so `"http://x"` and `"/* not a comment */"` survive.
//
// Only an unterminated block comment is reported here; anything else that
// is not JSON (a missing quote, `,,`, `[,]`) is left for the JSON parser.
func ToJSON(src []byte) ([]byte, error) {
	out := make([]byte, len(src))
	copy(out, src)
	n := len(src)
	i := 0
	if n >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		out[0], out[1], out[2] = ' ', ' ', ' '
		i = 3
	}
	var last byte = 0 // last significant byte (outside comments and blanks)
	comma := -1       // offset of a comma that is dropped if a closer follows
	for i < n {
		c := src[i]
		switch {
		case c == '"':
			i = skipString(src, i)
			comma, last = -1, '"'
		case c == '/' && i+1 < n && src[i+1] == '/':
			for i < n && src[i] != '\n' && src[i] != '\r' {
				out[i] = ' '
				i++
			}
		case c == '/' && i+1 < n && src[i+1] == '*':
			start := i
			end := -1
			for j := i + 2; j+1 < n; j++ {
				if src[j] == '*' && src[j+1] == '/' {
					end = j + 2
					break
				}
			}
			if end < 0 {
				line, col := LineCol(src, start)
				return nil, fmt.Errorf("line %d, column %d: block comment is not closed with */", line, col)
			}
			for ; i < end; i++ {
				if src[i] != '\n' && src[i] != '\r' {
					out[i] = ' '
				}
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',':
			// A comma right after an opener, a colon or another comma is not a
			// trailing comma but an error, which the JSON parser reports.
			if last != 0 && last != '[' && last != '{' && last != ',' && last != ':' {
				comma = i
			} else {
				comma = -1
			}
			last = ','
			i++
		case c == '}' || c == ']':
			if comma >= 0 {
				out[comma] = ' '
			}
			comma, last = -1, c
			i++
		default:
			comma, last = -1, c
			i++
		}
	}
	return out, nil
}

// skipString returns the offset just past the string starting at src[i]
// (a '"'). A string ends at its closing quote; an unterminated one ends at
// the line break or the end of input, where the JSON parser will complain.
func skipString(src []byte, i int) int {
	n := len(src)
	for j := i + 1; j < n; j++ {
		switch src[j] {
		case '\\':
			j++ // the escaped byte, whatever it is
		case '"':
			return j + 1
		case '\n', '\r':
			return j
		}
	}
	return n
}

// LineCol converts a byte offset of src to a 1-based line and column (in
// bytes), counting \n, \r\n and \r as line breaks.
func LineCol(src []byte, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	line, start := 1, 0
	for i := 0; i < off; i++ {
		switch src[i] {
		case '\n':
			line, start = line+1, i+1
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
			line, start = line+1, i+1
		}
	}
	return line, off - start + 1
}
