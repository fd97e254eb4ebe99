package tokens

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// Grant obtains tokens for one provider. Implementations wrap their errors
// with ErrInvalidGrant, ErrInvalidClient or ErrTransient where they apply.
type Grant interface {
	// Acquire obtains a new token: the machine grant, or the interactive
	// login of a user flow (then only called when the mode allows it).
	Acquire(ctx context.Context) (Token, error)
	// Refresh renews t with its refresh token.
	Refresh(ctx context.Context, t Token) (Token, error)
}

// Mode limits what a Token call may do to get a token: whether it may
// start an interactive login.
type Mode bool

// Modes.
const (
	// NoLogin may refresh and run machine grants, never prompt a person.
	NoLogin Mode = false
	// AllowLogin may also start an interactive login.
	AllowLogin Mode = true
)

// Options configure a Manager.
type Options struct {
	ProviderID string
	Grant      Grant
	Entry      *store.Entry
	Policy     Policy
	// Header is the value of the header the gateway takes the token in
	// (required: Reject needs it): the shim reports a refused one by its hash.
	Header func(Token) secret.String
	// Log (nil: discarded) gets the manager's records, which name the provider.
	Log *slog.Logger
	// OnChange is called (outside locks) when the token in use changed for
	// a reason its users did not cause: a login a request started, a
	// logout, or another process's write adopted from the cache (not Login:
	// its caller has the token). A renewal (refresh, machine
	// grant) does not call it: it only happens once the previous token is
	// no longer fresh, so nobody may still hold that one.
	OnChange func()
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LoginTimeout bounds one interactive acquisition (default 10 min).
	LoginTimeout time.Duration
	// WriteBehind answers the callers as soon as a renewed token is at hand
	// and writes the cache file after, still under the cross-process lock,
	// so that the disk's latency (fsync, rename) is not theirs. Flush waits
	// for such writes; a process must call it before exiting. Without
	// WriteBehind, Token returns once the cache file is written.
	WriteBehind bool
}

// Manager hands out a provider's access token.
type Manager struct {
	opt Options

	mu sync.Mutex
	// refused remembers an ErrInvalidClient for 30 s (Token).
	refused   error
	refusedAt time.Time
	mem       Token
	// rejected is an access token the gateway refused within its lifetime:
	// never fresh again, in memory or in the cache file.
	rejected secret.String
	// renewals are when the last refusals were accepted (Reject): at most
	// RenewalBudget per RenewalWindow, whatever a gateway answers.
	renewals []time.Time
	// read is set once the cache file was read: a token found there later
	// was written by someone else since (at the first read it is not news).
	fileRead bool
	flight   *flight
	inflight int           // flights not yet finished (write included)
	idle     chan struct{} // closed when inflight drops to 0

	loginMu sync.Mutex
}

type flight struct {
	mode Mode
	done chan struct{}
	tok  Token
	err  error
	// news: the token came from an interactive login, or was found in the
	// cache file, written there by another process (a command-line login,
	// another OpenCode).
	news bool
}

// NewManager returns a manager; nothing is read until the first call.
func NewManager(o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Log = cmp.Or(o.Log, slog.New(slog.DiscardHandler)).With("provider", o.ProviderID)
	o.LoginTimeout = cmp.Or(max(o.LoginTimeout, 0), 10*time.Minute)
	return &Manager{opt: o}
}

// Policy is the manager's freshness policy.
func (m *Manager) Policy() Policy { return m.opt.Policy }

// Cached returns the token in memory, else the one on disk, without any
// network call and without checking freshness.
func (m *Manager) Cached() Token {
	if t := m.current(); !t.AccessToken.IsZero() {
		return t
	}
	t := fromStore(m.opt.Entry.Load().Token)
	m.mu.Lock()
	if m.mem.AccessToken.IsZero() && !t.AccessToken.IsZero() {
		m.mem = t
	}
	m.mu.Unlock()
	return t
}

