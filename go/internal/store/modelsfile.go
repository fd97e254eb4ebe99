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

// modelPart is what is kept about a provider's model list.
type modelPart struct {
	Models     json.RawMessage `json:"models,omitempty"`
	LastSyncAt time.Time       `json:"lastSyncAt,omitzero"`
	LastError  string          `json:"lastError,omitempty"`
}

func (p modelPart) empty() bool {
	return len(p.Models) == 0 && p.LastSyncAt.IsZero() && p.LastError == ""
}

// modelsFile is the models file's form: the part, named like the state.
type modelsFile struct {
	Version    int    `json:"version"`
	ProviderID string `json:"providerID"`
	Key        string `json:"key"`
	modelPart
}

// loadModels reads the models file; false when it is missing or unusable
// (a broken one is set aside with a warning).
func (e *Entry) loadModels() (modelPart, bool) {
	var f modelsFile
	if !e.readJSON(e.modelsPath, maxModelsFile, "models cache file", &f, func() string {
		switch {
		case f.Version != Version:
			return fmt.Sprintf("format %d, this build reads %d", f.Version, Version)
		case f.ProviderID != e.providerID || f.Key != e.key:
			return "belongs to another provider or configuration"
		}
		return ""
	}) {
		return modelPart{}, false
	}
	return f.modelPart, true
}

// SaveModels replaces the provider's model list (JSON), the time of the
// sync and the last sync error in the models file. It never touches the
// credentials file or its lock; concurrent writers replace each other's
// file atomically.
func (e *Entry) SaveModels(models json.RawMessage, syncedAt time.Time, lastError string) error {
	return e.saveModelPart(modelPart{Models: models, LastSyncAt: syncedAt.UTC(), LastError: lastError})
}

// RecordModelError keeps the list and sets the last sync error.
func (e *Entry) RecordModelError(msg string) error {
	part, _ := e.loadModels()
	part.LastError = msg
	return e.saveModelPart(part)
}

func (e *Entry) saveModelPart(part modelPart) error {
	data, err := json.Marshal(modelsFile{Version: Version, ProviderID: e.providerID, Key: e.key, modelPart: part})
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
