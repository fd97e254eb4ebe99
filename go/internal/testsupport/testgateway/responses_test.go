package testgateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseEvent is one server-sent event of a /v1/responses stream.
type sseEvent struct {
	name string
	data map[string]any
	raw  string
}

// parseResponsesSSE splits a Responses stream into events and checks its framing:
// every event is exactly `event: <type>` and one `data: <JSON>` line.
func parseResponsesSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	require.True(t, strings.HasSuffix(body, "\n\n"), "the stream ends with a blank line")
	var out []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		require.Len(t, lines, 2, "event %q", block)
		require.True(t, strings.HasPrefix(lines[0], "event: "), lines[0])
		require.True(t, strings.HasPrefix(lines[1], "data: "), lines[1])
		raw := strings.TrimPrefix(lines[1], "data: ")
		var data map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &data), raw)
		out = append(out, sseEvent{name: strings.TrimPrefix(lines[0], "event: "), data: data, raw: raw})
	}
	return out
}

const responsesBody = `{"model":"gpt-4o-mini","stream":true,"store":false,"instructions":"You are a helpful assistant",` +
	`"input":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"input_text","text":"say hi please"}]}]}`

const responsesReasoningBody = `{"model":"gpt-4o-mini","stream":true,"reasoning":{"effort":"low","summary":"auto"},` +
	`"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}`

func types(events []sseEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.name
	}
	return out
}

// index is the number at key, or -1 when absent.
func index(e sseEvent, key string) int {
	v, ok := e.data[key].(float64)
	if !ok {
		return -1
	}
	return int(v)
}

func TestResponsesStream(t *testing.T) {
	iss := newFakeIssuer(t)
	g, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.ChunkDelay = time.Millisecond })
	resp, body := do(t, http.MethodPost, srv.URL+"/v1/responses", iss.token(t, nil), responsesBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Get("Content-Length"))

	events := parseResponsesSSE(t, string(body))
	deltas := len(splitChunks(Greeting("alice")))
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	for range deltas {
		want = append(want, "response.output_text.delta")
	}
	want = append(want, "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed")
	assert.Equal(t, want, types(events))

	var text strings.Builder
	msgID := ""
	for i, e := range events {
		assert.Equal(t, e.name, e.data["type"], "event: names the type")
		assert.Equal(t, float64(i), e.data["sequence_number"])
		switch e.name {
		case "response.created", "response.in_progress", "response.completed":
			assert.Equal(t, -1, index(e, "output_index"))
			continue
		case "response.output_item.added", "response.output_item.done":
			item := e.data["item"].(map[string]any)
			assert.Equal(t, "message", item["type"])
			msgID = item["id"].(string)
			assert.NotContains(t, e.data, "content_index")
		default:
			assert.Equal(t, msgID, e.data["item_id"])
			assert.Equal(t, 0, index(e, "content_index"), e.raw)
		}
		assert.Equal(t, 0, index(e, "output_index"), e.raw)
		assert.NotContains(t, e.data, "summary_index")
		if e.name == "response.output_text.delta" {
			text.WriteString(e.data["delta"].(string))
		}
	}
	assert.True(t, strings.HasPrefix(msgID, "msg_"))
	assert.Equal(t, "Hello from the OAuth gateway, alice!", text.String())
	assert.Equal(t, text.String(), events[len(events)-4].data["text"])

	done := events[len(events)-1].data["response"].(map[string]any)
	assert.Equal(t, "completed", done["status"])
	assert.Equal(t, "gpt-4o-mini", done["model"])
	assert.True(t, strings.HasPrefix(done["id"].(string), "resp_"))
	assert.Equal(t, events[0].data["response"].(map[string]any)["id"], done["id"])
	usage := done["usage"].(map[string]any)
	assert.Equal(t, float64(6), usage["output_tokens"])
	assert.Equal(t, usage["input_tokens"].(float64)+usage["output_tokens"].(float64), usage["total_tokens"])
	output := done["output"].([]any)
	require.Len(t, output, 1)
	assert.Equal(t, "Hello from the OAuth gateway, alice!", output[0].(map[string]any)["content"].([]any)[0].(map[string]any)["text"])

	st := g.Stats()
	assert.Equal(t, 1, st.ResponsesRequests)
	assert.Equal(t, 1, st.StreamRequests)
	assert.Equal(t, 0, st.ChatRequests)
	assert.Equal(t, "gpt-4o-mini", st.LastModel)
	assert.Equal(t, `model=gpt-4o-mini stream=true keys=[input,instructions,model,store,stream] input=2 items [developer,user] instructions=true reasoning={none} tools=0`,
		st.LastResponsesRequest)
}

