package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// Parse is parse with the package's prefix on its errors (as Fetch's
// errors carry it).
func Parse(body []byte) (List, error) {
	l, err := parse(body)
	if err != nil {
		return List{}, fmt.Errorf("models: %w", err)
	}
	return l, nil
}

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want List
	}{
		{"openai object", `{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}]}`,
			List{Models: []Model{{ID: "gpt-4o", OwnedBy: "system", Created: 1715367049}}}},
		{"top-level array", `[{"id":"a"},{"id":"b"}]`, List{Models: []Model{{ID: "a"}, {ID: "b"}}}},
		{"empty data", `{"data":[]}`, List{Models: []Model{}}},
		{"empty array", ` [ ] `, List{Models: []Model{}}},
		{"byte order mark", "\xef\xbb\xbf[{\"id\":\"a\"}]", List{Models: []Model{{ID: "a"}}}},
		{"duplicates keep the first", `[{"id":"a","owned_by":"first"},{"id":"b"},{"id":"a","owned_by":"second"}]`,
			List{Models: []Model{{ID: "a", OwnedBy: "first"}, {ID: "b"}}, Duplicates: 1}},
		{"entries without a usable id", `[{"id":""},{"id":7},{"id":null},{},{"name":"x"},"c",3,null,[],true,{"id":"ok"}]`,
			List{Models: []Model{{ID: "ok"}}, Skipped: 10}},
		{"ids with slashes colons dots", `{"data":[{"id":"meta-llama/Llama-3.1-8B-Instruct"},{"id":"deepseek-r1:14b"},{"id":"kimi-k2.6"}]}`,
			List{Models: []Model{{ID: "meta-llama/Llama-3.1-8B-Instruct"}, {ID: "deepseek-r1:14b"}, {ID: "kimi-k2.6"}}}},
		{"id kept verbatim", `[{"id":" spaced id "}]`, List{Models: []Model{{ID: " spaced id "}}}},
		{"wrong owned_by type", `[{"id":"a","owned_by":{"org":"x"}}]`, List{Models: []Model{{ID: "a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name        string
		entry       string
		ctx, output int
	}{
		{"openrouter", `"context_length":131072,"top_provider":{"context_length":65536,"max_completion_tokens":8192}`, 131072, 8192},
		{"openrouter top_provider only", `"top_provider":{"context_length":65536,"max_completion_tokens":null}`, 65536, 0},
		{"groq", `"context_window":32768,"max_completion_tokens":4096`, 32768, 4096},
		{"vllm", `"max_model_len":16384`, 16384, 0},
		{"lm studio", `"max_context_length":4096`, 4096, 0},
		{"max_output_tokens first", `"max_output_tokens":100,"max_completion_tokens":200`, 0, 100},
		{"context_length first", `"context_length":1,"context_window":2,"max_context_length":3,"max_model_len":4`, 1, 0},
		{"numeric strings", `"context_length":" 200000 ","max_output_tokens":"64000"`, 200000, 64000},
		{"integral float", `"context_length":131072.0,"max_output_tokens":1.6384e4`, 131072, 16384},
		{"fraction ignored", `"context_length":1000.5`, 0, 0},
		{"zero falls through", `"context_length":0,"context_window":8192`, 8192, 0},
		{"negative ignored", `"context_length":-1,"max_output_tokens":-5`, 0, 0},
		{"too large ignored", `"context_length":1e300,"context_window":99999999999,"max_model_len":4096`, 4096, 0},
		{"garbage ignored", `"context_length":"lots","context_window":true,"max_model_len":[1],"max_output_tokens":{"a":1},"top_provider":"x"`, 0, 0},
		{"NaN string ignored", `"context_length":"NaN","max_output_tokens":"Infinity"`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(`{"data":[{"id":"m",` + tt.entry + `}]}`))
			require.NoError(t, err)
			require.Len(t, got.Models, 1)
			assert.Equal(t, tt.ctx, got.Models[0].ContextLength, "context")
			assert.Equal(t, tt.output, got.Models[0].MaxOutputTokens, "output")
		})
	}
	got, err := Parse([]byte(`[{"id":"m","created":"1715367049"},{"id":"n","created":-3}]`))
	require.NoError(t, err)
	assert.Equal(t, int64(1715367049), got.Models[0].Created)
	assert.Zero(t, got.Models[1].Created)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty body", ``, "models: empty response body"},
		{"white space", " \n\t", "models: empty response body"},
		{"string", `"models"`, "found a string"},
		{"number", `42`, "found a number"},
		{"null", `null`, "found null"},
		{"boolean", `true`, "found a boolean"},
		{"empty object", `{}`, "found an empty object"},
		{"error object", `{"error":{"message":"nope"},"status":401}`, `found an object without a data array (keys: "error", "status")`},
		{"many keys", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7}`, `(keys: "a", "b", "c", "d", "e" and 2 more)`},
		{"data object", `{"data":{"id":"x"}}`, `found an object whose "data" is an object`},
		{"data null", `{"data":null}`, `found an object whose "data" is null`},
		{"data string", `{"data":"x"}`, `found an object whose "data" is a string`},
		{"truncated array", `[{"id":"a"},`, "models: malformed JSON"},
		{"truncated object", `{"data":[`, "models: malformed JSON"},
		{"trailing garbage", `[{"id":"a"}] x`, "models: malformed JSON"},
		{"html", `<!DOCTYPE html><html>login</html>`, "models: malformed JSON"},
		{"bare word", `nope`, "models: malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"object":"list","data":[{"id":"gpt-4o","created":1,"owned_by":"system","context_length":128000}]}`,
		`[{"id":"a"},{"id":"a"},{"id":3},"x",null]`,
		`{"data":null}`, `{"error":"x"}`, `[`, ``, `"s"`,
		`[{"id":"m","top_provider":{"context_length":"8192","max_completion_tokens":1e3}}]`,
		`{"data":[{"\u0069d":"\ud83d\ude00\ud800x","id":"b","ID":"c"}],"Data":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := Parse(body)
		want, ok := referenceParse(body)
		if !ok {
			if err == nil {
				t.Fatalf("Parse accepted %q: %+v", body, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Parse(%q) failed on an accepted document: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q)\n got %+v\nwant %+v", body, got, want)
		}
	})
}

func TestParseMatchesReference(t *testing.T) {
	for _, body := range []string{
		`{"data":[{"\u0069d":"\ud83d\ude00\ud800x\u00e9\/","id":"b"}]}`,
		"[{\"id\":\"\xff\xfeok\"},{\"id\":\"\\udc00\\ud800\\u0041\"}]",
		`{"data":[{"id":"a"}],"data":"x"}`,
		`{"data":"x","data":[{"id":"a"}]}`,
		`[{"id":"a","id":1},{"id":1,"id":"b"},{"id":"c","top_provider":{"context_length":9},"top_provider":null}]`,
		`[{"id":"a","context_length":5,"context_length":"x"}]`,
		`{"DATA":[{"id":"a"}]}`,
		`[{"ID":"a"}]`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`[-0, 0.5e+3, 1E-2, -]`, `[01]`, `[1.]`, `[.5]`, `[tru]`, `[nul]`, `["a\x"]`, "[\"\t\"]", `["\u12"]`,
		`[{"id":"a",}]`, `[1,]`, `{"a" 1}`, `{,}`, `[] []`, " [] \n",
	} {
		got, err := Parse([]byte(body))
		want, ok := referenceParse([]byte(body))
		if !ok {
			assert.Error(t, err, "%.60q", body)
			continue
		}
		if assert.NoError(t, err, "%.60q", body) {
			assert.Equal(t, want, got, "%.60q", body)
		}
	}
}

// referenceParse is Parse restated over encoding/json's generic decoding:
// the oracle of the scanner.
func referenceParse(body []byte) (List, bool) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if !json.Valid(body) {
		return List{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return List{}, false
	}
	var entries []any
	switch t := v.(type) {
	case []any:
		entries = t
	case map[string]any:
		d, ok := t["data"].([]any)
		if !ok {
			return List{}, false
		}
		entries = d
	default:
		return List{}, false
	}
	l := List{Models: []Model{}}
	seen := map[string]bool{}
	for _, e := range entries {
		obj, _ := e.(map[string]any)
		id, _ := obj["id"].(string)
		switch {
		case id == "":
			l.Skipped++
			continue
		case Unsafe(id):
			l.Unsafe++
			continue
		case seen[id]:
			l.Duplicates++
			continue
		}
		seen[id] = true
		top, _ := obj["top_provider"].(map[string]any)
		m := Model{ID: id, Created: int64(refCount(obj["created"]))}
		owner, _ := obj["owned_by"].(string)
		m.OwnedBy = redact.Clean(owner, 0)
		m.ContextLength = firstPositive(refCount(obj["context_length"]), refCount(obj["context_window"]),
			refCount(obj["max_context_length"]), refCount(obj["max_model_len"]), refCount(top["context_length"]))
		m.MaxOutputTokens = firstPositive(refCount(obj["max_output_tokens"]), refCount(obj["max_completion_tokens"]),
			refCount(top["max_completion_tokens"]))
		l.Models = append(l.Models, m)
	}
	return l, true
}

func refCount(v any) number {
	switch t := v.(type) {
	case json.Number:
		return parseNumber(string(t))
	case string:
		return parseNumber(strings.TrimSpace(t))
	}
	return 0
}
