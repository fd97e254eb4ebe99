package testgateway

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModels(t *testing.T) {
	iss := newFakeIssuer(t)
	tests := []struct {
		name      string
		opts      func(*Options)
		wantIDs   []string
		wantCount int
	}{
		{name: "default count", wantIDs: []string{"gpt-4o-mini", "qwen2-72b-instruct", "meta-llama/Llama-3.1-8B-Instruct"}},
		{name: "explicit list", opts: func(o *Options) { o.Models = []string{"a", "b/c"} }, wantIDs: []string{"a", "b/c"}},
		{name: "explicit empty list", opts: func(o *Options) { o.Models = []string{} }, wantIDs: []string{}},
		{name: "many generated", opts: func(o *Options) { o.ModelCount = 200 }, wantCount: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newTestGateway(t, iss.srv.URL, tt.opts)
			resp, body := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var list modelList
			require.NoError(t, json.Unmarshal(body, &list))
			assert.Equal(t, "list", list.Object)
			ids := make([]string, 0, len(list.Data))
			seen := map[string]bool{}
			for _, m := range list.Data {
				assert.Equal(t, "model", m.Object)
				assert.NotEmpty(t, m.OwnedBy)
				assert.False(t, seen[m.ID], "duplicate id %s", m.ID)
				seen[m.ID] = true
				ids = append(ids, m.ID)
			}
			if tt.wantIDs != nil {
				assert.Equal(t, tt.wantIDs, ids)
			} else {
				assert.Len(t, ids, tt.wantCount)
			}
		})
	}
}

func TestModelsFaults(t *testing.T) {
	iss := newFakeIssuer(t)
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		wantBody   string
		minElapsed time.Duration
	}{
		{name: "status and body", fault: Fault{Status: 503, Body: `{"error":"down"}`}, wantStatus: 503, wantBody: `{"error":"down"}`},
		{name: "malformed JSON", fault: Fault{MalformedJSON: true}, wantStatus: 200, wantBody: `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model",`},
		{name: "delay", fault: Fault{Delay: 200 * time.Millisecond}, wantStatus: 200, minElapsed: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newTestGateway(t, iss.srv.URL, nil)
			g.SetModelsFault(tt.fault)
			start := time.Now()
			resp, body := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
			assert.GreaterOrEqual(t, time.Since(start), tt.minElapsed)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			if tt.wantBody != "" {
				assert.Equal(t, tt.wantBody, string(body))
			}
			var v any
			if tt.fault.MalformedJSON {
				assert.Error(t, json.Unmarshal(body, &v))
			}

			g.SetModelsFault(Fault{})
			resp, body = do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.NoError(t, json.Unmarshal(body, &v))
		})
	}
}

func TestChatCompletion(t *testing.T) {
	iss := newFakeIssuer(t)
	tests := []struct {
		name       string
		body       string
		token      func() string
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{
			name:       "user token",
			body:       `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi there"}]}`,
			wantStatus: 200, wantText: "Hello from the OAuth gateway, alice!",
		},
		{
			name:       "content parts",
			body:       `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
			wantStatus: 200, wantText: "Hello from the OAuth gateway, alice!",
		},
		{
			name:       "machine token falls back to client_id",
			body:       `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			token:      func() string { return iss.token(t, func(m *mint) { m.subject = ""; m.clientID = "cc-basic" }) },
			wantStatus: 200, wantText: "Hello from the OAuth gateway, cc-basic!",
		},
		{name: "unknown model", body: `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "no messages", body: `{"model":"gpt-4o-mini","messages":[]}`, wantStatus: 400, wantCode: "missing_messages"},
		{name: "no model", body: `{"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantCode: "missing_model"},
		{name: "bad json", body: `{`, wantStatus: 400, wantCode: "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newTestGateway(t, iss.srv.URL, nil)
			tok := iss.token(t, nil)
			if tt.token != nil {
				tok = tt.token()
			}
			resp, body := do(t, http.MethodPost, srv.URL+"/v1/chat/completions", tok, tt.body)
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))
			if tt.wantCode != "" {
				var e apiError
				require.NoError(t, json.Unmarshal(body, &e))
				assert.Equal(t, tt.wantCode, e.Error.Code)
				return
			}
			var c completion
			require.NoError(t, json.Unmarshal(body, &c))
			assert.Equal(t, "chat.completion", c.Object)
			assert.True(t, strings.HasPrefix(c.ID, "chatcmpl-"))
			assert.Equal(t, "gpt-4o-mini", c.Model)
			require.Len(t, c.Choices, 1)
			assert.Equal(t, "assistant", c.Choices[0].Message.Role)
			assert.Equal(t, tt.wantText, c.Choices[0].Message.Content)
			assert.Equal(t, "stop", *c.Choices[0].FinishReason)
			require.NotNil(t, c.Usage)
			assert.Equal(t, c.Usage.PromptTokens+c.Usage.CompletionTokens, c.Usage.TotalTokens)
			assert.Equal(t, 6, c.Usage.CompletionTokens)
		})
	}
}

