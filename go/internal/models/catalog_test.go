package models

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCatalog(t *testing.T) {
	initial := []Model{{ID: "a", Name: "A"}}
	c := NewCatalog(initial)
	initial[0].Name = "changed by the caller"
	assert.Equal(t, []Model{{ID: "a", Name: "A"}}, c.Models(), "NewCatalog copies")

	got := c.Models()
	got[0].Name = "changed"
	assert.Equal(t, "A", c.Models()[0].Name, "Models returns a copy")

	ch, err := c.Update([]Model{{ID: "a", Name: "A2"}, {ID: "b", Name: "B"}})
	require.NoError(t, err)
	assert.Equal(t, Changes{Added: []string{"b"}, Renamed: []Rename{{ID: "a", Before: "A", After: "A2"}}}, ch)

	_, err = c.Update(nil)
	require.ErrorIs(t, err, ErrEmpty)
	assert.Len(t, c.Models(), 2, "an empty answer keeps the last good list")

	var zero Catalog
	assert.Empty(t, zero.Models())
}

func TestCatalogConcurrentUse(t *testing.T) {
	c := NewCatalog(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if i%2 == 0 {
					_, _ = c.Update([]Model{{ID: "m", Name: string(rune('A' + j%26))}})
				} else {
					_ = c.Models()
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, c.Models(), 1)
}

func TestModelJSONIsStable(t *testing.T) {
	m := Model{ID: "glm-5", Name: "GLM 5", OwnedBy: "zhipu", ContextLength: 200000, MaxOutputTokens: 32000, Created: 1}
	b, err := json.Marshal([]Model{m, {ID: "bare"}})
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":"glm-5","name":"GLM 5","owned_by":"zhipu","context_length":200000,"max_output_tokens":32000,"created":1},{"id":"bare"}]`, string(b))
	var back []Model
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, []Model{m, {ID: "bare"}}, back)
}