func TestResponsesStreamReasoning(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	resp, body := do(t, http.MethodPost, srv.URL+"/v1/responses", iss.token(t, nil), responsesReasoningBody)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	events := parseResponsesSSE(t, string(body))

	var summary, text strings.Builder
	for _, e := range events {
		switch {
		case strings.HasPrefix(e.name, "response.reasoning_summary_"):
			assert.Equal(t, 0, index(e, "output_index"), e.raw)
			assert.Equal(t, 0, index(e, "summary_index"), e.raw)
			assert.True(t, strings.HasPrefix(e.data["item_id"].(string), "rs_"))
			if e.name == "response.reasoning_summary_text.delta" {
				summary.WriteString(e.data["delta"].(string))
			}
		case strings.HasPrefix(e.name, "response.output_text."), strings.HasPrefix(e.name, "response.content_part."):
			assert.Equal(t, 1, index(e, "output_index"), e.raw)
			assert.Equal(t, 0, index(e, "content_index"), e.raw)
			if e.name == "response.output_text.delta" {
				text.WriteString(e.data["delta"].(string))
			}
		}
	}
	assert.Equal(t, ReasoningSummary, summary.String())
	assert.Equal(t, "Hello from the OAuth gateway, alice!", text.String())
	added := []string{}
	for _, e := range events {
		if e.name == "response.output_item.added" {
			added = append(added, fmt.Sprintf("%d:%s", index(e, "output_index"), e.data["item"].(map[string]any)["type"]))
		}
	}
	assert.Equal(t, []string{"0:reasoning", "1:message"}, added)
	assert.Contains(t, types(events), "response.reasoning_summary_part.added")
	assert.Contains(t, types(events), "response.reasoning_summary_part.done")
	usage := events[len(events)-1].data["response"].(map[string]any)["usage"].(map[string]any)
	assert.Positive(t, usage["output_tokens_details"].(map[string]any)["reasoning_tokens"])
}

