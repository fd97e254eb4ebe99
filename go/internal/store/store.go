// Package store keeps each provider's state (token and model list) in a file
// under the user's cache directory, shared by every sidecar and CLI process of
// the user: directory 0700, files 0600, atomic replace (temp file in the same
// directory, fsync, rename), a lock file that callers hold across
// read → refresh → write, and files that are corrupt, foreign or from a
// future version set aside with a warning instead of failing.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adrg/xdg"
)

// Version is the state file format this build writes.
const Version = 1

// EnvCacheDir overrides the cache directory.
const EnvCacheDir = "OPENCODE_OAUTH2_CACHE_DIR"

// maxStateFile bounds what Load reads.
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

// State is everything kept for one provider.
type State struct {
	Version    int             `json:"version"`
	ProviderID string          `json:"providerID"`
	Key        string          `json:"key"`
	UpdatedAt  time.Time       `json:"updatedAt,omitzero"`
	Token      *Token          `json:"token,omitempty"`
	Models     json.RawMessage `json:"models,omitempty"`
	LastSyncAt time.Time       `json:"lastSyncAt,omitzero"`
	LastError  string          `json:"lastError,omitempty"`
}

// Store is a cache directory.
type Store struct {
	dir string
	log *slog.Logger
}

// DefaultDir is $OPENCODE_OAUTH2_CACHE_DIR, else <user cache dir>/opencode-oauth2.
func DefaultDir() string {
	if d := strings.TrimSpace(os.Getenv(EnvCacheDir)); d != "" {
		return d
	}
	return filepath.Join(xdg.CacheHome, "opencode-oauth2")
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
	if err := checkDir(abs); err != nil {
		return nil, err
	}
	return &Store{dir: abs, log: log}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Entry is one provider's state file and its lock.
type Entry struct {
	store      *Store
	providerID string
	key        string
	path       string
}

// Entry returns the entry for a provider and its cache key (config.Provider.CacheKey).
func (s *Store) Entry(providerID, key string) *Entry {
	short := key
	if len(short) > 16 {
		short = short[:16]
	}
	name := sanitize(providerID) + "-" + sanitize(short) + ".json"
	return &Entry{store: s, providerID: providerID, key: key, path: filepath.Join(s.dir, name)}
}

// Path is the state file's path.
func (e *Entry) Path() string { return e.path }

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		out = "_"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// Load reads the state. A missing file is an empty state; a corrupt, foreign
// or future-version file is renamed aside with a warning and reads as empty.
func (e *Entry) Load() State {
	empty := State{Version: Version, ProviderID: e.providerID, Key: e.key}
	data, err := readFile(e.path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty
	}
	if err != nil {
		e.store.log.Warn("cache file unreadable; ignoring it", "provider", e.providerID, "path", e.path, "err", err)
		return empty
	}
	var st State
	reason := ""
	switch err := json.Unmarshal(data, &st); {
	case err != nil:
		reason = "not valid JSON"
	case st.Version > Version:
		reason = fmt.Sprintf("written by a newer version (format %d, this build reads %d)", st.Version, Version)
	case st.Version < 1:
		reason = "has no format version"
	case st.ProviderID != e.providerID || st.Key != e.key:
		reason = "belongs to another provider or configuration"
	case st.Token != nil && st.Token.AccessToken == "":
		st.Token = nil
	}
	if reason != "" {
		e.setAside(reason)
		return empty
	}
	return st
}

func (e *Entry) setAside(reason string) {
	aside := fmt.Sprintf("%s.invalid-%d", e.path, time.Now().UnixNano())
	if err := os.Rename(e.path, aside); err != nil {
		e.store.log.Warn("cache file is invalid and could not be set aside", "provider", e.providerID, "path", e.path, "reason", reason, "err", err)
		return
	}
	e.store.log.Warn("cache file is invalid; set aside", "provider", e.providerID, "reason", reason, "moved_to", aside)
}

// Save writes st atomically. Callers hold the lock.
func (e *Entry) Save(st State) error {
	st.Version = Version
	st.ProviderID = e.providerID
	st.Key = e.key
	st.UpdatedAt = time.Now().UTC()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", e.providerID, err)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := fmt.Sprintf("%s.%d.%s.tmp", e.path, os.Getpid(), hex.EncodeToString(suffix[:]))
	if err := writeSync(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write cache file for %s: %w", e.providerID, err)
	}
	if err := os.Rename(tmp, e.path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replace cache file for %s: %w", e.providerID, err)
	}
	syncDir(filepath.Dir(e.path))
	return nil
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
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

// Remove deletes the state file (under the lock).
func (e *Entry) Remove(ctx context.Context) error {
	unlock, err := e.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove cache file for %s: %w", e.providerID, err)
	}
	return nil
}

// Lock takes the entry's cross-process lock, waiting until ctx ends.
func (e *Entry) Lock(ctx context.Context) (func(), error) {
	lockPath := e.path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file for %s: %w", e.providerID, err)
	}
	delay := time.Millisecond
	for {
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
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, fmt.Errorf("wait for the cache lock of %s: %w", e.providerID, ctx.Err())
		case <-t.C:
		}
		if delay < 25*time.Millisecond {
			delay *= 2
		}
	}
}
