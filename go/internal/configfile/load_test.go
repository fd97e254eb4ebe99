package configfile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// layout is a fake machine: a home with a global config dir, a git
// repository with a nested working directory, and the environment.
type layout struct {
	root, home, xdg, repo, work, managed string
	env                                  map[string]string
}

func newLayout(t *testing.T) *layout {
	t.Helper()
	root := t.TempDir()
	l := &layout{
		root:    root,
		home:    filepath.Join(root, "home"),
		xdg:     filepath.Join(root, "xdg"),
		repo:    filepath.Join(root, "src", "repo"),
		managed: filepath.Join(root, "managed"),
		env:     map[string]string{},
	}
	l.work = filepath.Join(l.repo, "pkg", "deep")
	for _, d := range []string{l.home, filepath.Join(l.xdg, "opencode"), filepath.Join(l.repo, ".git"), l.work, l.managed} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	l.env["XDG_CONFIG_HOME"] = l.xdg
	l.env[EnvManagedDirForTests] = l.managed
	return l
}

func (l *layout) write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func (l *layout) load(t *testing.T, file string) (map[string]any, []Source, error) {
	t.Helper()
	cfg, err := Load(Options{Dir: l.work, File: file, Home: l.home,
		Getenv: func(k string) string { return l.env[k] }})
	if err != nil {
		return nil, nil, err
	}
	js, err := jsontree.Marshal(cfg.Tree)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	return m, cfg.Sources, nil
}

