package models

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
	for _, m := range prev {
		if _, dup := old[m.ID]; !dup {
			old[m.ID] = m.Name
		}
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
