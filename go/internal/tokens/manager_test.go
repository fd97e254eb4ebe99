package tokens

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// fakeGrant is a unit-test double; the integration tests in package oauth
// use a real authorization server.
type fakeGrant struct {
	acquires, refreshes atomic.Int32
	lifetime            time.Duration
	refreshErr          error
	acquireErr          error
	gate                chan struct{} // when set, Acquire waits for it
	rotate              bool
}

func (g *fakeGrant) token(kind string, n int32) Token {
	now := time.Now()
	t := Token{AccessToken: secret.New(fmt.Sprintf("%s-%d", kind, n)), TokenType: "bearer", ObtainedAt: now}
	if g.lifetime > 0 {
		t.ExpiresAt = now.Add(g.lifetime)
	}
	if g.rotate {
		t.RefreshToken = secret.New(fmt.Sprintf("rt-%s-%d", kind, n))
	}
	return t
}

func (g *fakeGrant) Acquire(ctx context.Context) (Token, error) {
	n := g.acquires.Add(1)
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return Token{}, ctx.Err()
		}
	}
	if g.acquireErr != nil {
		return Token{}, g.acquireErr
	}
	return g.token("acq", n), nil
}

func (g *fakeGrant) Refresh(_ context.Context, _ Token) (Token, error) {
	n := g.refreshes.Add(1)
	if g.refreshErr != nil {
		return Token{}, g.refreshErr
	}
	return g.token("ref", n), nil
}

func newEntry(t *testing.T, dir string) *store.Entry {
	t.Helper()
	s, err := store.Open(dir, logging.Discard())
	require.NoError(t, err)
	return s.Entry("acme", "key123")
}

func TestPolicyFreshness(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tok := func(lifetime, age time.Duration) Token {
		obtained := now.Add(-age)
		return Token{AccessToken: secret.New("a"), ObtainedAt: obtained, ExpiresAt: obtained.Add(lifetime)}
	}
	tests := []struct {
		name   string
		policy Policy
		tok    Token
		fresh  bool
	}{
		{"long token, young", Policy{Skew: 30 * time.Second}, tok(time.Hour, time.Minute), true},
		{"long token, inside skew", Policy{Skew: 30 * time.Second}, tok(time.Hour, time.Hour-20*time.Second), false},
		{"60 s token with 30 s skew, 10 s old", Policy{Skew: 30 * time.Second}, tok(60*time.Second, 10*time.Second), true},
		{"5 s token with 30 s skew, 1 s old", Policy{Skew: 30 * time.Second}, tok(5*time.Second, time.Second), true},
		{"5 s token with 30 s skew, 3 s old", Policy{Skew: 30 * time.Second}, tok(5*time.Second, 3*time.Second), false},
		{"expired", Policy{}, tok(time.Minute, 2*time.Minute), false},
		{"no expiry, user flow", Policy{UserFlow: true}, Token{AccessToken: secret.New("a")}, true},
		{"no expiry, machine flow", Policy{}, Token{AccessToken: secret.New("a")}, false},
		{"empty", Policy{UserFlow: true}, Token{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.fresh, tc.policy.Fresh(tc.tok, now))
		})
	}
}

func TestConcurrentCallersShareOneAcquisition(t *testing.T) {
	g := &fakeGrant{lifetime: time.Hour, gate: make(chan struct{})}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Policy: Policy{Skew: 30 * time.Second}, Log: logging.Discard()})
	const n = 200
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := m.Token(context.Background(), NoLogin)
			results[i], errs[i] = tok.AccessToken.Reveal(), err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let callers pile up behind the gate
	close(g.gate)
	wg.Wait()
	assert.Equal(t, int32(1), g.acquires.Load())
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, "acq-1", results[i])
	}
}

func TestManagersSharingACacheRefreshOnce(t *testing.T) {
	dir := t.TempDir()
	seed := newEntry(t, dir)
	require.NoError(t, seed.Save(store.State{Token: &store.Token{AccessToken: "old", RefreshToken: "rt-0", ExpiresAt: time.Now().Add(-time.Minute)}}))

	g := &fakeGrant{lifetime: time.Hour, rotate: true}
	var wg sync.WaitGroup
	for range 8 {
		m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, dir), Policy: Policy{Skew: time.Second, UserFlow: true}, Log: logging.Discard()})
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := m.Token(context.Background(), NoLogin)
			assert.NoError(t, err)
			assert.Equal(t, "ref-1", tok.AccessToken.Reveal())
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), g.refreshes.Load())
	st := seed.Load()
	assert.Equal(t, "rt-ref-1", st.Token.RefreshToken)
}

func TestRefreshOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		refreshErr error
		oldExpired bool
		mode       Mode
		wantToken  string
		wantErr    error
		acquires   int32
	}{
		{"success keeps old refresh token when none returned", nil, true, NoLogin, "ref-1", nil, 0},
		{"invalid_grant without login allowed", fmt.Errorf("x: %w", ErrInvalidGrant), true, NoLogin, "", ErrLoginRequired, 0},
		{"invalid_grant with login allowed logs in", fmt.Errorf("x: %w", ErrInvalidGrant), true, AllowLogin, "acq-1", nil, 1},
		{"transient with expired token is an error, no login", fmt.Errorf("x: %w", ErrTransient), true, AllowLogin, "", ErrTransient, 0},
		{"transient with still-valid token keeps it", fmt.Errorf("x: %w", ErrTransient), false, AllowLogin, "old", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entry := newEntry(t, t.TempDir())
			exp := time.Now().Add(10 * time.Second) // inside the 30 s skew: needs renewal
			if tc.oldExpired {
				exp = time.Now().Add(-time.Second)
			}
			require.NoError(t, entry.Save(store.State{Token: &store.Token{AccessToken: "old", RefreshToken: "rt-0", ExpiresAt: exp, ObtainedAt: time.Now().Add(-time.Hour)}}))
			g := &fakeGrant{lifetime: time.Hour, refreshErr: tc.refreshErr}
			m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: entry, Policy: Policy{Skew: 30 * time.Second, UserFlow: true}, Log: logging.Discard()})
			tok, err := m.Token(context.Background(), tc.mode)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.wantToken, tok.AccessToken.Reveal())
			}
			assert.Equal(t, tc.acquires, g.acquires.Load())
			if tc.name == "success keeps old refresh token when none returned" {
				assert.Equal(t, "rt-0", entry.Load().Token.RefreshToken)
			}
		})
	}
}

func TestMachineFlowReacquiresAndSurvivesUnwritableCache(t *testing.T) {
	dir := t.TempDir()
	entry := newEntry(t, dir)
	g := &fakeGrant{lifetime: time.Hour}
	changes := atomic.Int32{}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: entry, Policy: Policy{Skew: 30 * time.Second}, Log: logging.Discard(), OnChange: func() { changes.Add(1) }})
	tok, err := m.Token(context.Background(), NoLogin)
	require.NoError(t, err)
	assert.Equal(t, "acq-1", tok.AccessToken.Reveal())
	tok, err = m.Token(context.Background(), NoLogin)
	require.NoError(t, err)
	assert.Equal(t, "acq-1", tok.AccessToken.Reveal(), "a fresh token is served from memory")
	require.NoError(t, m.Flush(context.Background()))
	assert.Zero(t, changes.Load(), "a renewal is not a change its callers must be told about")

	g.acquireErr = errors.New("boom")
	m2 := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Policy: Policy{}, Log: logging.Discard()})
	_, err = m2.Token(context.Background(), NoLogin)
	require.Error(t, err)
}

func TestCallerDeadlineDoesNotStrandOthers(t *testing.T) {
	g := &fakeGrant{lifetime: time.Hour, gate: make(chan struct{})}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Policy: Policy{}, Log: logging.Discard()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Token(ctx, NoLogin)
	require.ErrorIs(t, err, context.Canceled)
	done := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), NoLogin)
		done <- err
	}()
	close(g.gate)
	require.NoError(t, <-done)
	assert.Equal(t, int32(1), g.acquires.Load(), "the second caller joined the first flight")
}

func TestUnwritableCacheServesFromMemory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	entry := newEntry(t, dir)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, nil, 0o600)) // every write now fails
	var logs bytes.Buffer
	g := &fakeGrant{lifetime: time.Hour}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: entry, Policy: Policy{Skew: 30 * time.Second},
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		tok, err := m.Token(context.Background(), NoLogin)
		require.NoError(t, err)
		assert.Equal(t, "acq-1", tok.AccessToken.Reveal())
	}
	assert.Equal(t, int32(1), g.acquires.Load(), "the token is kept in memory")
	assert.Contains(t, logs.String(), "continuing without cross-process coordination")
	assert.Contains(t, logs.String(), "kept in memory only")
}

func TestInvalidClientIsRememberedBriefly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &fakeGrant{acquireErr: fmt.Errorf("wrong secret: %w", ErrInvalidClient)}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Log: logging.Discard(),
		Now: func() time.Time { return now }})
	tests := []struct {
		name     string
		advance  time.Duration
		acquires int32
	}{
		{"first failure asks the server", 0, 1},
		{"a retry right after is answered from memory", time.Second, 1},
		{"still remembered", 28 * time.Second, 1},
		{"forgotten after 30 s", 2 * time.Second, 2},
	}
	for _, tc := range tests {
		now = now.Add(tc.advance)
		_, err := m.Token(context.Background(), NoLogin)
		require.ErrorIs(t, err, ErrInvalidClient, tc.name)
		assert.Equal(t, tc.acquires, g.acquires.Load(), tc.name)
	}
}

