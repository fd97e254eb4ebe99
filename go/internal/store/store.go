// Package store keeps each provider's state under the user's cache
// directory, shared by every sidecar and CLI process of the user: the
// credentials in one file and the model list in another (so that nothing
// about models can ever cost a login), directory 0700, files 0600, atomic
// replace (temp file in the same directory, fsync, rename), a lock file that
// callers hold across read → refresh → write, and files that are corrupt,
// foreign or from a future version set aside with a warning instead of
// failing. A directory that another user controls is refused; without a
// usable directory, Memory keeps the state for this process only.
package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/adrg/xdg"
)

// Version is the state file format this build writes.
const Version = 1

// EnvCacheDir overrides the cache directory.
const EnvCacheDir = "OPENCODE_OAUTH2_CACHE_DIR"

// maxStateFile bounds what Load reads of the credentials file (state files
// of earlier versions held the models too, hence the room).
const maxStateFile = 32 << 20

// Token is the on-disk form of a token. Only this package and the tokens
// package see plain secret values; they never leave through a log.
type Token struct {
	AccessToken  string    `json:"accessToken"`
	TokenType    string    `json:"tokenType,omitempty"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	IDToken      string    `json:"idToken,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	ObtainedAt   time.Time `json:"obtainedAt,omitzero"`
}

// State is everything kept for one provider. Token is in the credentials
// file; Models, LastSyncAt and LastError come from the models file (see
// SaveModels), and Save never writes them to the credentials file.
type State struct {
	Version    int             `json:"version"`
	ProviderID string          `json:"providerID"`
	Key        string          `json:"key"`
	UpdatedAt  time.Time       `json:"updatedAt,omitzero"`
	Token      *Token          `json:"token,omitempty"`
	Models     json.RawMessage `json:"models,omitempty"`
	LastSyncAt time.Time       `json:"lastSyncAt,omitzero"`
	LastError  string          `json:"lastError,omitempty"`
	// Storage is "keyring" in the marker file of tokens kept in a keychain.
	Storage string `json:"storage,omitempty"`
}

// Store is a cache directory, or the memory of this process (Memory).
type Store struct {
	dir string
	log *slog.Logger
	mem *memory // nil for a directory
}

// DefaultDir is $OPENCODE_OAUTH2_CACHE_DIR, else <user cache dir>/opencode-oauth2.
func DefaultDir() string {
	return cmp.Or(strings.TrimSpace(os.Getenv(EnvCacheDir)), filepath.Join(xdg.CacheHome, "opencode-oauth2"))
}

// Open prepares dir (created 0700; an existing directory of ours is
// tightened to 0700).
func Open(dir string, log *slog.Logger) (*Store, error) {
	if dir == "" {
		return nil, errors.New("cache directory is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create cache directory %s: %w", abs, err)
	}
	use, err := inspectDir(abs, true)
	if err != nil {
		return nil, err
	}
	return &Store{dir: use, log: cmp.Or(log, slog.New(slog.DiscardHandler))}, nil
}

// CheckDir says why Open would refuse dir (another user's, a link planted
// by one, in a directory others may write to), changing nothing: the one
// rule, for the doctor too.
func CheckDir(dir string) error {
	_, err := inspectDir(dir, false)
	return err
}

// Dir is the store's directory ("" for a store in memory).
func (s *Store) Dir() string { return s.dir }

// Entry is one provider's state: its credentials file, its models file and
// its lock.
type Entry struct {
	store      *Store
	providerID string
	key        string
	path       string // credentials file (in memory: its name); with a keychain, a marker without secrets
	modelsPath string // models file
	keyring    *Keyring
}

// InKeyring returns the entry with its credentials in the keychain k: the
// file at Path then holds the state without any token (a marker, whose
// changes other processes watch), and a token a file storage left there is
// moved into the keychain at the first read.
func (e *Entry) InKeyring(k Keyring) *Entry {
	c := *e
	c.keyring = &k
	return &c
}