// v writes every source with its own value of "v" and a key of its own.
func TestLoadPrecedence(t *testing.T) {
	type file struct{ path, body string }
	cases := []struct {
		name    string
		files   func(l *layout) []file
		env     func(l *layout) map[string]string
		wantV   string
		wantSrc []string // Kind of each source read, in order
	}{
		{
			name: "global files: config.json < opencode.json < opencode.jsonc",
			files: func(l *layout) []file {
				g := filepath.Join(l.xdg, "opencode")
				return []file{{filepath.Join(g, "config.json"), `{"v":"config.json"}`},
					{filepath.Join(g, "opencode.json"), `{"v":"opencode.json"}`},
					{filepath.Join(g, "opencode.jsonc"), `{"v":"opencode.jsonc", // c
					}`}}
			},
			wantV: "opencode.jsonc", wantSrc: []string{"global", "global", "global"},
		},
		{
			name: "global dir falls back to ~/.config",
			files: func(l *layout) []file {
				return []file{{filepath.Join(l.home, ".config", "opencode", "opencode.json"), `{"v":"home"}`}}
			},
			env:   func(l *layout) map[string]string { return map[string]string{"XDG_CONFIG_HOME": ""} },
			wantV: "home", wantSrc: []string{"global"},
		},
		{
			name: "OPENCODE_CONFIG beats global",
			files: func(l *layout) []file {
				return []file{{filepath.Join(l.xdg, "opencode", "opencode.json"), `{"v":"global"}`},
					{filepath.Join(l.root, "custom.json"), `{"v":"custom"}`}}
			},
			env: func(l *layout) map[string]string {
				return map[string]string{"OPENCODE_CONFIG": filepath.Join(l.root, "custom.json")}
			},
			wantV: "custom", wantSrc: []string{"global", "OPENCODE_CONFIG"},
		},
		{
			name: "project files: outer before inner, json before jsonc, not above the git root",
			files: func(l *layout) []file {
				return []file{
					{filepath.Join(l.root, "src", "opencode.json"), `{"v":"above the repo"}`},
					{filepath.Join(l.repo, "opencode.jsonc"), `{"v":"repo jsonc"}`},
					{filepath.Join(l.repo, "pkg", "opencode.jsonc"), `{"v":"pkg jsonc"}`},
					{filepath.Join(l.repo, "pkg", "opencode.json"), `{"v":"pkg json"}`},
					{filepath.Join(l.root, "custom.json"), `{"v":"custom"}`},
				}
			},
			env: func(l *layout) map[string]string {
				return map[string]string{"OPENCODE_CONFIG": filepath.Join(l.root, "custom.json")}
			},
			wantV: "pkg jsonc", wantSrc: []string{"OPENCODE_CONFIG", "project", "project", "project"},
		},
		{
			name: "OPENCODE_DISABLE_PROJECT_CONFIG skips project files and .opencode",
			files: func(l *layout) []file {
				return []file{{filepath.Join(l.xdg, "opencode", "opencode.json"), `{"v":"global"}`},
					{filepath.Join(l.work, "opencode.json"), `{"v":"project"}`},
					{filepath.Join(l.work, ".opencode", "opencode.json"), `{"v":"dot"}`}}
			},
			env:   func(*layout) map[string]string { return map[string]string{"OPENCODE_DISABLE_PROJECT_CONFIG": "TRUE"} },
			wantV: "global", wantSrc: []string{"global"},
		},
		{
			name: ".opencode dirs beat project files; inner first; then ~/.opencode and OPENCODE_CONFIG_DIR",
			files: func(l *layout) []file {
				return []file{
					{filepath.Join(l.work, "opencode.json"), `{"v":"project"}`},
					{filepath.Join(l.work, ".opencode", "opencode.json"), `{"v":"inner dot"}`},
					{filepath.Join(l.repo, ".opencode", "opencode.jsonc"), `{"v":"outer dot"}`},
					{filepath.Join(l.home, ".opencode", "opencode.json"), `{"v":"home dot"}`},
					{filepath.Join(l.root, "cfgdir", "opencode.json"), `{"v":"config dir"}`},
				}
			},
			env: func(l *layout) map[string]string {
				return map[string]string{"OPENCODE_CONFIG_DIR": filepath.Join(l.root, "cfgdir")}
			},
			wantV: "config dir", wantSrc: []string{"project", ".opencode", ".opencode", ".opencode", "OPENCODE_CONFIG_DIR"},
		},
		{
			name: "OPENCODE_CONFIG_CONTENT beats files",
			files: func(l *layout) []file {
				return []file{{filepath.Join(l.work, "opencode.json"), `{"v":"project"}`}}
			},
			env: func(*layout) map[string]string {
				return map[string]string{"OPENCODE_CONFIG_CONTENT": `{"v": "inline", /* jsonc too */}`}
			},
			wantV: "inline", wantSrc: []string{"project", "OPENCODE_CONFIG_CONTENT"},
		},
		{
			name: "managed config beats everything",
			files: func(l *layout) []file {
				return []file{{filepath.Join(l.managed, "opencode.json"), `{"v":"managed"}`}}
			},
			env: func(*layout) map[string]string {
				return map[string]string{"OPENCODE_CONFIG_CONTENT": `{"v":"inline"}`}
			},
			wantV: "managed", wantSrc: []string{"OPENCODE_CONFIG_CONTENT", "managed"},
		},
		{
			name: "outside a git repository the search goes to the filesystem root",
			files: func(l *layout) []file {
				require.NoError(t, os.RemoveAll(filepath.Join(l.repo, ".git")))
				return []file{{filepath.Join(l.root, "src", "opencode.json"), `{"v":"above"}`}}
			},
			wantV: "above", wantSrc: []string{"project"},
		},
		{
			name:  "nothing at all is an empty config",
			files: func(*layout) []file { return nil },
			wantV: "", wantSrc: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			for _, f := range tc.files(l) {
				l.write(t, f.path, f.body)
			}
			if tc.env != nil {
				for k, v := range tc.env(l) {
					l.env[k] = v
				}
			}
			m, src, err := l.load(t, "")
			require.NoError(t, err)
			v, _ := m["v"].(string)
			assert.Equal(t, tc.wantV, v)
			var kinds []string
			for _, s := range src {
				kinds = append(kinds, s.Kind)
			}
			assert.Equal(t, tc.wantSrc, kinds)
		})
	}
}

