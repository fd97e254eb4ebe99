package store

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModelListCannotCostTheLogin: a gateway's model list once shared the
// state file with the tokens, so a large list made that file exceed its
// read bound and the next run said "not logged in". Models live in their
// own file, with their own bound: however large or broken that file is,
// the token stays; token writes never carry models.
func TestModelListCannotCostTheLogin(t *testing.T) {
	s, logs := open(t)
	e := s.Entry("p", "k")
	require.NoError(t, e.Save(State{Token: &Token{AccessToken: "at", RefreshToken: "rt"}}))

	huge := json.RawMessage(`[{"id":"` + strings.Repeat("m", maxModelsFile) + `"}]`)
	err := e.SaveModels(huge, time.Now(), "")
	require.Error(t, err, "a list over the models file's bound is refused")
	small := json.RawMessage(`[{"id":"a"},{"id":"b"}]`)
	require.NoError(t, e.SaveModels(small, time.Now(), ""))

	st := e.Load()
	require.NotNil(t, st.Token)
	assert.Equal(t, "rt", st.Token.RefreshToken)
	assert.JSONEq(t, string(small), string(st.Models))

	creds, err := os.ReadFile(e.Path())
	require.NoError(t, err)
	assert.NotContains(t, string(creds), `"models"`, "the credentials file holds no models")
	assert.NotContains(t, string(creds), `lastSyncAt`)

	// A token write after a model sync still carries no models.
	_, err = e.Update(context.Background(), func(st *State) error {
		st.Token.AccessToken = "at2"
		return nil
	})
	require.NoError(t, err)
	creds, err = os.ReadFile(e.Path())
	require.NoError(t, err)
	assert.NotContains(t, string(creds), `"models"`)

	// A models file that is broken or too large costs the models only.
	require.NoError(t, os.WriteFile(e.modelsPath, []byte(`{"version":1,`), 0o600))
	st = e.Load()
	require.NotNil(t, st.Token, "the login survives a broken models file")
	assert.Equal(t, "at2", st.Token.AccessToken)
	assert.Empty(t, st.Models)
	assert.NotContains(t, logs.String(), "at2")
}

// TestOldStateFileModelsAreMigrated: a state file written by an earlier
// version holds the models beside the token; they are read once, moved to
// the models file, and the next token write leaves them out.
func TestOldStateFileModelsAreMigrated(t *testing.T) {
	s, _ := open(t)
	e := s.Entry("p", "k")
	old := `{"version":1,"providerID":"p","key":"k","token":{"accessToken":"at","refreshToken":"rt"},` +
		`"models":[{"id":"legacy"}],"lastSyncAt":"2026-01-02T03:04:05Z","lastError":"boom"}`
	require.NoError(t, os.WriteFile(e.Path(), []byte(old), 0o600))

	st := e.Load()
	require.NotNil(t, st.Token)
	assert.JSONEq(t, `[{"id":"legacy"}]`, string(st.Models))
	assert.Equal(t, "boom", st.LastError)
	_, err := os.Stat(e.modelsPath)
	require.NoError(t, err, "the models were written to their own file")

	require.NoError(t, e.Save(st))
	creds, err := os.ReadFile(e.Path())
	require.NoError(t, err)
	assert.NotContains(t, string(creds), "legacy")
	again := e.Load()
	assert.JSONEq(t, `[{"id":"legacy"}]`, string(again.Models))
	assert.Equal(t, "rt", again.Token.RefreshToken)
}

// TestStoreWithoutADirectoryKeepsStateInMemory: when no cache directory is
// usable the store keeps every state in memory for this process: nothing
// is written anywhere (no token left behind in a temporary directory),
// locks still serialise, and reads see earlier writes.
func TestStoreWithoutADirectoryKeepsStateInMemory(t *testing.T) {
	s := Memory(nil)
	assert.Empty(t, s.Dir())
	e := s.Entry("p", "k")
	assert.Empty(t, e.Path())
	assert.Nil(t, e.Load().Token)
	require.NoError(t, e.Save(State{Token: &Token{AccessToken: "at"}}))
	require.NoError(t, e.SaveModels(json.RawMessage(`[{"id":"m"}]`), time.Now(), ""))
	st := s.Entry("p", "k").Load()
	require.NotNil(t, st.Token)
	assert.Equal(t, "at", st.Token.AccessToken)
	assert.JSONEq(t, `[{"id":"m"}]`, string(st.Models))

	unlock, err := e.Lock(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Entry("p", "k").Lock(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	unlock()
	_, err = e.Update(context.Background(), func(s *State) error { s.Token = nil; return nil })
	require.NoError(t, err)
	assert.Nil(t, e.Load().Token)
	assert.JSONEq(t, `[{"id":"m"}]`, string(e.Load().Models), "the models stay")
}