// Token returns a fresh access token, doing at most what mode allows.
// Concurrent callers share one acquisition.
func (m *Manager) Token(ctx context.Context, mode Mode) (Token, error) {
	for {
		m.mu.Lock()
		if m.freshLocked(m.mem) {
			t := m.mem
			m.mu.Unlock()
			return t, nil
		}
		// Wrong client credentials stay wrong: for a short while (30 s) the
		// same invalid_client error is answered without asking the server
		// again (OpenCode retries a failed request several times).
		if m.refused != nil && m.opt.Now().Sub(m.refusedAt) < 30*time.Second {
			err := m.refused
			m.mu.Unlock()
			return Token{}, err
		}
		f := m.flight
		if f == nil {
			f = &flight{mode: mode, done: make(chan struct{})}
			m.flight = f
			if m.inflight == 0 {
				m.idle = make(chan struct{})
			}
			m.inflight++
			go m.fly(ctx, f)
		}
		m.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("provider %q: waiting for a token: %w", m.opt.ProviderID, ctx.Err())
		}
		// A flight that could not log in does not answer a caller who may.
		if f.err != nil && errors.Is(f.err, ErrLoginRequired) && f.mode == NoLogin && mode == AllowLogin {
			continue
		}
		return f.tok, f.err
	}
}

func (m *Manager) fly(parent context.Context, f *flight) {
	timeout := 60 * time.Second // one non-interactive acquisition
	if f.mode == AllowLogin {
		timeout = m.opt.LoginTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), timeout)
	defer cancel()
	defer m.landed()
	before := m.current()
	var once sync.Once // the callers are answered once: by publish, else at the end
	answer := func(tok Token, err error) {
		once.Do(func() {
			m.mu.Lock()
			if err == nil {
				m.mem = tok
			}
			m.refused, m.refusedAt = nil, time.Time{}
			if errors.Is(err, ErrInvalidClient) {
				m.refused, m.refusedAt = err, m.opt.Now()
			}
			f.tok, f.err = tok, err
			m.flight = nil
			m.mu.Unlock()
			close(f.done)
		})
	}
	publish := func(Token) {}
	if m.opt.WriteBehind {
		publish = func(t Token) {
			answer(t, nil)
			// The answered callers were made runnable on this goroutine's
			// P; let them run before the cache write, whose fsync would
			// otherwise hold them until the runtime hands the P off.
			runtime.Gosched()
		}
	}
	tok, err := m.acquire(ctx, f, publish)
	answer(tok, err)

	// A login, or a token another process wrote, is news to whoever caches
	// headers; a renewal done here for a caller is not. One path tells it,
	// whichever read (this flight or the file watcher's Adopt) saw the token first.
	if err == nil && f.news && !before.AccessToken.Equal(tok.AccessToken) && m.opt.OnChange != nil {
		m.opt.OnChange()
	}
}

// landed marks the end of a flight, its cache write included.
func (m *Manager) landed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inflight--
	if m.inflight == 0 {
		close(m.idle)
	}
}

// Flush waits until every acquisition under way, its cache file write
// included, has finished, or ctx ends.
func (m *Manager) Flush(ctx context.Context) error {
	m.mu.Lock()
	idle := m.idle
	pending := m.inflight > 0
	m.mu.Unlock()
	if !pending {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("provider %q: waiting for the token cache write: %w", m.opt.ProviderID, ctx.Err())
	}
}

func (m *Manager) current() Token {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mem
}

