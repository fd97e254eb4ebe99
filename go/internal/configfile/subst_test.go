package configfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubstitute(t *testing.T) {
	dir := t.TempDir()
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("  s3cr\"et\\x\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, "id.txt"), []byte("client-1\n"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "multi.txt"), []byte("line1\nline2\t<&>"), 0o600))
	env := map[string]string{"ISSUER": "https://idp.test", "EMPTY": "", "QUOTE": `a"b`}
	s := &loader{getenv: func(k string) string { return env[k] }, home: home}

	cases := []struct {
		name, in, want string
	}{
		{"env", `{"issuer": "{env:ISSUER}"}`, `{"issuer": "https://idp.test"}`},
		{"env unset is empty", `{"a": "{env:NOPE}"}`, `{"a": ""}`},
		{"env empty", `{"a": "x{env:EMPTY}y"}`, `{"a": "xy"}`},
		{"env is not escaped", `{"a": "{env:QUOTE}"}`, `{"a": "a"b"}`},
		{"env in a comment too", "// {env:ISSUER}\n{}", "// https://idp.test\n{}"},
		{"env twice", `"{env:ISSUER}{env:ISSUER}"`, `"https://idp.testhttps://idp.test"`},
		{"file relative, trimmed and escaped", `{"s": "{file:secret.txt}"}`, `{"s": "s3cr\"et\\x"}`},
		{"file in subdirectory", `{"s": "{file:sub/multi.txt}"}`, `{"s": "line1\nline2\t<&>"}`},
		{"file absolute", `{"s": "{file:` + filepath.Join(dir, "secret.txt") + `}"}`, `{"s": "s3cr\"et\\x"}`},
		{"file from home", `{"s": "{file:~/id.txt}"}`, `{"s": "client-1"}`},
		{"file on a commented line is left alone", "{\n  // \"s\": \"{file:missing.txt}\"\n}", "{\n  // \"s\": \"{file:missing.txt}\"\n}"},
		{"file after code on the line is read", `{"a": 1} // {file:secret.txt}`, `{"a": 1} // s3cr\"et\\x`},
		{"env then file", `"{file:{env:NOPE}secret.txt}"`, `"s3cr\"et\\x"`},
		{"no references", `{"a": "{envy:X}"}`, `{"a": "{envy:X}"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.substitute([]byte(tc.in), "test.json", dir)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestSubstituteErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "adir"), 0o700))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	s := &loader{}
	cases := []struct {
		name, in, msg string
	}{
		{"missing file", `"{file:nope.txt}"`, `bad file reference "{file:nope.txt}": ` + filepath.Join(dir, "nope.txt") + " does not exist"},
		{"directory", `"{file:adir}"`, "is not a regular file (a directory)"},
		{"a FIFO nobody writes to", `"{file:fifo}"`, "is not a regular file (a FIFO)"},
		{"an endless device", `"{file:/dev/zero}"`, "is not a regular file (a character device)"},
		{"home unknown", `"{file:~/x}"`, "no home directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.substitute([]byte(tc.in), "cfg.json", dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "cfg.json")
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestSubstituteNeverPutsFileContentInErrors(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, maxFileRef+1)
	for i := range big {
		big[i] = 'z'
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big"), big, 0o600))
	_, err := (&loader{}).substitute([]byte(`"{file:big}"`), "cfg", dir)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "zzzz")
}
