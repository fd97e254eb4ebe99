package models

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decode turns a JSON object into the map[string]any a config decode gives.
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestMerge(t *testing.T) {
	discovered := []Model{
		{ID: "glm-5", Name: "GLM 5", ContextLength: 200000, MaxOutputTokens: 32000},
		{ID: "gpt-4o-mini", Name: "GPT 4o Mini", ContextLength: 128000},
		{ID: "qwen2-72b-instruct"}, // no name yet: normalized on the way
		{ID: "glm-5", Name: "Duplicate"},
	}
	tests := []struct {
		name string
		user string
		want string
	}{
		{"no user models", `null`, `{
			"glm-5": {"name": "GLM 5", "limit": {"context": 200000, "output": 32000}},
			"gpt-4o-mini": {"name": "GPT 4o Mini", "limit": {"context": 128000, "output": 0}},
			"qwen2-72b-instruct": {"name": "Qwen2 72B Instruct"}}`},
		{"user fields win", `{
			"glm-5": {"name": "My GLM", "temperature": false, "limit": {"context": 100000}, "options": {"x": [1, {"y": 2}]}},
			"gpt-4o-mini": {"name": null, "tool_call": true, "limit": {"context": 64000, "output": 4096}},
			"qwen2-72b-instruct": {"id": "qwen2-72b-instruct-awq"}}`, `{
			"glm-5": {"name": "My GLM", "temperature": false, "limit": {"context": 100000, "output": 32000}, "options": {"x": [1, {"y": 2}]}},
			"gpt-4o-mini": {"name": "GPT 4o Mini", "tool_call": true, "limit": {"context": 64000, "output": 4096}},
			"qwen2-72b-instruct": {"id": "qwen2-72b-instruct-awq", "name": "Qwen2 72B Instruct"}}`},
		{"user models not discovered are kept", `{"custom": {"name": "Custom"}, "odd": true, "nothing": null}`, `{
			"custom": {"name": "Custom"}, "odd": true, "nothing": null,
			"glm-5": {"name": "GLM 5", "limit": {"context": 200000, "output": 32000}},
			"gpt-4o-mini": {"name": "GPT 4o Mini", "limit": {"context": 128000, "output": 0}},
			"qwen2-72b-instruct": {"name": "Qwen2 72B Instruct"}}`},
		{"non-object user entries stand, null ones are filled", `{"glm-5": "oops", "gpt-4o-mini": null, "qwen2-72b-instruct": {"limit": "big"}}`, `{
			"glm-5": "oops",
			"gpt-4o-mini": {"name": "GPT 4o Mini", "limit": {"context": 128000, "output": 0}},
			"qwen2-72b-instruct": {"limit": "big", "name": "Qwen2 72B Instruct"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := decode(t, `{"v":`+tt.user+`}`)["v"]
			userMap, _ := user.(map[string]any)
			before, err := json.Marshal(userMap)
			require.NoError(t, err)

			got := Merge(userMap, discovered)

			gotJSON, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(gotJSON))
			after, err := json.Marshal(userMap)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "the user's models are not modified")
		})
	}
}

func TestMergeResultIsIndependentOfItsInputs(t *testing.T) {
	user := decode(t, `{"a": {"name": "A", "limit": {"context": 1}, "tags": ["x"]}}`)
	got := Merge(user, []Model{{ID: "a", ContextLength: 5, MaxOutputTokens: 6}})
	got["a"].(map[string]any)["limit"].(map[string]any)["context"] = 99.0
	got["a"].(map[string]any)["tags"].([]any)[0] = "changed"
	assert.Equal(t, 1.0, user["a"].(map[string]any)["limit"].(map[string]any)["context"])
	assert.Equal(t, "x", user["a"].(map[string]any)["tags"].([]any)[0])
}

func TestMergeIsDeterministic(t *testing.T) {
	discovered := make([]Model, 300)
	for i := range discovered {
		discovered[i] = Model{ID: DisplayName(string(rune('a'+i%26)), nil) + "-" + string(rune('0'+i%10)) + "-" + string(rune('a'+i/26)), ContextLength: i}
	}
	user := decode(t, `{"A-0-a": {"name": "mine"}, "zzz": {}}`)
	first, err := json.Marshal(Merge(user, discovered))
	require.NoError(t, err)
	for range 5 {
		again, err := json.Marshal(Merge(user, discovered))
		require.NoError(t, err)
		assert.Equal(t, string(first), string(again))
	}
	assert.Empty(t, Merge(nil, nil))
}