// acquire runs under the cross-process lock: another process may have done
// the work already, so the cache file is read again once the lock is held.
// A token renewed here is handed to publish before it is written to the
// cache file (and then returned).
func (m *Manager) acquire(ctx context.Context, f *flight, publish func(Token)) (Token, error) {
	// An unwritable cache directory must not stop requests: without the
	// lock, acquire goes on without cross-process coordination, from
	// memory. Only the end of ctx is an error.
	unlock, err := m.opt.Entry.Lock(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Token{}, fmt.Errorf("provider %q: %w: %w", m.opt.ProviderID, ErrTransient, err)
		}
		m.opt.Log.Warn("token cache lock unavailable; continuing without cross-process coordination", "err", err)
		unlock = func() {}
	}
	unlock = sync.OnceFunc(unlock)
	defer unlock()

	// The cache file's state, and the current token: the file's or, when it
	// has none, memory's (the disk may be unwritable).
	st := m.opt.Entry.Load()
	cur := fromStore(st.Token)
	if cur.AccessToken.IsZero() && cur.RefreshToken.IsZero() {
		cur = m.current()
	}
	m.mu.Lock()
	// cur is news when it is not the token in memory and the file was read
	// before (at the first read it is not news).
	news := m.fileRead && !cur.AccessToken.Equal(m.mem.AccessToken)
	m.fileRead = true
	fresh := m.freshLocked(cur)
	refused := !m.rejected.IsZero() && cur.AccessToken.Equal(m.rejected) // by the gateway
	m.mu.Unlock()
	// renewed hands the renewed token t to publish, then writes it to the
	// cache file with the rest of the state read.
	renewed := func(t Token) (Token, error) {
		publish(t)
		st.Token = toStore(t)
		if err := m.opt.Entry.Save(st); err != nil {
			m.opt.Log.Warn("could not write the token cache; the token is kept in memory only", "err", err)
		}
		return t, nil
	}
	// keepCurrent answers a failed renewal with the current token while it
	// may still serve (the gateway did not refuse it and it has not
	// expired), else with err.
	keepCurrent := func(failure string, err error) (Token, error) {
		if !refused && !cur.AccessToken.IsZero() && (cur.ExpiresAt.IsZero() || m.opt.Now().Before(cur.ExpiresAt)) {
			m.opt.Log.Warn(failure+"; using the current one until it expires", "err", err)
			return cur, nil
		}
		return Token{}, err
	}
	switch {
	case fresh:
		f.news = news
		return cur, nil
	case !m.opt.Policy.UserFlow: // the machine grant again
		t, err := m.opt.Grant.Acquire(ctx)
		if err != nil {
			return keepCurrent("could not renew the token", err)
		}
		return renewed(t)
	}
	if !cur.RefreshToken.IsZero() {
		t, err := m.opt.Grant.Refresh(ctx, cur)
		switch {
		case err == nil: // the refresh and ID tokens the server did not renew are kept
			t.RefreshToken = cmp.Or(t.RefreshToken, cur.RefreshToken)
			t.IDToken = cmp.Or(t.IDToken, cur.IDToken)
			m.opt.Log.Debug("token refreshed")
			return renewed(t)
		case !errors.Is(err, ErrInvalidGrant):
			return keepCurrent("could not refresh the token", err)
		}
		// The login whose refresh token was rejected is forgotten, in memory
		// and in the cache file; a login is needed.
		m.opt.Log.Warn("the refresh token was rejected; a new login is needed", "err", err)
		st.Token = nil
		if werr := m.opt.Entry.Save(st); werr != nil {
			m.opt.Log.Warn("could not clear the rejected token from the cache", "err", werr)
		}
		// The reason stays for `status`, until a login or a sync succeeds.
		if werr := m.opt.Entry.RecordModelError(NoTokenPrefix + "the refresh token was rejected, a new login is needed: " + err.Error()); werr != nil {
			m.opt.Log.Debug("could not record why the login is gone", "err", werr)
		}
		m.mu.Lock()
		m.mem = Token{}
		m.mu.Unlock()
	}
	if f.mode == NoLogin {
		return Token{}, fmt.Errorf("provider %q: %w: no usable token is cached, and a request does not start a login here", m.opt.ProviderID, ErrLoginRequired)
	}
	// Never hold the cache lock across a login that waits for a person; its
	// token goes to the flight.
	unlock()
	t, _, err := m.Login(ctx, m.opt.Grant) // which wrote the cache file
	f.news = err == nil
	return t, err
}

