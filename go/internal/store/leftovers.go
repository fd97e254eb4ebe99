package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Leftover is a credentials file of a provider that its current
// configuration no longer reads: written under another cache key (a scope
// or client changed since), set aside as invalid, or named as an earlier
// version named it. Logout removes these too, and revokes what they hold.
type Leftover struct {
	Path  string
	Token *Token // nil when the file holds none (or cannot be read)
}

// Leftovers lists the provider's credentials files other than the entry's
// own: every file named for the provider (as this version or an earlier one
// names it) whose content names the provider, or that cannot be read at all.
func (e *Entry) Leftovers() []Leftover {
	names, err := os.ReadDir(e.store.dir)
	if err != nil {
		return nil // a store in memory too: its dir is ""
	}
	prefixes := []string{fileBase(e.providerID) + "-", sanitize(e.providerID) + "-"}
	var out []Leftover
	for _, d := range names {
		name := d.Name()
		path := filepath.Join(e.store.dir, name)
		ours := slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
		if path == e.path || !d.Type().IsRegular() || !credentialsName(name) || !ours {
			continue
		}
		data, err := readFile(path, maxStateFile)
		if err != nil {
			continue // not ours to touch (another user's, a FIFO): the store refuses it too
		}
		var st State
		if json.Unmarshal(data, &st) != nil {
			if rest, ok := strings.CutPrefix(name, prefixes[0]); ok && !strings.Contains(rest, "-") {
				out = append(out, Leftover{Path: path}) // unreadable, named for this provider only
			}
			continue
		}
		if st.ProviderID == e.providerID {
			out = append(out, Leftover{Path: path, Token: st.Token})
		}
	}
	return out
}

// credentialsName is a credentials file's name, or one set aside: not a
// models file, a lock (<name>.json.lock) or a temporary file
// (<name>.json.<pid>.<random>.tmp).
func credentialsName(name string) bool {
	return !strings.Contains(name, ".models.json") && (strings.HasSuffix(name, ".json") || strings.Contains(name, ".json.invalid-"))
}

// RemoveLeftover deletes a leftover file.
func (e *Entry) RemoveLeftover(l Leftover) error {
	if err := os.Remove(l.Path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
