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
