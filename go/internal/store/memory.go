package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
)

// memory holds the files of a store without a directory.
type memory struct {
	mu    sync.Mutex
	files map[string][]byte
	locks map[string]chan struct{}
}

// Memory returns a store that keeps every state in this process's memory:
// what the sidecar uses when no cache directory is usable, so that tokens
// are never left behind in a temporary directory. Dir and Entry.Path are "".
func Memory(log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{log: log, mem: &memory{files: map[string][]byte{}, locks: map[string]chan struct{}{}}}
}

func (m *memory) read(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return slices.Clone(data), nil
}

func (m *memory) write(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = slices.Clone(data)
}

func (m *memory) remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, name)
}

// lock takes the in-process lock of an entry, waiting until ctx ends.
func (m *memory) lock(ctx context.Context, name, providerID string) (func(), error) {
	m.mu.Lock()
	ch, ok := m.locks[name]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[name] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-ch }) }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the cache lock of %s: %w", providerID, ctx.Err())
	}
}
