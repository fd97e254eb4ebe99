package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// maxModelsFile bounds the models file, read and written. A gateway's
// answer is bounded (8 MiB) and so is the list kept of it (maxModels), so
// this is never reached by a list the sidecar keeps.
const maxModelsFile = 16 << 20

// hasModels reports whether st holds anything of the models file.
func hasModels(st State) bool {
	return len(st.Models) > 0 || !st.LastSyncAt.IsZero() || st.LastError != ""
}

// loadModels reads the models file (a State of which only the models part
// is kept); false when it is missing or unusable (a broken one is set aside
// with a warning).
func (e *Entry) loadModels() (State, bool) {
	return e.readState(e.modelsPath, maxModelsFile, "models cache file")
}

// SaveModels replaces the provider's model list (JSON), the time of the
// sync and the last sync error in the models file. It never touches the
// credentials file or its lock; concurrent writers replace each other's
// file atomically.
func (e *Entry) SaveModels(models json.RawMessage, syncedAt time.Time, lastError string) error {
	return e.saveModels(State{Models: models, LastSyncAt: syncedAt.UTC(), LastError: lastError})
}

// RecordModelError keeps the list and sets the last sync error.
func (e *Entry) RecordModelError(msg string) error {
	m, _ := e.loadModels()
	m.LastError = msg
	return e.saveModels(m)
}

// saveModels writes the models part of m to the models file, named like
// the credentials.
func (e *Entry) saveModels(m State) error {
	data, err := json.Marshal(State{Version: Version, ProviderID: e.providerID, Key: e.key, Models: m.Models, LastSyncAt: m.LastSyncAt, LastError: m.LastError})
	if err != nil {
		return fmt.Errorf("encode models of %s: %w", e.providerID, err)
	}
	if len(data) > maxModelsFile {
		return fmt.Errorf("models of %s: %d bytes is more than the models file holds (%d)", e.providerID, len(data), maxModelsFile)
	}
	if err := e.store.write(e.modelsPath, data); err != nil {
		return fmt.Errorf("models cache file for %s: %w", e.providerID, err)
	}
	return nil
}