// Storage says where the entry's tokens live: "keyring", "memory" or "file".
func (e *Entry) Storage() string {
	switch {
	case e.keyring != nil:
		return "keyring"
	case e.store.mem != nil:
		return "memory"
	}
	return "file"
}

// keychainName is the entry's item name in a keychain.
func (e *Entry) keychainName() string { return strings.TrimSuffix(filepath.Base(e.path), ".json") }

// Entry returns the entry for a provider and its cache key (config.Provider.CacheKey).
func (s *Store) Entry(providerID, key string) *Entry {
	base := fileBase(providerID) + "-" + sanitize(key[:min(len(key), 16)])
	return &Entry{store: s, providerID: providerID, key: key,
		path: filepath.Join(s.dir, base+".json"), modelsPath: filepath.Join(s.dir, base+".models.json")}
}

// Path is the credentials file's path ("" for a store in memory).
func (e *Entry) Path() string {
	if e.store.mem != nil {
		return ""
	}
	return e.path
}

// fileBase is the start of a provider's file names: its id, with a short
// hash of the exact id when characters had to be replaced, so that ids
// such as "team/llm" and "team:llm" never share a file.
func fileBase(providerID string) string {
	b := sanitize(providerID)
	if b == providerID {
		return b
	}
	sum := sha256.Sum256([]byte(providerID))
	return b + "~" + hex.EncodeToString(sum[:4])
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	out := cmp.Or(strings.Trim(s, "."), "_")
	return out[:min(len(out), 64)]
}

// Load reads the state: the credentials file, and the models file (or, from
// a state file of an earlier version, the models beside the token, which
// are then moved to the models file). A missing file is an empty state; a
// corrupt, foreign or future-version file is renamed aside with a warning
// and reads as empty. Nothing wrong with the models file affects the token.
func (e *Entry) Load() State {
	st := e.loadCredentials()
	m, ok := e.loadModels()
	if !ok && hasModels(st) {
		m = st
		if err := e.saveModels(m); err != nil {
			e.store.log.Debug("could not move the cached models to their own file", "provider", e.providerID, "err", err)
		}
	}
	st.Models, st.LastSyncAt, st.LastError = m.Models, m.LastSyncAt, m.LastError
	return st
}

func (e *Entry) loadCredentials() State {
	empty := State{Version: Version, ProviderID: e.providerID, Key: e.key}
	st, ok := e.readState(e.path, maxStateFile, "cache file")
	if !ok {
		st = empty
	}
	if st.Token != nil && st.Token.AccessToken == "" {
		st.Token = nil
	}
	switch {
	case e.keyring != nil && st.Token != nil:
		// Written by a file storage: moved into the keychain, no plaintext copy left.
		if err := e.Save(st); err != nil {
			e.store.log.Warn("could not move the cached tokens into the keychain; they stay in the file", "provider", e.providerID, "err", err)
		}
		return st
	case e.keyring != nil:
		kst, err := e.fromKeychain(*e.keyring)
		if err == nil {
			return kst
		}
		if !errors.Is(err, errNotFound) {
			e.store.log.Warn("the keychain item is unusable; ignoring it", "provider", e.providerID, "err", err)
		}
		return empty
	case st.Storage == "keyring" && st.Token == nil && e.store.mem == nil:
		// Written by a keychain storage: moved into the file, the keychain item removed.
		k := Keyring{Service: DefaultKeyring().Service, Timeout: time.Second}
		if kst, err := e.fromKeychain(k); err == nil && e.Save(kst) == nil {
			_ = k.Remove(e.keychainName())
			return kst
		}
	}
	return st
}

// fromKeychain reads the entry's state from the keychain k: an error
// wrapping errNotFound when there is none, or saying why it is unusable.
func (e *Entry) fromKeychain(k Keyring) (State, error) {
	data, err := k.Read(e.keychainName())
	var st State
	if err == nil && (json.Unmarshal(data, &st) != nil || st.ProviderID != e.providerID || st.Key != e.key) {
		err = errors.New("it belongs to another provider or configuration")
	}
	return st, err
}

