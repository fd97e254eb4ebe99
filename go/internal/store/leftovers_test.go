package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIDsThatSanitizeAlikeNeverShareAFile: ids that differ only in
// characters a file name cannot hold get files of their own.
func TestIDsThatSanitizeAlikeNeverShareAFile(t *testing.T) {
	s, _ := open(t)
	seen := map[string]string{}
	for _, id := range []string{"team/llm", "team:llm", "team_llm", "café", "cafè", "caf_"} {
		path := s.Entry(id, "samekey").Path()
		if other, ok := seen[path]; ok {
			t.Fatalf("%q and %q share %s", id, other, path)
		}
		seen[path] = id
	}
}

// TestLeftoversAreEveryFileOfTheProvider: files of the provider under other
// cache keys, set aside, or named as an earlier version named them are
// found; the entry's own file, other providers' files (also those whose
// names start alike) and models files are not.
func TestLeftoversAreEveryFileOfTheProvider(t *testing.T) {
	s, _ := open(t)
	cur := s.Entry("team/llm", "key-now")
	require.NoError(t, cur.Save(State{Token: &Token{AccessToken: "at-now", RefreshToken: "rt-now"}}))
	old := s.Entry("team/llm", "key-before-scope-change")
	require.NoError(t, old.Save(State{Token: &Token{AccessToken: "at-old", RefreshToken: "rt-old"}}))
	require.NoError(t, old.SaveModels([]byte(`[]`), cur.Load().UpdatedAt, ""))
	other := s.Entry("team:llm", "key-now")
	require.NoError(t, other.Save(State{Token: &Token{AccessToken: "at-other", RefreshToken: "rt-other"}}))
	alike := s.Entry("team_llm-prod", "key")
	require.NoError(t, alike.Save(State{Token: &Token{AccessToken: "at-alike", RefreshToken: "rt-alike"}}))
	write := func(name, content string) string {
		p := filepath.Join(s.Dir(), name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	legacy := write("team_llm-legacykey.json", `{"version":1,"providerID":"team/llm","key":"legacykey","token":{"accessToken":"at-legacy","refreshToken":"rt-legacy"}}`)
	legacyOther := write("team_llm-otherkey.json", `{"version":1,"providerID":"team:llm","key":"otherkey","token":{"accessToken":"x","refreshToken":"y"}}`)
	aside := write(filepath.Base(cur.Path())+".invalid-1", `{"version":1,"providerID":"team/llm","key":"zzz","token":{"accessToken":"at-aside","refreshToken":"rt-aside"}}`)

	got := map[string]string{}
	for _, l := range cur.Leftovers() {
		rt := ""
		if l.Token != nil {
			rt = l.Token.RefreshToken
		}
		got[l.Path] = rt
	}
	assert.Equal(t, map[string]string{old.Path(): "rt-old", legacy: "rt-legacy", aside: "rt-aside"}, got)
	assert.NotContains(t, got, legacyOther)
	for p := range got {
		require.NoError(t, cur.RemoveLeftover(Leftover{Path: p}))
	}
	assert.Empty(t, cur.Leftovers())
	assert.Equal(t, "rt-now", cur.Load().Token.RefreshToken, "the current login stays")
	assert.Equal(t, "rt-other", other.Load().Token.RefreshToken, "another provider's login stays")
	assert.Equal(t, "rt-alike", alike.Load().Token.RefreshToken)
}
