package service

import (
	"log/slog"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// screenModels is what one provider may contribute to OpenCode: ids
// OpenCode cannot hold safely are dropped (Fetch drops them from a
// gateway's answer and reports how many in unsafe; a cached list of an
// earlier version is screened here), and at most p.MaxModels models are
// kept, the first ones in the gateway's order. Each drop is a warning
// naming the provider.
func screenModels(log *slog.Logger, p config.Provider, ms []models.Model, unsafe int, what string) []models.Model {
	kept := ms[:0:0]
	for _, m := range ms {
		if models.Unsafe(m.ID) {
			unsafe++
			continue
		}
		m.Name = redact.Clean(m.Name, 0)
		m.OwnedBy = redact.Clean(m.OwnedBy, 0)
		kept = append(kept, m)
	}
	if unsafe > 0 {
		log.Warn("model ids OpenCode cannot hold safely were dropped (Object.prototype names, control or bidirectional characters)",
			"provider", p.ID, "source", what, "dropped", unsafe)
	}
	limit := p.MaxModels
	if limit <= 0 {
		limit = config.DefaultMaxModels
	}
	if len(kept) > limit {
		log.Warn("more models than maxModels; keeping the first ones", "provider", p.ID, "source", what,
			"listed", len(kept), "kept", limit, "dropped", len(kept)-limit)
		kept = kept[:limit:limit]
	}
	return kept
}