// readState reads the state file at path (at most limit bytes): the
// credentials (or a keychain marker), or the models. It reports false when
// the file is missing, unreadable (a warning says so) or wrong (set aside).
func (e *Entry) readState(path string, limit int64, what string) (State, bool) {
	read := readFile
	if e.store.mem != nil {
		read = e.store.mem.read
	}
	data, err := read(path, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false
	}
	if err != nil {
		e.store.log.Warn(what+" unreadable; ignoring it", "provider", e.providerID, "path", path, "err", err)
		return State{}, false
	}
	var st State
	reason := "not valid JSON"
	if json.Unmarshal(data, &st) == nil {
		switch reason = ""; {
		case st.Version > Version:
			reason = fmt.Sprintf("written by a newer version (format %d, this build reads %d)", st.Version, Version)
		case st.Version < 1:
			reason = "has no format version"
		case st.ProviderID != e.providerID || st.Key != e.key:
			reason = "belongs to another provider or configuration"
		}
	}
	if reason != "" {
		e.setAside(path, reason)
		return State{}, false
	}
	return st, true
}

func (e *Entry) setAside(path, reason string) {
	if e.store.mem != nil {
		e.store.mem.files.Delete(path)
		return
	}
	aside := fmt.Sprintf("%s.invalid-%d", path, time.Now().UnixNano())
	if err := os.Rename(path, aside); err != nil {
		e.store.log.Warn("cache file is invalid and could not be set aside", "provider", e.providerID, "path", path, "reason", reason, "err", err)
		return
	}
	e.store.log.Warn("cache file is invalid; set aside", "provider", e.providerID, "reason", reason, "moved_to", aside)
}

// Save writes the credentials of st atomically; its models part is never
// written to the credentials file (it goes to the models file when that
// file does not exist yet, as when seeding a cache). Callers hold the lock.
func (e *Entry) Save(st State) error {
	models := st
	// The credentials file holds the token and whose it is, nothing else.
	st = State{Version: Version, ProviderID: e.providerID, Key: e.key, UpdatedAt: time.Now().UTC(), Token: st.Token}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", e.providerID, err)
	}
	if e.keyring != nil {
		if st.Token == nil {
			err = e.keyring.Remove(e.keychainName()) // nothing secret to keep (a logout): no item left
		} else {
			err = e.keyring.Write(e.keychainName(), data)
		}
		if err != nil {
			return fmt.Errorf("keychain for %s: %w", e.providerID, err)
		}
		// The file is a marker that holds no secret; it encodes, as st did
		// with the token.
		st.Token, st.Storage = nil, "keyring"
		data, _ = json.MarshalIndent(st, "", "  ")
	}
	if err := e.store.write(e.path, data); err != nil {
		return fmt.Errorf("cache file for %s: %w", e.providerID, err)
	}
	if hasModels(models) {
		if _, ok := e.loadModels(); !ok {
			if err := e.saveModels(models); err != nil {
				e.store.log.Debug("could not write the models file", "provider", e.providerID, "err", err)
			}
		}
	}
	return nil
}

