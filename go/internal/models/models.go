// Package models discovers the models an OpenAI-compatible gateway serves and
// turns them into OpenCode provider model entries.
//
// The pieces, each usable alone:
//
//   - URL derives the models endpoint from a provider's baseURL (the original
//     plugin's rule: ".../v1" gets "/models", anything else "/v1/models"), or
//     validates an explicit override.
//   - Fetcher.Fetch GETs that endpoint with the provider's Authorization
//     value under the caller's context, bounds the body, and returns a List.
//     Errors never carry a credential: the URL is redacted and a gateway's
//     error body is reduced to a short scrubbed preview (see HTTPError).
//   - Fetch accepts a top-level array or {"data": [...]}, skips entries
//     without a string id, drops ids OpenCode cannot hold safely (Object.prototype
//     names, control and bidirectional characters: see Unsafe), keeps the
//     first of duplicate ids and extracts the
//     metadata OpenCode can use (context and output token limits).
//   - DisplayName turns an id into a display name (glm-5 → "GLM 5",
//     qwen2-72b-instruct → "Qwen2 72B Instruct"), honouring nameOverrides.
//   - Diff reports added, removed and renamed models between two lists.
//   - Merge builds OpenCode's provider.<id>.models object; whatever the user
//     declared in opencode.json wins over what was discovered.
//   - Catalog keeps the last good list of one provider: a failed or empty
//     sync never replaces it.
//   - Scheduler re-runs a sync periodically, with jittered exponential
//     backoff after failures, until its context is cancelled.
//
// The package holds no global mutable state and performs no I/O other than
// the HTTP request in Fetch.
package models

import (
	"log/slog"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// Model is one model a gateway serves. Zero numeric fields mean "not
// reported by the gateway". Its JSON form (snake_case, zero fields omitted)
// is stable, for caches.
type Model struct {
	ID              string `json:"id"`                          // the id the gateway expects in requests, verbatim
	Name            string `json:"name,omitempty"`              // display name (see Normalize); empty until normalized
	OwnedBy         string `json:"owned_by,omitempty"`          // owned_by, as reported
	ContextLength   int    `json:"context_length,omitempty"`    // context window in tokens
	MaxOutputTokens int    `json:"max_output_tokens,omitempty"` // largest completion in tokens
	Created         int64  `json:"created,omitempty"`           // created, Unix seconds, as reported
}

// List is the outcome of parsing one models response.
type List struct {
	Models     []Model // in the gateway's order, unique ids
	Skipped    int     // entries without a non-empty string id
	Unsafe     int     // ids OpenCode cannot hold safely (see Unsafe), dropped
	Duplicates int     // entries whose id was already seen (the first is kept)
}

// Normalize sets the display name of every model: overrides[id] when
// non-empty, otherwise DisplayName's normalization of the id; control and
// bidirectional characters are removed (redact.Clean).
func Normalize(ms []Model, overrides map[string]string) {
	for i := range ms {
		ms[i].Name = redact.Clean(DisplayName(ms[i].ID, overrides), 0)
	}
}

// prototypeNames are the members of JavaScript's Object.prototype. OpenCode
// keeps models in plain objects keyed by id: an id equal to one of these
// reads the inherited member instead of a model (or, for __proto__,
// replaces the prototype), and `opencode models` fails.
var prototypeNames = map[string]struct{}{
	"__proto__": {}, "constructor": {}, "hasOwnProperty": {}, "isPrototypeOf": {},
	"propertyIsEnumerable": {}, "toLocaleString": {}, "toString": {}, "valueOf": {},
	"__defineGetter__": {}, "__defineSetter__": {}, "__lookupGetter__": {}, "__lookupSetter__": {},
}

// MaxIDLength bounds a model id in bytes; real ids (ARNs, paths with an
// organisation) stay well below it, and it keeps one entry from filling
// the answer to OpenCode.
const MaxIDLength = 512

// Unsafe reports whether OpenCode cannot hold a model id safely: a member
// name of Object.prototype, an id longer than MaxIDLength, or an id with a
// character that changes what a terminal shows (redact.Unprintable). Such ids
// are dropped, never repaired: a repaired id would not be the one the
// gateway expects.
func Unsafe(id string) bool {
	_, proto := prototypeNames[id]
	return proto || len(id) > MaxIDLength || !redact.Printable(id)
}

// Screen keeps the models OpenCode can hold safely, at most limit of them,
// their display names and owners made safe for a terminal; what it drops
// (unsafe counted before, by the parser, and here) is logged once, naming
// the provider and the source of the list.
func Screen(log *slog.Logger, providerID, source string, ms []Model, unsafe, limit int) []Model {
	kept := ms[:0:0]
	for _, m := range ms {
		if Unsafe(m.ID) {
			unsafe++
			continue
		}
		m.Name = redact.Clean(m.Name, 0)
		m.OwnedBy = redact.Clean(m.OwnedBy, 0)
		kept = append(kept, m)
	}
	if unsafe > 0 {
		log.Warn("model ids OpenCode cannot hold safely were dropped (Object.prototype names, control or bidirectional characters)",
			"provider", providerID, "source", source, "dropped", unsafe)
	}
	if len(kept) > limit {
		log.Warn("more models than maxModels; keeping the first ones", "provider", providerID, "source", source,
			"listed", len(kept), "kept", limit, "dropped", len(kept)-limit)
		kept = kept[:limit:limit]
	}
	return kept
}
