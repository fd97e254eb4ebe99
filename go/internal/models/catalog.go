package models

import (
	"errors"
	"slices"
	"sync"
)

// ErrEmpty is returned by Catalog.Update when a gateway listed no models.
var ErrEmpty = errors.New("models: the gateway listed no models")

// Catalog holds the last good model list of one provider. A failed sync
// simply does not call Update, and an empty answer does not replace the
// list, so the models a user saw stay available until a sync succeeds.
// It is safe for concurrent use; the zero value is an empty catalog.
type Catalog struct {
	mu     sync.RWMutex
	models []Model
}

// NewCatalog returns a catalog holding a copy of initial (typically the
// list from the on-disk cache).
func NewCatalog(initial []Model) *Catalog {
	return &Catalog{models: slices.Clone(initial)}
}

// Models returns a copy of the current list.
func (c *Catalog) Models() []Model {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.models)
}

// Update replaces the list with a copy of next and reports what changed.
// An empty next leaves the list as it was and returns ErrEmpty: a gateway
// that briefly answers [] (a restarting backend, a misrouted request) must
// not make every model disappear; the caller logs it and retries.
func (c *Catalog) Update(next []Model) (Changes, error) {
	if len(next) == 0 {
		return Changes{}, ErrEmpty
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := Diff(c.models, next)
	c.models = slices.Clone(next)
	return ch, nil
}

// Rename is a model whose display name changed between two lists.
type Rename struct {
	ID, Before, After string
}

// Changes is the difference between two model lists.
type Changes struct {
	Added   []string // ids only in the new list, in its order
	Removed []string // ids only in the old list, in its order
	Renamed []Rename // ids in both whose non-empty old name differs, in the new list's order
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Renamed) == 0
}

// Diff compares two model lists by id. A model whose old name was empty
// (never normalized) is not reported as renamed.
func Diff(prev, next []Model) Changes {
	old := make(map[string]string, len(prev))
	for _, m := range slices.Backward(prev) { // the first of an id wins
		old[m.ID] = m.Name
	}
	var c Changes
	cur := make(map[string]struct{}, len(next))
	for _, m := range next {
		if _, dup := cur[m.ID]; dup {
			continue
		}
		cur[m.ID] = struct{}{}
		before, ok := old[m.ID]
		switch {
		case !ok:
			c.Added = append(c.Added, m.ID)
		case before != "" && before != m.Name:
			c.Renamed = append(c.Renamed, Rename{ID: m.ID, Before: before, After: m.Name})
		}
	}
	for _, m := range prev {
		if _, ok := cur[m.ID]; !ok {
			c.Removed = append(c.Removed, m.ID)
			cur[m.ID] = struct{}{} // report a duplicated old id once
		}
	}
	return c
}
