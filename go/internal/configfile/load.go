// Package configfile finds and reads the user's OpenCode configuration the
// way OpenCode 1.18 does, so that the command line sees the same providers
// as the plugin running inside OpenCode: the same files, merged in the same
// order, with the same JSONC dialect and the same {env:...} and {file:...}
// substitution. It reads the files and does not interpret them: package
// config turns the merged document into providers and problems.
//
// Sources, lowest precedence first (a later source wins; objects are
// merged key by key, other values replaced, `plugin` and `instructions`
// lists concatenated):
//
//  1. the global directory, $XDG_CONFIG_HOME/opencode or ~/.config/opencode:
//     config.json, opencode.json, opencode.jsonc;
//  2. the file named by OPENCODE_CONFIG;
//  3. project files, opencode.json then opencode.jsonc in each directory
//     from the git root (the filesystem root outside a repository) down to
//     the current directory; skipped when OPENCODE_DISABLE_PROJECT_CONFIG
//     is set;
//  4. opencode.json and opencode.jsonc in each .opencode directory from the
//     current directory up to the git root, then ~/.opencode, then the
//     directory named by OPENCODE_CONFIG_DIR;
//  5. the inline JSON of OPENCODE_CONFIG_CONTENT;
//  6. the managed (administrator) directory: /etc/opencode on Linux,
//     /Library/Application Support/opencode on macOS,
//     %ProgramData%\opencode on Windows.
//
// Not read: the remote "well-known" and organisation configs OpenCode can
// fetch from the network, and the legacy TOML file. A missing file is
// skipped; an unreadable or invalid one is an error, as it stops OpenCode.
package configfile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

// maxConfigFile bounds one config file.
const maxConfigFile = 8 << 20

// Environment variables OpenCode reads for its config.
const (
	EnvConfig             = "OPENCODE_CONFIG"
	EnvConfigContent      = "OPENCODE_CONFIG_CONTENT"
	EnvConfigDir          = "OPENCODE_CONFIG_DIR"
	EnvDisableProject     = "OPENCODE_DISABLE_PROJECT_CONFIG"
	EnvManagedDirForTests = "OPENCODE_TEST_MANAGED_CONFIG_DIR"
)

// fileFlag is the Kind of Options.File.
const fileFlag = "--config"

// Options say where to look.
type Options struct {
	// Dir is the project directory; "" means the current directory.
	Dir string
	// File, when set, is the only source read (the --config flag); the
	// search and the environment variables are ignored, substitution is not.
	File string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Home is the home directory; "" means os.UserHomeDir().
	Home string
}

// Source is one config source that was read.
type Source struct {
	Kind string // global, OPENCODE_CONFIG, project, .opencode, OPENCODE_CONFIG_DIR, OPENCODE_CONFIG_CONTENT, managed, --config
	Path string // the file, or "OPENCODE_CONFIG_CONTENT"
}

// String is the path and, when different, the kind, e.g.
// "/home/me/.config/opencode/opencode.json (global)".
func (s Source) String() string {
	if s.Path == s.Kind {
		return s.Kind
	}
	return s.Path + " (" + s.Kind + ")"
}

// Config is the merged configuration.
type Config struct {
	Tree    *jsontree.Object // one JSON object, keys in document order
	Sources []Source         // what was read, lowest precedence first
	// Placeholders maps the path of each value that came from {env:...} or
	// {file:...} (as the config package writes problem fields, e.g.
	// "provider.acme.options.baseURL") to those placeholders, so that a
	// problem with such a value can name them. Values whose layer cannot be
	// parsed before substitution are not listed.
	Placeholders map[string][]string
}

// Hide replaces, in a message about field, the value found there when it
// came from an {env:...} or {file:...} placeholder: such values may be
// secrets, so messages name where a value came from, never what it is.
func (c Config) Hide(field, found, msg string) string {
	if len(c.Placeholders[field]) == 0 || found == "" || found == `""` {
		return msg
	}
	return strings.ReplaceAll(msg, found, "(a substituted value, not shown)")
}

// Load finds, reads and merges the configuration.
func Load(o Options) (Config, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Home == "" {
		o.Home, _ = os.UserHomeDir() // "" when unknown
	}
	dir, err := filepath.Abs(o.Dir) // "" is the current directory
	if err != nil {
		return Config{}, fmt.Errorf("find the project directory %q: %w", o.Dir, err)
	}
	l := &loader{getenv: o.Getenv, home: o.Home, result: jsontree.NewObject(), raw: jsontree.NewObject()}
	for _, src := range sources(o, dir) {
		if src.Kind == EnvConfigContent {
			err = l.layer(src, []byte(o.Getenv(EnvConfigContent)), dir)
		} else {
			err = l.file(src)
		}
		if err != nil {
			return Config{}, err
		}
	}
	refs := map[string][]string{}
	placeholders(refs, "", l.raw)
	return Config{Tree: l.result, Sources: l.sources, Placeholders: refs}, nil
}

