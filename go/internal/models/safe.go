package models

import (
	"log/slog"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

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
	if _, ok := prototypeNames[id]; ok || len(id) > MaxIDLength {
		return true
	}
	return !redact.Printable(id)
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