// TestResponsesOmitIndices: the three ways to switch the style give the same events
// as the conformant stream minus every index field.
func TestResponsesOmitIndices(t *testing.T) {
	iss := newFakeIssuer(t)
	strip := func(events []sseEvent) []string {
		out := []string{}
		for _, e := range events {
			out = append(out, e.name)
		}
		return out
	}
	_, conformant := newTestGateway(t, iss.srv.URL, nil)
	_, cbody := do(t, http.MethodPost, conformant.URL+"/v1/responses", iss.token(t, nil), responsesReasoningBody)
	want := parseResponsesSSE(t, string(cbody))

	check := func(t *testing.T, url string) {
		t.Helper()
		resp, body := do(t, http.MethodPost, url+"/v1/responses", iss.token(t, nil), responsesReasoningBody)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		got := parseResponsesSSE(t, string(body))
		assert.Equal(t, strip(want), strip(got))
		for i, e := range got {
			for _, k := range []string{"output_index", "content_index", "summary_index"} {
				assert.NotContains(t, e.data, k, e.raw)
			}
			// Apart from the indices (and ids, times): the same event.
			w := want[i].data
			for _, k := range []string{"output_index", "content_index", "summary_index"} {
				delete(w, k)
			}
			assert.Equal(t, keys(w), keys(e.data), e.raw)
			assert.Equal(t, w["delta"], e.data["delta"])
		}
	}
	t.Run("option", func(t *testing.T) {
		_, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.ResponsesOmitIndices = true })
		check(t, srv.URL)
	})
	t.Run("setter", func(t *testing.T) {
		g, srv := newTestGateway(t, iss.srv.URL, nil)
		g.SetResponsesOmitIndices(true)
		check(t, srv.URL)
		g.SetResponsesOmitIndices(false)
		_, body := do(t, http.MethodPost, srv.URL+"/v1/responses", iss.token(t, nil), responsesBody)
		assert.Contains(t, string(body), `"output_index":0`)
	})
	t.Run("test route", func(t *testing.T) {
		_, srv := newTestGateway(t, iss.srv.URL, nil)
		resp, body := do(t, http.MethodPost, srv.URL+"/_test/responses", "", `{"omitIndices":true}`)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"omitIndices":true}`, string(body))
		check(t, srv.URL)
		_, body = do(t, http.MethodPost, srv.URL+"/_test/responses", "", ``)
		assert.JSONEq(t, `{"omitIndices":true}`, string(body), "an empty body only reads the style")
		_, body = do(t, http.MethodPost, srv.URL+"/_test/responses", "", `{"omitIndices":false}`)
		assert.JSONEq(t, `{"omitIndices":false}`, string(body))
		resp, _ = do(t, http.MethodPost, srv.URL+"/_test/responses", "", `{"omitIndices":"yes"}`)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}

func keys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

func TestResponsesNotStreamed(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	tok := iss.token(t, func(m *mint) { m.subject = ""; m.clientID = "cc-basic" })
	resp, body := do(t, http.MethodPost, srv.URL+"/v1/responses", tok, `{"model":"gpt-4o-mini","input":"hello there"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var r responseObject
	require.NoError(t, json.Unmarshal(body, &r))
	assert.Equal(t, "response", r.Object)
	assert.Equal(t, "completed", r.Status)
	require.Len(t, r.Output, 1)
	require.NotNil(t, r.Output[0].Content)
	assert.Equal(t, "Hello from the OAuth gateway, cc-basic!", (*r.Output[0].Content)[0].Text)
	require.NotNil(t, r.Usage)
	assert.Equal(t, 2, r.Usage.InputTokens)
}

func TestResponsesErrors(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	tests := []struct {
		name, body, code string
		status           int
	}{
		{"unknown model", `{"model":"nope","input":"hi","stream":true}`, "model_not_found", 404},
		{"no model", `{"input":"hi"}`, "missing_model", 400},
		{"no input", `{"model":"gpt-4o-mini"}`, "missing_input", 400},
		{"bad json", `{`, "invalid_json", 400},
		{"not an object", `[1]`, "invalid_json", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, srv.URL+"/v1/responses", iss.token(t, nil), tt.body)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			var e apiError
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Equal(t, tt.code, e.Error.Code)
		})
	}
	resp, _ := do(t, http.MethodPost, srv.URL+"/v1/responses", "", responsesBody)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// TestResponsesLog: one line per request describing its shape; no prompt text, no token.
func TestResponsesLog(t *testing.T) {
	iss := newFakeIssuer(t)
	var mu sync.Mutex
	var lines []string
	_, srv := newTestGateway(t, iss.srv.URL, func(o *Options) {
		o.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf(format, args...))
		}
	})
	tok := iss.token(t, nil)
	resp, _ := do(t, http.MethodPost, srv.URL+"/v1/responses", tok, responsesReasoningBody)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, lines, 1)
	assert.Equal(t, `POST /v1/responses: model=gpt-4o-mini stream=true keys=[input,model,reasoning,stream] input=1 items [user] instructions=false reasoning={effort="low" summary="auto"} tools=0`, lines[0])
	assert.NotContains(t, lines[0], tok)
}

// TestResponsesClientGoneStopsStream: a client that goes away mid-stream ends the
// handler (the test server's Close in the cleanup would otherwise wait for it).
func TestResponsesClientGoneStopsStream(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.ChunkDelay = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/responses", strings.NewReader(responsesBody))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+iss.token(t, nil))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the headers come at once")
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.Error(t, err, "the body is cut off by the client's deadline")
	assert.Contains(t, string(b), "response.output_item.added")
	assert.NotContains(t, string(b), "response.completed")
}