// sources lists the places to read, lowest precedence first (see the
// package comment); a listed file may not exist.
func sources(o Options, dir string) []Source {
	if o.File != "" {
		return []Source{{Kind: fileFlag, Path: o.File}}
	}
	var out []Source
	in := func(kind, dir string, names ...string) {
		for _, n := range names {
			out = append(out, Source{Kind: kind, Path: filepath.Join(dir, n)})
		}
	}
	in("global", GlobalDir(o.Getenv, o.Home), "config.json", "opencode.json", "opencode.jsonc")
	if f := o.Getenv(EnvConfig); f != "" {
		out = append(out, Source{Kind: EnvConfig, Path: f})
	}
	worktree := gitRoot(dir)
	project := !slices.Contains([]string{"true", "1"}, strings.ToLower(o.Getenv(EnvDisableProject)))
	var dirs []string // the .opencode directories, then OPENCODE_CONFIG_DIR
	if project {
		for _, f := range slices.Backward(up(dir, worktree, "opencode.jsonc", "opencode.json")) {
			out = append(out, Source{Kind: "project", Path: f})
		}
		dirs = up(dir, worktree, ".opencode")
	}
	if o.Home != "" {
		dirs = append(dirs, up(o.Home, o.Home, ".opencode")...)
	}
	extra := o.Getenv(EnvConfigDir)
	if extra != "" {
		dirs = append(dirs, extra)
	}
	for i, d := range dirs {
		kind := ".opencode"
		if d == extra {
			kind = EnvConfigDir
		}
		if slices.Index(dirs, d) == i { // not listed already
			in(kind, d, "opencode.json", "opencode.jsonc")
		}
	}
	if o.Getenv(EnvConfigContent) != "" {
		out = append(out, Source{Kind: EnvConfigContent, Path: EnvConfigContent})
	}
	in("managed", ManagedDir(o.Getenv), "opencode.json", "opencode.jsonc")
	return out
}

// GlobalDir is OpenCode's global config directory:
// $XDG_CONFIG_HOME/opencode, else <home>/.config/opencode (on every OS).
func GlobalDir(getenv func(string) string, home string) string {
	return filepath.Join(cmp.Or(getenv("XDG_CONFIG_HOME"), filepath.Join(home, ".config")), "opencode")
}

// ManagedDir is the directory of administrator-managed config.
func ManagedDir(getenv func(string) string) string {
	if d := getenv(EnvManagedDirForTests); d != "" {
		return d
	}
	switch runtime.GOOS {
	case "darwin":
		return "/Library/Application Support/opencode"
	case "windows":
		return filepath.Join(cmp.Or(getenv("ProgramData"), `C:\ProgramData`), "opencode")
	}
	return "/etc/opencode"
}

// gitRoot is the nearest directory at or above dir holding .git, else the
// filesystem root (OpenCode's worktree outside a repository).
func gitRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil || filepath.Dir(d) == d {
			return d
		}
	}
}

