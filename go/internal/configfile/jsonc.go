package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// maxDepth bounds the nesting of a config document (no config is this deep;
// the bound keeps hostile input from exhausting the stack).
const maxDepth = 256

// parseDoc reads one document in the JSON dialect OpenCode reads: JSON
// plus `//` and `/* */` comments and trailing commas (JSONC, read here with
// hujson). The top level must be an object; a document of only white space
// and comments is an empty object. Errors give the line and column in text.
func parseDoc(text []byte) (*jsontree.Object, error) {
	if rest, ok := bytes.CutPrefix(text, []byte("\xEF\xBB\xBF")); ok {
		// Blanked rather than cut, so that columns on the first line match
		// what an editor shows.
		text = append([]byte("   "), rest...)
	}
	// A line break at the end lets a last line comment end there, as
	// OpenCode's reader allows; it moves no offset.
	text = append(text[:len(text):len(text)], '\n')
	// hujson parses recursively: the depth is checked before it runs, so that
	// brackets nested millions deep cannot exhaust the stack.
	if nesting(text) > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	ast, err := hujson.Parse(text)
	if err != nil {
		if onlyComments(text) {
			return jsontree.NewObject(), nil
		}
		msg := strings.TrimPrefix(err.Error(), "hujson: ")
		msg = strings.Replace(msg, "parsing comment: unexpected EOF", "a block comment is not closed with */", 1)
		return nil, errors.New(msg)
	}
	ast.Standardize() // comments and trailing commas become spaces
	v, err := jsontree.Decode(ast.Pack(), maxDepth)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*jsontree.Object)
	if !ok {
		return nil, errors.New("the top level is not a JSON object")
	}
	return obj, nil
}

// nesting is the deepest nesting of [ and { in a JSONC text, outside strings
// and comments (an unterminated string or comment ends the count).
func nesting(text []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			end := bytes.Index(text[i+2:], []byte("*/"))
			if end < 0 {
				return deepest
			}
			i += end + 3
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// onlyComments reports whether text holds nothing but white space and
// comments: then a value placed after it is the whole document.
func onlyComments(text []byte) bool {
	ast, err := hujson.Parse(append(append([]byte(nil), text...), "\nnull"...))
	if err != nil {
		return false
	}
	lit, ok := ast.Value.(hujson.Literal)
	return ok && lit.Kind() == 'n'
}
