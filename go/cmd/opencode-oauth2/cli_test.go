package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

type usageCase struct {
	name   string
	args   []string
	code   int
	stdout []string
	stderr []string
}

func TestRunUsage(t *testing.T) {
	cases := []usageCase{
		{"no arguments", nil, exitUsage, nil, []string{"Usage:"}},
		{"help", []string{"help"}, exitOK, []string{"login <provider>", "doctor [provider...]", "Exit codes:", "3  login required"}, nil},
		{"--help", []string{"--help"}, exitOK, []string{"Commands for people and CI"}, nil},
		{"unknown command", []string{"frob"}, exitUsage, nil, []string{`unknown command "frob"`}},
		{"version", []string{"version"}, exitOK, []string{"dev"}, nil},
	}
	for _, name := range []string{"login", "logout", "status", "token", "models", "doctor"} {
		cases = append(cases,
			usageCase{name + " --help", []string{name, "--help"}, exitOK, []string{"Usage: opencode-oauth2 " + name, "--config file", "Exit codes:"}, nil},
			usageCase{name + " -h after an argument", []string{name, "x", "-h"}, exitOK, []string{"Usage: opencode-oauth2 " + name}, nil},
			usageCase{name + " bad flag", []string{name, "--nope"}, exitUsage, nil, []string{"flag provided but not defined: -nope", "Usage: opencode-oauth2 " + name}},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytesBuffer
			code := run(tc.args, strings.NewReader(""), &out, &errOut)
			assert.Equal(t, tc.code, code)
			for _, s := range tc.stdout {
				assert.Contains(t, out.String(), s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, errOut.String(), s)
			}
			if tc.stdout == nil {
				assert.Empty(t, out.String(), "usage errors go to stderr")
			}
		})
	}
}

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args       []string
		positional []string
		json, all  bool
	}{
		{[]string{"a"}, []string{"a"}, false, false},
		{[]string{"--json", "a"}, []string{"a"}, true, false},
		{[]string{"a", "--json"}, []string{"a"}, true, false},
		{[]string{"a", "--json", "b", "-all"}, []string{"a", "b"}, true, true},
		{[]string{"a", "--", "--json"}, []string{"a", "--json"}, false, false},
		{[]string{"--", "-x"}, []string{"-x"}, false, false},
		{nil, nil, false, false},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			j := fs.Bool("json", false, "")
			a := fs.Bool("all", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			require.NoError(t, err)
			assert.Equal(t, tc.positional, pos)
			assert.Equal(t, tc.json, *j)
			assert.Equal(t, tc.all, *a)
		})
	}
}

func jwt(t *testing.T, claims map[string]any) secret.String {
	t.Helper()
	b, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	return secret.New(enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(b) + ".c2ln")
}

func TestIdentityOf(t *testing.T) {
	cases := []struct {
		name string
		tok  secret.String
		want string
		ok   bool
	}{
		{"email wins", jwt(t, map[string]any{"sub": "u1", "email": "a@b.test", "name": "A"}), "a@b.test", true},
		{"user name", jwt(t, map[string]any{"sub": "u1", "preferred_username": "alice"}), "alice", true},
		{"subject only", jwt(t, map[string]any{"sub": "u1"}), "u1", true},
		{"control characters are neutralised", jwt(t, map[string]any{"sub": "a\x1b[31mb"}), "a [31mb", true},
		{"no identity claims", jwt(t, map[string]any{"aud": "x"}), "", false},
		{"not a JWT", secret.New("opaque-token"), "", false},
		{"bad base64", secret.New("a.!!!.c"), "", false},
		{"payload not an object", secret.New("a." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c"), "", false},
		{"empty", secret.String{}, "", false},
		{"too large", secret.New(strings.Repeat("a", maxJWT+1)), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := identityOf(tc.tok)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, id.String())
		})
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.Local)
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(90 * time.Second), "in 1m30s (12:01:30)"},
		{now.Add(-2 * time.Hour), "2h0m0s ago (10:00:00)"},
		{now.Add(48 * time.Hour), "in 48h0m0s (2026-05-03 12:00:00)"},
		{now, "now (12:00:00)"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, when(tc.t, now))
	}
}

func TestExitCodeOfTokenErrors(t *testing.T) {
	assert.Equal(t, exitLoginRequired, tokenExitCode(tokens.ErrLoginRequired))
	assert.Equal(t, exitLoginRequired, tokenExitCode(tokens.ErrInvalidGrant))
	assert.Equal(t, exitConfig, tokenExitCode(tokens.ErrInvalidClient))
	assert.Equal(t, exitFailure, tokenExitCode(tokens.ErrTransient))
}

func TestLineHandlerRedactsSecrets(t *testing.T) {
	var buf bytesBuffer
	log := slog.New(newLineHandler(&buf, slog.LevelInfo)).With("provider", "gw")
	log.Debug("hidden")
	log.Warn("token refreshed", "token", secret.New("s3cr3t-value"), "n", 2)
	assert.Equal(t, "warning: token refreshed (provider=gw, token="+secret.Redacted+", n=2)\n", buf.String())
}

func TestDoctorReportExitCode(t *testing.T) {
	r := &report{}
	r.add("a", "x", statusOK, "", "")
	r.add("a", "y", statusWarn, "", "")
	assert.Equal(t, exitOK, r.exitCode())
	r.add("b", "z", statusFail, "", "")
	assert.Equal(t, exitFailure, r.exitCode())
	r.add("a", "w", statusFail, "", "").Config = true
	assert.Equal(t, exitConfig, r.exitCode())
	r.group()
	var order []string
	for _, ch := range r.Checks {
		order = append(order, ch.Name)
	}
	assert.Equal(t, []string{"x", "y", "w", "z"}, order, "grouped by section, stable")
}

func TestCheckCacheDir(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T) string
		status map[string]string // check name → status
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			map[string]string{"directory": statusOK}},
		{"private and writable", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "c")
			require.NoError(t, os.Mkdir(d, 0o700))
			return d
		}, map[string]string{"directory": statusOK}},
		{"too open", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "c")
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, "gw-abc.json"), []byte("{}"), 0o644))
			return d
		}, map[string]string{"permissions": statusWarn, "files": statusWarn, "directory": statusOK}},
		{"a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "f")
			require.NoError(t, os.WriteFile(f, nil, 0o600))
			return f
		}, map[string]string{"directory": statusFail}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			r := &report{}
			checkCacheDir(r, dir)
			got := map[string]string{}
			for _, ch := range r.Checks {
				got[ch.Name] = ch.Status
				assert.Equal(t, "cache", ch.Section)
			}
			assert.Equal(t, tc.status, got)
			left, _ := os.ReadDir(dir)
			for _, e := range left {
				assert.False(t, strings.HasPrefix(e.Name(), ".doctor-"), "the probe file is removed")
			}
		})
	}
}
