package models

// Merge builds the value of OpenCode's provider.<id>.models from the models
// the user declared in opencode.json (that object as decoded from JSON; nil
// is fine) and the discovered models.
//
//   - A discovered model becomes {"name": <Name>} plus, when the gateway
//     reported a limit, "limit": {"context": n, "output": n} (OpenCode's
//     schema wants both numbers; 0 is its "unknown"). An empty Name falls
//     back to DisplayName(id, nil).
//   - A model the user declared keeps every field the user set: their
//     "name" (and anything else) wins over ours; ours only fill fields the
//     user left out or set to null, and inside "limit" the keys they left
//     out. A user entry that is not an object is kept as it is.
//   - User models the gateway did not list are kept.
//
// Of duplicate discovered ids the first is used. Merge does not modify its
// arguments: user values are deep-copied, so the result can be changed or
// encoded freely. The result depends only on the arguments.
func Merge(user map[string]any, discovered []Model) map[string]any {
	out := make(map[string]any, len(user)+len(discovered))
	for id, v := range user {
		out[id] = cloneJSON(v)
	}
	done := make(map[string]struct{}, len(discovered))
	for _, m := range discovered {
		if _, dup := done[m.ID]; dup {
			continue
		}
		done[m.ID] = struct{}{}
		ours := entryFor(m)
		// A user value that is not an object stands (config validation
		// reports it).
		switch u := out[m.ID].(type) {
		case nil:
			out[m.ID] = ours
		case map[string]any:
			fillMissing(u, ours)
		}
	}
	return out
}

// entryFor is the OpenCode model entry for a discovered model.
func entryFor(m Model) map[string]any {
	name := m.Name
	if name == "" {
		name = DisplayName(m.ID, nil)
	}
	e := map[string]any{"name": name}
	if m.ContextLength > 0 || m.MaxOutputTokens > 0 {
		e["limit"] = map[string]any{"context": m.ContextLength, "output": m.MaxOutputTokens}
	}
	return e
}

// fillMissing copies into dst the fields of src that dst lacks (or has as
// null); for "limit" objects on both sides it does the same one level down.
func fillMissing(dst, src map[string]any) {
	for k, v := range src {
		switch cur := dst[k].(type) {
		case nil: // missing, or null
			dst[k] = v
		case map[string]any:
			if ours, ok := v.(map[string]any); ok && k == "limit" {
				fillMissing(cur, ours)
			}
		}
	}
}

// cloneJSON deep-copies a value decoded by encoding/json.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, x := range t {
			c[k] = cloneJSON(x)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = cloneJSON(x)
		}
		return c
	default:
		return v
	}
}
