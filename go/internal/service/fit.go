package service

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// frameBudget is what a config/apply result may take of one protocol frame
// (protocol.MaxFrame), leaving room for the JSON-RPC envelope.
const frameBudget = protocol.MaxFrame - 64<<10

// fitFrame keeps the config/apply answer within one protocol frame, so that
// it can never fail as a whole because of one provider: while the encoded
// answer is over limit, the provider whose models take the most room keeps
// only the models its user declared, and a problem names it. user is each
// provider's entry as the user wrote it.
func fitFrame(log *slog.Logger, out *protocol.ConfigApplyResult, user map[string]map[string]any, limit int) {
	total := encodedSize(out)
	if total <= limit {
		return
	}
	sizes := make(map[string]int, len(out.Providers))
	for id, entry := range out.Providers {
		sizes[id] = encodedSize(entry["models"])
	}
	for total > limit && len(sizes) > 0 {
		largest, most := "", -1
		for id, n := range sizes {
			if n > most || (n == most && id < largest) {
				largest, most = id, n
			}
		}
		delete(sizes, largest)
		var declared map[string]any
		if m, ok := user[largest]["models"].(map[string]any); ok {
			declared = m
		}
		entry := out.Providers[largest]
		entry["models"] = models.Merge(declared, nil)
		total += encodedSize(entry["models"]) - most
		msg := fmt.Sprintf("provider %q: its model list (%d bytes) does not fit into the answer to OpenCode (at most %d bytes in all); "+
			"it is registered with the models declared in opencode.json only; lower maxModels", largest, most, limit)
		out.Problems = append(out.Problems, protocol.Problem{
			ProviderID: largest, Field: "provider." + largest + ".models", Expected: "a model list that fits into one protocol frame",
			Found: fmt.Sprintf("%d bytes", most), Severity: string(config.SeverityWarning), Message: msg,
		})
		log.Warn("a provider's model list was left out of the answer to OpenCode: too large", "provider", largest, "bytes", most)
	}
}

func encodedSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}