func TestLoadMergesProviders(t *testing.T) {
	l := newLayout(t)
	l.write(t, filepath.Join(l.xdg, "opencode", "opencode.json"), `{
		"plugin": ["@vymalo/opencode-oauth2"],
		"provider": {"gw": {"name": "Gateway", "options": {"baseURL": "https://gw.test/v1",
			"oauth2": {"issuer": "https://idp.test", "clientId": "global-client", "authFlow": "client_credentials"}}}}
	}`)
	l.write(t, filepath.Join(l.repo, "opencode.jsonc"), `{
		// the project only changes the client
		"plugin": ["other-plugin"],
		"provider": {"gw": {"options": {"oauth2": {"clientId": "{env:CLIENT}", "clientSecret": "{file:secret}",}}}},
	}`)
	l.write(t, filepath.Join(l.repo, "secret"), "p@ss\"word\n")
	l.env["CLIENT"] = "project-client"
	m, _, err := l.load(t, "")
	require.NoError(t, err)
	oauth := m["provider"].(map[string]any)["gw"].(map[string]any)["options"].(map[string]any)["oauth2"].(map[string]any)
	assert.Equal(t, "https://idp.test", oauth["issuer"])
	assert.Equal(t, "project-client", oauth["clientId"])
	assert.Equal(t, `p@ss"word`, oauth["clientSecret"])
	assert.Equal(t, []any{"@vymalo/opencode-oauth2", "other-plugin"}, m["plugin"])
}

func TestLoadConfigFlagIsTheOnlySource(t *testing.T) {
	l := newLayout(t)
	l.write(t, filepath.Join(l.xdg, "opencode", "opencode.json"), `{"v":"global","g":1}`)
	l.env["OPENCODE_CONFIG_CONTENT"] = `{"v":"inline"}`
	l.write(t, filepath.Join(l.root, "only.jsonc"), `{"v": "{env:X}", // c
	}`)
	l.env["X"] = "flag"
	m, src, err := l.load(t, filepath.Join(l.root, "only.jsonc"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"v": "flag"}, m)
	require.Len(t, src, 1)
	assert.Equal(t, "--config", src[0].Kind)
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, l *layout) string // returns --config ("" = search)
		msg   func(l *layout) []string
	}{
		{"--config file missing",
			func(_ *testing.T, l *layout) string { return filepath.Join(l.root, "nope.json") },
			func(*layout) []string { return []string{"nope.json", "no such file"} }},
		{"invalid project file names file, line and column",
			func(t *testing.T, l *layout) string {
				l.write(t, filepath.Join(l.work, "opencode.json"), "{\n  \"a\": 1\n  \"b\": 2\n}")
				return ""
			},
			func(l *layout) []string { return []string{filepath.Join(l.work, "opencode.json"), "line 3, column 3"} }},
		{"unclosed comment",
			func(t *testing.T, l *layout) string {
				l.write(t, filepath.Join(l.xdg, "opencode", "opencode.jsonc"), "{ /* }")
				return ""
			},
			func(*layout) []string { return []string{"opencode.jsonc", "block comment is not closed with */"} }},
		{"bad file reference",
			func(t *testing.T, l *layout) string {
				l.write(t, filepath.Join(l.work, "opencode.json"), `{"a": "{file:missing}"}`)
				return ""
			},
			func(*layout) []string { return []string{"bad file reference", "does not exist"} }},
		{"inline content that is not an object",
			func(_ *testing.T, l *layout) string {
				l.env["OPENCODE_CONFIG_CONTENT"] = `[1]`
				return ""
			},
			func(*layout) []string { return []string{"OPENCODE_CONFIG_CONTENT", "not a JSON object"} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			file := tc.setup(t, l)
			_, _, err := l.load(t, file)
			require.Error(t, err)
			for _, m := range tc.msg(l) {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestLoadSkipsAMissingOpencodeConfigFile(t *testing.T) {
	l := newLayout(t)
	l.env["OPENCODE_CONFIG"] = filepath.Join(l.root, "missing.json")
	_, src, err := l.load(t, "")
	require.NoError(t, err)
	assert.Empty(t, src)
}

func TestGlobalDir(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	assert.Equal(t, filepath.Join("/h", ".config", "opencode"), GlobalDir(get, "/h"))
	env["XDG_CONFIG_HOME"] = "/x"
	assert.Equal(t, filepath.Join("/x", "opencode"), GlobalDir(get, "/h"))
}