// Login runs an interactive login with g whatever is cached: the one login
// path of the RPC server, the command line and a flight that may prompt.
// One login runs at a time, without the cache lock (it waits for a
// person), bounded by the login timeout; its token is then stored in the
// cache file (under the lock) and in memory, and the token it replaced is
// returned so that the caller can revoke it. The current session stays
// usable until then. When the cache file cannot be written, the token is
// kept in memory (a warning says so). OnChange is not called: the caller
// asked for this login and has its token.
func (m *Manager) Login(ctx context.Context, g Grant) (tok, replaced Token, err error) {
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	// The grant's own wait ends first (at LoginTimeout), in its own words;
	// 30 s more bound a grant that does not end it.
	lctx, cancel := context.WithTimeout(ctx, m.opt.LoginTimeout+30*time.Second)
	defer cancel()
	tok, err = g.Acquire(lctx)
	if err != nil {
		return Token{}, Token{}, err
	}
	if replaced, err = m.replace(ctx, tok); err != nil {
		m.opt.Log.Warn("could not write the token cache; the token is kept in memory only", "err", err)
	}
	return tok, replaced, nil
}

// replace puts t (zero: none) in the cache file, under the lock, and in
// memory, and returns the token it replaced (the file's, else memory's).
// A failed write still replaces the token in memory.
func (m *Manager) replace(ctx context.Context, t Token) (Token, error) {
	var old Token
	_, err := m.opt.Entry.Update(ctx, func(s *store.State) error {
		old = fromStore(s.Token)
		s.Token = toStore(t)
		return nil
	})
	m.mu.Lock()
	if old.AccessToken.IsZero() && old.RefreshToken.IsZero() {
		old = m.mem
	}
	m.mem = t
	m.refused, m.refusedAt = nil, time.Time{}
	m.mu.Unlock()
	return old, err
}

// freshLocked is Policy.Fresh, except for a token the gateway refused.
// m.mu is held.
func (m *Manager) freshLocked(t Token) bool {
	if !m.rejected.IsZero() && t.AccessToken.Equal(m.rejected) {
		return false
	}
	return m.opt.Policy.Fresh(t, m.opt.Now())
}

// Reject marks the token whose Authorization value has this sha256 (hex)
// as refused by the gateway, although within its lifetime: the next Token
// call renews (refresh, or the machine grant), once for all its callers.
// It reports whether that token was the one in use (false: already
// renewed, or not ours).
func (m *Manager) Reject(authorizationSHA256 string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mem.AccessToken.IsZero() {
		return false
	}
	sum := sha256.Sum256([]byte(m.opt.Header(m.mem).Reveal()))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(authorizationSHA256)) != 1 {
		return false
	}
	if !m.rejected.IsZero() && m.rejected.Equal(m.mem.AccessToken) {
		return true // reported already: one renewal for all its callers
	}
	now := m.opt.Now()
	m.renewals = slices.DeleteFunc(m.renewals, func(t time.Time) bool { return now.Sub(t) >= RenewalWindow })
	if len(m.renewals) >= RenewalBudget {
		m.opt.Log.Warn("the gateway keeps refusing fresh tokens; no renewal until the budget allows one",
			"renewals", len(m.renewals), "window", RenewalWindow)
		return false
	}
	m.renewals = append(m.renewals, now)
	m.rejected = m.mem.AccessToken
	return true
}

// The renewal budget: however a gateway answers, a provider's token is
// renewed after a refusal at most RenewalBudget times per RenewalWindow.
const (
	RenewalBudget = 3
	RenewalWindow = time.Minute
)

// NoTokenPrefix starts a state's LastError when no token could be had
// (e.g. the refresh token was rejected); a later success clears such an
// error (engine), as it answers it.
const NoTokenPrefix = "no token: "

// Forget drops the token from memory and disk (logout).
func (m *Manager) Forget(ctx context.Context) (Token, error) {
	old, err := m.replace(ctx, Token{})
	if m.opt.OnChange != nil {
		m.opt.OnChange()
	}
	return old, err
}

// Adopt re-reads the cache file and takes its token if it differs from the
// one in memory (another process logged in, refreshed or logged out). It
// reports whether the token changed.
func (m *Manager) Adopt() bool {
	disk := fromStore(m.opt.Entry.Load().Token)
	m.mu.Lock()
	m.fileRead = true
	changed := !disk.AccessToken.Equal(m.mem.AccessToken)
	if changed {
		m.mem = disk
		m.refused = nil
	}
	m.mu.Unlock()
	if changed && m.opt.OnChange != nil {
		m.opt.OnChange()
	}
	return changed
}