// up lists, from start up to stop (inclusive, or the filesystem root), the
// targets that exist in each directory, in target order per directory.
func up(start, stop string, targets ...string) []string {
	var out []string
	for d := start; ; d = filepath.Dir(d) {
		for _, t := range targets {
			p := filepath.Join(d, t)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
		if d == stop || filepath.Dir(d) == d {
			return out
		}
	}
}

// loader merges the config sources in turn; getenv and home resolve
// {env:...} and {file:~/...} (see substitute).
type loader struct {
	getenv  func(string) string
	home    string
	result  *jsontree.Object
	raw     *jsontree.Object // the layers merged before substitution (see Placeholders)
	sources []Source
}

// file merges one config file; a missing file is skipped, unless --config
// names it.
func (l *loader) file(src Source) error {
	data, err := safefile.Read(src.Path, maxConfigFile)
	if errors.Is(err, fs.ErrNotExist) && src.Kind != fileFlag {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read OpenCode config %s: %w", src.Path, err)
	}
	abs, err := filepath.Abs(src.Path)
	if err != nil {
		abs = src.Path
	}
	return l.layer(src, data, filepath.Dir(abs))
}

// layer substitutes, parses and merges one source whose relative
// {file:...} references are resolved against dir.
func (l *loader) layer(src Source, data []byte, dir string) error {
	text, err := l.substitute(data, src.Path, dir)
	if err != nil {
		return err
	}
	obj, err := parseDoc(text)
	if err != nil {
		return fmt.Errorf("OpenCode config %s: %w", src.Path, err)
	}
	l.result = mergeLayer(l.result, obj)
	raw := obj
	if placeholderRef.Match(data) {
		// Parsed again before substitution to see where the placeholders
		// were; one outside a string (e.g. a bare number) may not parse.
		if r, err := parseDoc(data); err == nil {
			raw = r
		}
	}
	l.raw = mergeLayer(l.raw, raw)
	l.sources = append(l.sources, src)
	return nil
}

// placeholderRef finds {env:NAME} and {file:PATH} in a config text.
var placeholderRef = regexp.MustCompile(`\{(?:env|file):[^}]+\}`)

// placeholders maps, in out, the config path of each string value in v (at
// path) that held a {env:...} or {file:...} before substitution to those
// placeholders, e.g. "provider.acme.options.baseURL" → ["{env:GATEWAY_URL}"].
// Paths are written as the config package writes problem fields
// (config.JoinPath, config.IndexPath).
func placeholders(out map[string][]string, path string, v any) {
	switch t := v.(type) {
	case *jsontree.Object:
		for _, k := range t.Keys() {
			v, _ := t.Get(k)
			placeholders(out, config.JoinPath(path, k), v)
		}
	case []any:
		for i, e := range t {
			placeholders(out, config.IndexPath(path, i), e)
		}
	case string:
		if refs := placeholderRef.FindAllString(t, -1); len(refs) > 0 {
			out[path] = refs
		}
	}
}

// merge returns dst deep-merged with src the way OpenCode merges its config
// layers (remeda's mergeDeep): when both are objects, keys are merged
// recursively, src winning; otherwise src replaces dst (arrays included).
// Neither argument is modified.
func merge(dst, src any) any {
	d, ok1 := dst.(*jsontree.Object)
	s, ok2 := src.(*jsontree.Object)
	if !ok1 || !ok2 {
		return src
	}
	out := d.Clone()
	for _, k := range s.Keys() {
		v, _ := s.Get(k)
		prev, _ := out.Get(k) // nil when absent: then v is taken as is
		out.Set(k, merge(prev, v))
	}
	return out
}

// mergeLayer merges one config layer over the result so far, with
// OpenCode's exceptions at the top level: `instructions` and `plugin`
// lists are concatenated without duplicates instead of replaced.
func mergeLayer(dst, src *jsontree.Object) *jsontree.Object {
	out := merge(dst, src).(*jsontree.Object)
	for _, k := range []string{"instructions", "plugin"} {
		va, _ := dst.Get(k)
		vb, _ := src.Get(k)
		a, ok1 := va.([]any)
		b, ok2 := vb.([]any)
		if !ok1 || !ok2 {
			continue
		}
		seen, both := map[string]bool{}, []any{}
		for _, v := range slices.Concat(a, b) {
			js, _ := jsontree.Marshal(v) // a decoded tree always encodes
			if key := string(js); !seen[key] {
				seen[key] = true
				both = append(both, v)
			}
		}
		out.Set(k, both)
	}
	return out
}

// maxFileRef bounds a file read by {file:...}.
const maxFileRef = 4 << 20

var (
	envRef = regexp.MustCompile(`\{env:[^}]+\}`)
	// fileRef finds {file:PATH}, and whole lines whose text starts with //
	// (the references on them are left alone).
	fileRef = regexp.MustCompile(`(?m)^[ \t\r\v\f]*//.*$|\{file:[^}]+\}`)
)

// substitute applies OpenCode's variable substitution to the text of one
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
func (l *loader) substitute(text []byte, source, dir string) ([]byte, error) {
	text = envRef.ReplaceAllFunc(text, func(m []byte) []byte {
		return []byte(l.getenv(string(m[len("{env:") : len(m)-1])))
	})
	var err error
	text = fileRef.ReplaceAllFunc(text, func(m []byte) []byte {
		if err != nil || !bytes.HasPrefix(m, []byte("{file:")) {
			return m // a commented line, or after an error
		}
		var content []byte
		content, err = l.readRef(string(m), source, dir)
		return content
	})
	return text, err
}

// readRef reads the file of a {file:...} token and returns its trimmed
// content escaped for the inside of a JSON string.
func (l *loader) readRef(token, source, dir string) ([]byte, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(token, "{file:"), "}")
	if strings.HasPrefix(p, "~/") {
		if l.home == "" {
			return nil, fmt.Errorf("%s: bad file reference %q: no home directory is known", source, token)
		}
		p = filepath.Join(l.home, p[2:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	data, err := safefile.Read(p, maxFileRef)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%s does not exist", p)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: bad file reference %q: %w", source, token, err)
	}
	// Encoding a string cannot fail (invalid UTF-8 becomes U+FFFD).
	b, _ := jsontree.Marshal(strings.TrimSpace(string(data)))
	return b[1 : len(b)-1], nil // the inside of the JSON string
}

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
		reword := strings.NewReplacer("hujson: ", "", "parsing comment: unexpected EOF", "a block comment is not closed with */")
		return nil, errors.New(reword.Replace(err.Error()))
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
	return err == nil && ast.Value.Kind() == 'n'
}