// write replaces the file at path atomically (in memory: the entry).
func (s *Store) write(path string, data []byte) error {
	if s.mem != nil {
		s.mem.files.Store(path, slices.Clone(data))
		return nil
	}
	tmp := fmt.Sprintf("%s.%d.%s.tmp", path, os.Getpid(), rand.Text())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replace: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Update holds the lock across load → fn → save. fn may change the state;
// if it returns an error nothing is written. The saved state is returned;
// a failed save still returns the new state together with the error, so a
// caller can keep serving from memory.
func (e *Entry) Update(ctx context.Context, fn func(*State) error) (State, error) {
	unlock, err := e.Lock(ctx)
	if err != nil {
		return State{}, err
	}
	defer unlock()
	st := e.Load()
	if err := fn(&st); err != nil {
		return st, err
	}
	return st, e.Save(st)
}

// Lock takes the entry's cross-process lock, waiting until ctx ends. The
// lock file is never opened through a symbolic link.
func (e *Entry) Lock(ctx context.Context) (func(), error) {
	if e.store.mem != nil {
		return e.store.mem.lock(ctx, e.path, e.providerID)
	}
	f, err := openLock(e.path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("open lock file for %s: %w", e.providerID, err)
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 32*time.Millisecond) {
		ok, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock cache file for %s: %w", e.providerID, err)
		}
		if ok {
			return func() {
				_ = unlockFile(f)
				_ = f.Close()
			}, nil
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for the cache lock of %s: %w", e.providerID, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// Leftover is a credentials file of a provider that its current
// configuration no longer reads: written under another cache key (a scope
// or client changed since), set aside as invalid, or named as an earlier
// version named it. Logout removes these too, and revokes what they hold.
type Leftover struct {
	Path  string
	Token *Token // nil when the file holds none (or cannot be read)
}

// Leftovers lists the provider's credentials files other than the entry's
// own: every file named for the provider (as this version or an earlier one
// names it) whose content names the provider, or that cannot be read at all.
func (e *Entry) Leftovers() []Leftover {
	names, err := os.ReadDir(e.store.dir)
	if err != nil {
		return nil // a store in memory too: its dir is ""
	}
	prefixes := []string{fileBase(e.providerID) + "-", sanitize(e.providerID) + "-"}
	var out []Leftover
	for _, d := range names {
		name := d.Name()
		path := filepath.Join(e.store.dir, name)
		ours := slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
		// A credentials file's name, or one set aside: not a models file, a
		// lock (<name>.json.lock) or a temporary file (<name>.json.<pid>.<random>.tmp).
		credentials := !strings.Contains(name, ".models.json") && (strings.HasSuffix(name, ".json") || strings.Contains(name, ".json.invalid-"))
		if path == e.path || !d.Type().IsRegular() || !credentials || !ours {
			continue
		}
		data, err := readFile(path, maxStateFile)
		if err != nil {
			continue // not ours to touch (another user's, a FIFO): the store refuses it too
		}
		var st State
		if json.Unmarshal(data, &st) != nil {
			if rest, ok := strings.CutPrefix(name, prefixes[0]); ok && !strings.Contains(rest, "-") {
				out = append(out, Leftover{Path: path}) // unreadable, named for this provider only
			}
			continue
		}
		if st.ProviderID == e.providerID {
			out = append(out, Leftover{Path: path, Token: st.Token})
		}
	}
	return out
}

// RemoveLeftover deletes a leftover file.
func (e *Entry) RemoveLeftover(l Leftover) error {
	if err := os.Remove(l.Path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// memory holds the files of a store without a directory.
type memory struct {
	files sync.Map // name → []byte
	locks sync.Map // name → chan struct{}
}

// Memory returns a store that keeps every state in this process's memory:
// what the sidecar uses when no cache directory is usable, so that tokens
// are never left behind in a temporary directory. Dir and Entry.Path are "".
func Memory(log *slog.Logger) *Store {
	return &Store{log: cmp.Or(log, slog.New(slog.DiscardHandler)), mem: &memory{}}
}

// read is readFile's counterpart (a state in memory is never too large).
func (m *memory) read(name string, _ int64) ([]byte, error) {
	data, ok := m.files.Load(name)
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(data.([]byte)), nil
}

// lock takes the in-process lock of an entry, waiting until ctx ends.
func (m *memory) lock(ctx context.Context, name, providerID string) (func(), error) {
	v, _ := m.locks.LoadOrStore(name, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return sync.OnceFunc(func() { <-ch }), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the cache lock of %s: %w", providerID, ctx.Err())
	}
}
