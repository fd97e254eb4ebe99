package store

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"
)

// The keychain here is go-keyring's own test double (an in-memory
// keychain); the real Linux Secret Service is the integration suite's.

func TestKeyringRoundTripsTokenSetsOfAnySize(t *testing.T) {
	keyring.MockInit()
	k := Keyring{Service: "test"}
	for _, n := range []int{10, 1500, 16 << 10, 200 << 10} {
		data := []byte(strings.Repeat("eyJhbGciOi", n/10))
		for i := range data { // little to compress: a realistic worst case
			data[i] ^= byte(i * 7)
		}
		require.NoError(t, k.Write("acme", data), "%d bytes", n)
		got, err := k.Read("acme")
		require.NoError(t, err, "%d bytes", n)
		assert.Equal(t, data, got, "%d bytes", n)
	}
	require.NoError(t, k.Write("acme", []byte("small again")))
	_, err := keyring.Get("test", "acme#1")
	assert.ErrorIs(t, err, keyring.ErrNotFound, "the parts of a longer earlier value are removed")
	require.NoError(t, k.Remove("acme"))
	_, err = k.Read("acme")
	assert.ErrorIs(t, err, errNotFound)
}

func TestKeyringThatDoesNotAnswerFailsInTime(t *testing.T) {
	keyring.MockInitWithError(errors.New("org.freedesktop.DBus.Error.ServiceUnknown"))
	err := Keyring{Service: "test"}.Probe()
	require.ErrorIs(t, err, ErrNoKeyring)
	assert.Contains(t, err.Error(), "ServiceUnknown")

	slow := Keyring{Service: "test", Timeout: 50 * time.Millisecond}
	err = slow.call("a read", func() error { time.Sleep(time.Second); return nil })
	require.ErrorIs(t, err, ErrNoKeyring)
	assert.Contains(t, err.Error(), "did not answer a read within 50ms")
}

// TestKeyringEntryKeepsNoSecretOnDisk: with the keychain, the state file is
// a marker without tokens; a token a file storage left is moved into the
// keychain; switching back moves it into the file and empties the keychain.
func TestKeyringEntryKeepsNoSecretOnDisk(t *testing.T) {
	keyring.MockInit()
	s, _ := open(t)
	k := DefaultKeyring() // the one a file storage asks when it finds a keychain marker
	file := s.Entry("acme", "key1")
	require.NoError(t, file.Save(State{Token: &Token{AccessToken: "at-file", RefreshToken: "rt-file"}}))

	kr := file.InKeyring(k)
	assert.Equal(t, "keyring", kr.Storage())
	st := kr.Load()
	require.NotNil(t, st.Token)
	assert.Equal(t, "rt-file", st.Token.RefreshToken, "moved, not lost")
	onDisk, err := os.ReadFile(kr.Path())
	require.NoError(t, err)
	assert.NotContains(t, string(onDisk), "rt-file", "no plaintext copy left")
	assert.Contains(t, string(onDisk), `"storage": "keyring"`)

	require.NoError(t, kr.Save(State{Token: &Token{AccessToken: "at-2", RefreshToken: "rt-2"}}))
	onDisk, _ = os.ReadFile(kr.Path())
	assert.NotContains(t, string(onDisk), "rt-2")
	assert.Equal(t, "rt-2", kr.Load().Token.RefreshToken)

	// Back to the file.
	require.NoError(t, kr.Save(State{Token: &Token{AccessToken: "at-3", RefreshToken: "rt-3"}}))
	back := s.Entry("acme", "key1")
	assert.Equal(t, "rt-3", back.Load().Token.RefreshToken, "moved back from the keychain")
	_, err = k.Read(kr.keychainName())
	assert.ErrorIs(t, err, errNotFound, "the keychain item is removed")

	require.NoError(t, kr.Save(State{Token: &Token{AccessToken: "at-4", RefreshToken: "rt-4"}}))
	_, err = kr.Update(t.Context(), func(s *State) error { s.Token = nil; return nil }) // a logout
	require.NoError(t, err)
	_, err = k.Read(kr.keychainName())
	assert.ErrorIs(t, err, errNotFound, "logout removes the keychain item")
}
