//go:build integration

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// The real Linux Secret Service: Debian's gnome-keyring, unlocked in a
// D-Bus session of its own (dbus-run-session), as on a desktop.

// keyringHelperEnv makes this test binary, run inside the session, do the
// 16 KB round trip through the store's keychain instead of the tests.
const keyringHelperEnv = "OPENCODE_OAUTH2_TEST_KEYRING_ROUNDTRIP"

func init() {
	if os.Getenv(keyringHelperEnv) == "" {
		return
	}
	k := store.Keyring{Service: "opencode-oauth2-test"}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	for i := range data {
		data[i] ^= byte(i * 31) // little to compress
	}
	err := k.Write("roundtrip", data)
	var got []byte
	if err == nil {
		got, err = k.Read("roundtrip")
	}
	if err == nil && !bytes.Equal(got, data) {
		err = errors.New("the data read back differs")
	}
	if err == nil {
		err = k.Remove("roundtrip")
	}
	if err != nil {
		fmt.Println("roundtrip failed:", err)
		os.Exit(1)
	}
	fmt.Println("roundtrip ok", len(data))
	os.Exit(0)
}

// inKeyringSession runs script (sh) in a new D-Bus session with an unlocked
// gnome-keyring; env is the user's environment.
func inKeyringSession(t *testing.T, env []string, script string) (string, int) {
	t.Helper()
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon", "secret-tool"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is missing: task deps:keyring installs Debian's dbus, gnome-keyring and libsecret-tools", tool)
	}
	runtime := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dbus-run-session", "--", "sh", "-c",
		`echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; `+script)
	cmd.Env = append(env, "XDG_RUNTIME_DIR="+runtime)
	// stdout only: the session's daemons write to stderr at will.
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String() + stderrOfCommands(stderr.String())
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_.-]+`)
	t.Logf("keyring session:\n%s\nstderr:\n%s", jwt.ReplaceAllString(stdout.String(), "<token>"), stderr.String())
	return out, code
}

// stderrOfCommands keeps the lines of stderr the commands wrote (the
// command line's messages), not the D-Bus daemons' own.
func stderrOfCommands(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "dbus-daemon[") && !strings.Contains(l, "discover_other_daemon") && !strings.Contains(l, "gnome-keyring") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestKeyringStorageWithTheRealSecretService(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	cc := ccProvider(as, "http://127.0.0.1:9/v1")
	cc["options"].(map[string]any)["oauth2"].(map[string]any)["tokenStorage"] = "keyring"
	e.setConfig(opencodeConfig(map[string]any{"cc": cc}))
	bin, err := buildOnce()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(e.home, ".cache"), 0o700))
	require.NoError(t, as.ResetStats())

	// Two processes: the second uses the token the first stored, without a token request.
	out, code := inKeyringSession(t, e.environ(), fmt.Sprintf(
		`%[1]s token cc && %[1]s token cc && %[1]s status --json cc && secret-tool search --all service opencode-oauth2 2>&1 | grep -c '^label'`, bin))
	require.Equal(t, 0, code, out)
	// (a daemon may print on the same stream without a line break)
	tokens := regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`).FindAllString(out, -1)
	require.Len(t, tokens, 2, out)
	assert.Equal(t, tokens[0], tokens[1], "the second process used the stored token")
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Equal(t, 1, stats["total"], "one token request for both processes: %v", stats)
	assert.Contains(t, out, `"storage": "keyring"`)

	// No file of the user holds the token's bytes (the keychain's own file is encrypted).
	for _, root := range []string{e.home, e.xdg, e.cache} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(p)
				assert.NotContains(t, string(data), tokens[0][len(tokens[0])-40:], "%s holds the token", p)
			}
			return nil
		})
	}

	// logout removes it from the keychain.
	out, code = inKeyringSession(t, e.environ(), fmt.Sprintf(
		`%[1]s token cc >/dev/null && %[1]s logout cc && echo items: $(secret-tool search --all service opencode-oauth2 2>&1 | grep -c '^label')`, bin))
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "deleted the cached tokens")
	assert.Contains(t, out, "items: 0")

	// 16 KB through the real Secret Service.
	self, err := os.Executable()
	require.NoError(t, err)
	out, code = inKeyringSession(t, append(e.environ(), keyringHelperEnv+"=1"), self)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "roundtrip ok 16384")
}

// TestKeyringStorageWithoutASecretService: keyring fails clearly, naming
// the provider and the way out; auto falls back to the file with a notice.
func TestKeyringStorageWithoutASecretService(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.extra = append(e.extra, "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	for _, storage := range []string{"keyring", "auto"} {
		cc := ccProvider(as, "http://127.0.0.1:9/v1")
		cc["options"].(map[string]any)["oauth2"].(map[string]any)["tokenStorage"] = storage
		e.setConfig(opencodeConfig(map[string]any{"cc": cc}))
		r := e.run("token", "cc")
		if storage == "keyring" {
			assert.Equal(t, exitConfig, r.code, r.stderr)
			assert.Contains(t, r.stderr, `provider "cc": tokenStorage is "keyring", but no keychain answers`)
			assert.Contains(t, r.stderr, `set tokenStorage to "auto" or "file"`)
			continue
		}
		assert.Equal(t, exitOK, r.code, r.stderr)
		st := e.run("status", "--json", "cc")
		assert.Contains(t, st.stdout, `"storage": "file"`)
	}
}
