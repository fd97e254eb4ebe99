package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

// maxFileRef bounds a file read by {file:...}.
const maxFileRef = 4 << 20

var (
	envRef  = regexp.MustCompile(`\{env:[^}]+\}`)
	fileRef = regexp.MustCompile(`\{file:[^}]+\}`)
)

// Substituter resolves OpenCode's config variables.
type Substituter struct {
	Getenv func(string) string // nil: no variable is set
	Home   string              // for {file:~/...}
}

// Substitute applies OpenCode's variable substitution to the text of one
// config source, before it is parsed, exactly as OpenCode 1.18 does:
//
//   - {env:NAME} becomes the variable's value as is, or nothing when it is
//     unset or empty. The value is not escaped (a value with a `"` breaks
//     the document in OpenCode too); it is replaced everywhere, comments
//     included.
//   - {file:PATH} becomes the file's content with surrounding white space
//     trimmed, escaped for use inside a JSON string. PATH is relative to
//     dir (the directory of the config file), `~/` is the home directory.
//     A missing or unreadable file is an error. A reference on a line whose
//     text before it starts with `//` is left alone.
//
// source names the config source in errors. File contents never appear in
// an error.
func (s Substituter) Substitute(text []byte, source, dir string) ([]byte, error) {
	text = envRef.ReplaceAllFunc(text, func(m []byte) []byte {
		if s.Getenv == nil {
			return nil
		}
		return []byte(s.Getenv(string(m[len("{env:") : len(m)-1])))
	})
	locs := fileRef.FindAllIndex(text, -1)
	if len(locs) == 0 {
		return text, nil
	}
	var out bytes.Buffer
	cursor := 0
	for _, loc := range locs {
		start, end := loc[0], loc[1]
		out.Write(text[cursor:start])
		cursor = end
		token := text[start:end]
		lineStart := bytes.LastIndexByte(text[:start], '\n') + 1
		if bytes.HasPrefix(bytes.TrimLeft(text[lineStart:start], " \t\r\v\f"), []byte("//")) {
			out.Write(token)
			continue
		}
		content, err := s.readRef(string(token), source, dir)
		if err != nil {
			return nil, err
		}
		out.Write(content)
	}
	out.Write(text[cursor:])
	return out.Bytes(), nil
}

// readRef reads the file of a {file:...} token and returns its trimmed
// content escaped for the inside of a JSON string.
func (s Substituter) readRef(token, source, dir string) ([]byte, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(token, "{file:"), "}")
	if strings.HasPrefix(p, "~/") {
		if s.Home == "" {
			return nil, fmt.Errorf("%s: bad file reference %q: no home directory is known", source, token)
		}
		p = filepath.Join(s.Home, p[2:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	data, err := safefile.Read(p, maxFileRef)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: bad file reference %q: %s does not exist", source, token, p)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: bad file reference %q: %w", source, token, err)
	}
	// Encoding a string cannot fail (invalid UTF-8 becomes U+FFFD).
	b, _ := jsontree.Marshal(strings.TrimSpace(string(data)))
	return b[1 : len(b)-1], nil // the inside of the JSON string
}