// TestLoginKeepsTheOldSessionUntilTheNewOneIsStored: an explicit login runs
// whatever is cached; while it fails or waits, the old token stays in use,
// and once it succeeds the replaced token is handed back (for revocation).
// OnChange is never called: the caller asked for the login and has its token.
func TestLoginKeepsTheOldSessionUntilTheNewOneIsStored(t *testing.T) {
	tests := []struct {
		name       string
		acquireErr error
		wantAccess string // in memory and on disk afterwards
	}{
		{"success replaces the session", nil, "acq-1"},
		{"failure keeps the old session", errors.New("refused"), "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entry := newEntry(t, t.TempDir())
			require.NoError(t, entry.Save(store.State{Token: &store.Token{AccessToken: "old", RefreshToken: "rt-old", ExpiresAt: time.Now().Add(time.Hour)}}))
			var changes atomic.Int32
			g := &fakeGrant{lifetime: time.Hour, acquireErr: tc.acquireErr}
			m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: entry, Log: logging.Discard(),
				Policy: Policy{Skew: 30 * time.Second, UserFlow: true}, OnChange: func() { changes.Add(1) }})
			tok, replaced, err := m.Login(context.Background(), g)
			if tc.acquireErr != nil {
				require.ErrorIs(t, err, tc.acquireErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "acq-1", tok.AccessToken.Reveal())
				assert.Equal(t, "rt-old", replaced.RefreshToken.Reveal(), "the replaced session is returned for revocation")
			}
			assert.Equal(t, int32(1), g.acquires.Load(), "a login runs even when a fresh token is cached")
			assert.Equal(t, tc.wantAccess, entry.Load().Token.AccessToken)
			assert.Equal(t, tc.wantAccess, m.Cached().AccessToken.Reveal())
			assert.Zero(t, changes.Load(), "no change notification for the caller's own login")
		})
	}
}

// TestARefusedTokenIsRenewedOnceForAllItsCallers: a token the gateway
// refused within its lifetime is renewed (machine grant or refresh) by
// exactly one flight, whatever the number of callers that saw it refused;
// a hash that is not the current token's changes nothing.
func TestARefusedTokenIsRenewedOnceForAllItsCallers(t *testing.T) {
	for _, userFlow := range []bool{false, true} {
		t.Run(map[bool]string{false: "machine grant", true: "refresh"}[userFlow], func(t *testing.T) {
			entry := newEntry(t, t.TempDir())
			g := &fakeGrant{lifetime: time.Hour, rotate: true}
			m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: entry, Log: logging.Discard(), Header: bearer,
				Policy: Policy{Skew: 30 * time.Second, UserFlow: userFlow}})
			if userFlow {
				require.NoError(t, entry.Save(store.State{Token: &store.Token{AccessToken: "first", RefreshToken: "rt-0", ExpiresAt: time.Now().Add(time.Hour)}}))
			}
			first, err := m.Token(context.Background(), NoLogin)
			require.NoError(t, err)
			hash := func(tok Token) string {
				sum := sha256.Sum256([]byte(bearer(tok).Reveal()))
				return hex.EncodeToString(sum[:])
			}
			assert.False(t, m.Reject(strings.Repeat("0", 64)), "not the token in use")
			assert.True(t, m.Reject(hash(first)))

			var wg sync.WaitGroup
			got := make([]string, 50)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m.Reject(hash(first)) // every refused request reports it
					tok, err := m.Token(context.Background(), NoLogin)
					assert.NoError(t, err)
					got[i] = tok.AccessToken.Reveal()
				}()
			}
			wg.Wait()
			for _, a := range got {
				assert.NotEqual(t, first.AccessToken.Reveal(), a, "the refused token is never handed out again")
				assert.Equal(t, got[0], a, "one renewal for all")
			}
			renewals := g.acquires.Load()
			if userFlow {
				renewals = g.refreshes.Load()
				assert.Zero(t, g.acquires.Load(), "a refresh, not a login")
			} else {
				renewals-- // the first token
			}
			assert.Equal(t, int32(1), renewals)
			assert.Equal(t, got[0], entry.Load().Token.AccessToken, "the renewed token is in the cache file")
		})
	}
}