func TestChatCompletionAcceptUnknownModels(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.AcceptUnknownModels = true })
	resp, body := do(t, http.MethodPost, srv.URL+"/v1/chat/completions", iss.token(t, nil),
		`{"model":"whatever","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}

// TestChatCompletionStream checks the exact wire format @ai-sdk/openai-compatible
// parses: `data: <chunk>` events, a role chunk, content deltas, a finish_reason chunk,
// a usage chunk with empty choices, then `data: [DONE]`.
func TestChatCompletionStream(t *testing.T) {
	iss := newFakeIssuer(t)
	g, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.ChunkDelay = time.Millisecond })
	resp, body := do(t, http.MethodPost, srv.URL+"/v1/chat/completions", iss.token(t, nil),
		`{"model":"qwen2-72b-instruct","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello"}]}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	var events []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		require.True(t, strings.HasPrefix(line, "data: "), "line %q", line)
		events = append(events, strings.TrimPrefix(line, "data: "))
	}
	require.GreaterOrEqual(t, len(events), 5)
	assert.Equal(t, "[DONE]", events[len(events)-1])

	var text strings.Builder
	var id string
	var finish, usageSeen int
	for i, ev := range events[:len(events)-1] {
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(ev), &raw), ev)
		var c completion
		require.NoError(t, json.Unmarshal([]byte(ev), &c))
		assert.Equal(t, "chat.completion.chunk", c.Object)
		assert.Equal(t, "qwen2-72b-instruct", c.Model)
		if id == "" {
			id = c.ID
		}
		assert.Equal(t, id, c.ID, "all chunks share the id")
		if c.Usage != nil {
			usageSeen++
			assert.Empty(t, c.Choices)
			assert.Equal(t, 3, c.Usage.PromptTokens)
			assert.Equal(t, 6, c.Usage.CompletionTokens)
			assert.Equal(t, 9, c.Usage.TotalTokens)
			continue
		}
		require.Len(t, c.Choices, 1)
		ch := c.Choices[0]
		assert.Contains(t, string(raw["choices"]), `"finish_reason":`, "finish_reason is always present (null or a value)")
		if i == 0 {
			assert.Equal(t, "assistant", ch.Delta.Role)
		}
		if ch.Delta.Content != nil {
			text.WriteString(*ch.Delta.Content)
		}
		if ch.FinishReason != nil {
			finish++
			assert.Equal(t, "stop", *ch.FinishReason)
		}
	}
	assert.Equal(t, "Hello from the OAuth gateway, alice!", text.String())
	assert.Equal(t, 1, finish)
	assert.Equal(t, 1, usageSeen)

	st := g.Stats()
	assert.Equal(t, 1, st.ChatRequests)
	assert.Equal(t, 1, st.StreamRequests)
	assert.Equal(t, "qwen2-72b-instruct", st.LastModel)
}

func TestStatsEndpoint(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
	do(t, http.MethodGet, srv.URL+"/v1/models", "bad", "")

	resp, body := do(t, http.MethodGet, srv.URL+"/_test/stats", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st Stats
	require.NoError(t, json.Unmarshal(body, &st))
	assert.Equal(t, 1, st.Authorized)
	assert.Equal(t, 1, st.Unauthorized)
	assert.Equal(t, 1, st.ModelsRequests)
	assert.Equal(t, "alice", st.LastSubject)
	assert.Equal(t, "code-public", st.LastClientID)
	assert.Equal(t, "api:read", st.LastScope)

	resp, _ = do(t, http.MethodPost, srv.URL+"/_test/stats/reset", "", "")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, body = do(t, http.MethodGet, srv.URL+"/_test/stats", "", "")
	require.NoError(t, json.Unmarshal(body, &st))
	assert.Equal(t, Stats{}, st)
}

func TestNotFound(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	resp, body := do(t, http.MethodGet, srv.URL+"/v2/nothing", "", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, string(body), "not_found")
}

func TestCloseEndsDelays(t *testing.T) {
	iss := newFakeIssuer(t)
	g, srv := newTestGateway(t, iss.srv.URL, func(o *Options) { o.ModelsFault = Fault{Delay: time.Hour} })
	tok := iss.token(t, nil)
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return g.Stats().ModelsRequests == 1 }, 5*time.Second, 10*time.Millisecond)
	g.Close()
	select {
	case code := <-done:
		assert.Equal(t, http.StatusOK, code)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the delay")
	}
}

func TestGenerateModelIDs(t *testing.T) {
	tests := []struct {
		n    int
		want []string
	}{
		{n: -1, want: []string{}},
		{n: 0, want: []string{}},
		{n: 2, want: []string{"gpt-4o-mini", "qwen2-72b-instruct"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, GenerateModelIDs(tt.n))
	}
	ids := GenerateModelIDs(len(modelShapes) + 1)
	assert.Equal(t, "gpt-4o-mini-2", ids[len(ids)-1])
}

func TestSplitChunks(t *testing.T) {
	for _, s := range []string{"", "one", "Hello from the OAuth gateway, alice!"} {
		assert.Equal(t, s, strings.Join(splitChunks(s), ""))
	}
	assert.Len(t, splitChunks("Hello from the OAuth gateway, alice!"), 3)
}
