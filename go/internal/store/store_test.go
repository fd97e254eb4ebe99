package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T) (*Store, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s, err := Open(filepath.Join(t.TempDir(), "cache"), slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	return s, &logs
}

func TestSaveLoadAndPermissions(t *testing.T) {
	s, _ := open(t)
	e := s.Entry("acme/prod", "0123456789abcdef0123")
	assert.Regexp(t, `^acme_prod~[0-9a-f]{8}-0123456789abcdef\.json$`, filepath.Base(e.Path()))
	assert.Equal(t, State{Version: Version, ProviderID: "acme/prod", Key: "0123456789abcdef0123"}, e.Load())

	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, e.Save(State{Token: &Token{AccessToken: "at", RefreshToken: "rt", ExpiresAt: exp}}))
	got := e.Load()
	require.NotNil(t, got.Token)
	assert.Equal(t, "rt", got.Token.RefreshToken)
	assert.True(t, exp.Equal(got.Token.ExpiresAt))

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(e.Path())
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		di, err := os.Stat(s.Dir())
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(s.Dir(), "*.tmp"))
	assert.Empty(t, leftovers)
}

func TestInvalidFilesAreSetAside(t *testing.T) {
	tests := []struct {
		name    string
		content string
		reason  string
	}{
		{"corrupt", `{"version":1,"providerID":`, "not valid JSON"},
		{"truncated to nothing", ``, "not valid JSON"},
		{"future version", `{"version":99,"providerID":"p","key":"k"}`, "newer version"},
		{"no version", `{"providerID":"p","key":"k"}`, "no format version"},
		{"foreign", `{"version":1,"providerID":"other","key":"k"}`, "another provider"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := open(t)
			e := s.Entry("p", "k")
			require.NoError(t, os.WriteFile(e.Path(), []byte(tc.content), 0o600))
			st := e.Load()
			assert.Nil(t, st.Token)
			assert.Contains(t, logs.String(), tc.reason)
			_, err := os.Stat(e.Path())
			assert.True(t, os.IsNotExist(err), "the invalid file was moved away")
			aside, _ := filepath.Glob(e.Path() + ".invalid-*")
			assert.Len(t, aside, 1)
			require.NoError(t, e.Save(State{Token: &Token{AccessToken: "new"}}), "a new file can be written after")
		})
	}
}

func TestLooseModeIsTightened(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes are not meaningful on Windows")
	}
	s, _ := open(t)
	e := s.Entry("p", "k")
	require.NoError(t, e.Save(State{Token: &Token{AccessToken: "at"}}))
	require.NoError(t, os.Chmod(e.Path(), 0o644))
	require.NotNil(t, e.Load().Token)
	fi, err := os.Stat(e.Path())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestUpdateIsSerialisedAcrossEntries(t *testing.T) {
	s, _ := open(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := s.Entry("p", "k") // separate entries, separate lock file handles
			_, err := e.Update(context.Background(), func(st *State) error {
				if st.Token == nil {
					st.Token = &Token{AccessToken: "at"}
				}
				st.Token.Scope += "x"
				return nil
			})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Len(t, s.Entry("p", "k").Load().Token.Scope, 20, "no update was lost")
}

func TestLockHonoursTheContext(t *testing.T) {
	s, _ := open(t)
	e := s.Entry("p", "k")
	unlock, err := e.Lock(context.Background())
	require.NoError(t, err)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Entry("p", "k").Lock(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestUnwritableDirectory(t *testing.T) {
	// Root ignores permission bits, so the directory is replaced by a file:
	// every write fails the way a read-only or full disk makes it fail.
	s, _ := open(t)
	require.NoError(t, os.RemoveAll(s.Dir()))
	require.NoError(t, os.WriteFile(s.Dir(), nil, 0o600))
	e := s.Entry("p", "k")
	require.Error(t, e.Save(State{}))
	_, err := e.Update(context.Background(), func(*State) error { return nil })
	require.Error(t, err)
	assert.Equal(t, State{Version: Version, ProviderID: "p", Key: "k"}, e.Load(), "reads degrade to an empty state")
}