// TestTheRenewalBudgetBoundsWhatAGatewayCanMakeUsDo: a gateway that
// refuses every token (or claims to) gets RenewalBudget renewals per
// RenewalWindow, then the same token until the window moves on.
func TestTheRenewalBudgetBoundsWhatAGatewayCanMakeUsDo(t *testing.T) {
	now := time.Now()
	g := &fakeGrant{lifetime: time.Hour}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Log: logging.Discard(), Header: bearer,
		Policy: Policy{Skew: 30 * time.Second}, Now: func() time.Time { return now }})
	hash := func(tok Token) string {
		sum := sha256.Sum256([]byte(bearer(tok).Reveal()))
		return hex.EncodeToString(sum[:])
	}
	tok, err := m.Token(context.Background(), NoLogin)
	require.NoError(t, err)
	for i := range RenewalBudget {
		require.True(t, m.Reject(hash(tok)), "renewal %d is within the budget", i+1)
		assert.True(t, m.Reject(hash(tok)), "the same refused token reported again costs nothing")
		tok, err = m.Token(context.Background(), NoLogin)
		require.NoError(t, err)
	}
	assert.False(t, m.Reject(hash(tok)), "the budget is spent")
	same, err := m.Token(context.Background(), NoLogin)
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken.Reveal(), same.AccessToken.Reveal(), "no renewal beyond the budget")
	assert.Equal(t, int32(1+RenewalBudget), g.acquires.Load())
	now = now.Add(RenewalWindow)
	assert.True(t, m.Reject(hash(tok)), "a new window, a new renewal")
}

// TestWhatEachModeDoesWithNothingCached: a mode bounds what acquire may do
// to get a first token, for a user flow and a machine flow.
func TestWhatEachModeDoesWithNothingCached(t *testing.T) {
	tests := []struct {
		name         string
		userFlow     bool
		mode         Mode
		want         string // "" = ErrLoginRequired
		wantAcquires int32
	}{
		{"user flow, no login", true, NoLogin, "", 0},
		{"user flow, login allowed", true, AllowLogin, "acq-1", 1},
		{"machine flow, no login", false, NoLogin, "acq-1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGrant{lifetime: time.Hour}
			m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()),
				Policy: Policy{Skew: 30 * time.Second, UserFlow: tc.userFlow}, Log: logging.Discard()})
			tok, err := m.Token(context.Background(), tc.mode)
			if tc.want == "" {
				require.ErrorIs(t, err, ErrLoginRequired)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.want, tok.AccessToken.Reveal())
			}
			assert.Equal(t, tc.wantAcquires, g.acquires.Load())
			assert.Zero(t, g.refreshes.Load(), "nothing to refresh")
			require.NoError(t, m.Flush(context.Background()))
		})
	}
}

// TestATokenWrittenElsewhereIsNewsOnce: a token another process wrote
// (a command-line login) is announced once, whichever read sees it first:
// a request's flight or the file watcher's Adopt. The token found at the
// first read (a start with a login cached) is not news.
func TestATokenWrittenElsewhereIsNewsOnce(t *testing.T) {
	for _, first := range []string{"flight", "watcher"} {
		t.Run(first+" sees it first", func(t *testing.T) {
			entry := newEntry(t, t.TempDir())
			var changes atomic.Int32
			m := NewManager(Options{ProviderID: "acme", Grant: &fakeGrant{lifetime: time.Hour}, Entry: entry, Log: logging.Discard(),
				Policy: Policy{Skew: 30 * time.Second, UserFlow: true}, OnChange: func() { changes.Add(1) }})
			_, err := m.Token(context.Background(), NoLogin)
			require.ErrorIs(t, err, ErrLoginRequired, "nothing cached yet")

			other := newEntry(t, filepath.Dir(entry.Path())) // another process, same file
			require.NoError(t, other.Save(store.State{Token: &store.Token{AccessToken: "from-cli", RefreshToken: "rt", ExpiresAt: time.Now().Add(time.Hour)}}))
			if first == "watcher" {
				assert.True(t, m.Adopt())
			}
			tok, err := m.Token(context.Background(), NoLogin)
			require.NoError(t, err)
			assert.Equal(t, "from-cli", tok.AccessToken.Reveal())
			assert.False(t, m.Adopt(), "nothing new for the watcher")
			require.NoError(t, m.Flush(context.Background())) // the flight announces after it answered
			assert.Equal(t, int32(1), changes.Load(), "announced once")
		})
	}
	t.Run("a start with a login cached", func(t *testing.T) {
		entry := newEntry(t, t.TempDir())
		require.NoError(t, entry.Save(store.State{Token: &store.Token{AccessToken: "cached", RefreshToken: "rt", ExpiresAt: time.Now().Add(time.Hour)}}))
		var changes atomic.Int32
		m := NewManager(Options{ProviderID: "acme", Grant: &fakeGrant{lifetime: time.Hour}, Entry: entry, Log: logging.Discard(),
			Policy: Policy{Skew: 30 * time.Second, UserFlow: true}, OnChange: func() { changes.Add(1) }})
		_, err := m.Token(context.Background(), NoLogin)
		require.NoError(t, err)
		assert.Zero(t, changes.Load())
	})
}

// bearer is the header value the refusal tests' gateway takes.
func bearer(t Token) secret.String { return secret.New("Bearer " + t.AccessToken.Reveal()) }
