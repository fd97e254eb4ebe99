package models

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name       string
		prev, next []Model
		want       Changes
	}{
		{"nothing", nil, nil, Changes{}},
		{"first sync", nil, []Model{{ID: "b", Name: "B"}, {ID: "a", Name: "A"}}, Changes{Added: []string{"b", "a"}}},
		{"all gone", []Model{{ID: "a"}, {ID: "b"}}, nil, Changes{Removed: []string{"a", "b"}}},
		{"same", []Model{{ID: "a", Name: "A"}}, []Model{{ID: "a", Name: "A"}}, Changes{}},
		{"mixed", []Model{{ID: "a", Name: "A"}, {ID: "b", Name: "B"}, {ID: "c", Name: "C"}},
			[]Model{{ID: "d", Name: "D"}, {ID: "c", Name: "C2"}, {ID: "a", Name: "A"}, {ID: "e"}},
			Changes{Added: []string{"d", "e"}, Removed: []string{"b"}, Renamed: []Rename{{ID: "c", Before: "C", After: "C2"}}}},
		{"an empty old name is not a rename", []Model{{ID: "a"}}, []Model{{ID: "a", Name: "A"}}, Changes{}},
		{"duplicates reported once", []Model{{ID: "a"}, {ID: "a"}}, []Model{{ID: "b"}, {ID: "b"}}, Changes{Added: []string{"b"}, Removed: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.prev, tt.next)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Empty(), got.Empty())
		})
	}
	assert.True(t, Changes{}.Empty())
	assert.False(t, Changes{Removed: []string{"x"}}.Empty())
}
