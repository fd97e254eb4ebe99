package testgateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// modelShapes are real-world model id shapes: plain OpenAI-style ids, Hugging Face
// style org/name ids, Ollama tags, dated snapshots.
var modelShapes = []string{
	"gpt-4o-mini",
	"qwen2-72b-instruct",
	"meta-llama/Llama-3.1-8B-Instruct",
	"gpt-4o",
	"mistralai/Mistral-7B-Instruct-v0.3",
	"claude-3-5-sonnet-20241022",
	"deepseek-coder-v2-lite-instruct",
	"Qwen/Qwen2.5-Coder-32B-Instruct",
	"gemma-2-9b-it",
	"llama3.1:70b",
	"mixtral-8x7b-32768",
	"phi-3-mini-4k-instruct",
	"o1-mini",
	"text-embedding-3-small",
}

// GenerateModelIDs returns n distinct, deterministic model ids in realistic shapes.
// The first ids are modelShapes; later ones carry a numeric suffix (-2, -3, ...).
func GenerateModelIDs(n int) []string {
	ids := make([]string, 0, max(n, 0))
	for i := range max(n, 0) {
		base := modelShapes[i%len(modelShapes)]
		if round := i / len(modelShapes); round > 0 {
			base = fmt.Sprintf("%s-%d", base, round+1)
		}
		ids = append(ids, base)
	}
	return ids
}

func ownerOf(id string) string {
	if org, _, ok := strings.Cut(id, "/"); ok {
		return org
	}
	return "test-gateway"
}

// modelsCreated is a fixed creation time so that responses are reproducible.
const modelsCreated = 1_714_000_000

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string       `json:"object"`
	Data   []modelEntry `json:"data"`
}

func modelsBody(ids []string) modelList {
	list := modelList{Object: "list", Data: make([]modelEntry, 0, len(ids))}
	for _, id := range ids {
		list.Data = append(list.Data, modelEntry{ID: id, Object: "model", Created: modelsCreated, OwnedBy: ownerOf(id)})
	}
	return list
}

// chatRequest is the part of an OpenAI chat.completions request the gateway reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// words counts whitespace-separated words of a message content, which is either a
// string or an array of parts ({"type":"text","text":...}).
func (m chatMessage) words() int {
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return len(strings.Fields(s))
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return 0
	}
	n := 0
	for _, p := range parts {
		n += len(strings.Fields(p.Text))
	}
	return n
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type choice struct {
	Index        int      `json:"index"`
	Message      *message `json:"message,omitempty"`
	Delta        *delta   `json:"delta,omitempty"`
	Logprobs     any      `json:"logprobs"`
	FinishReason *string  `json:"finish_reason"`
}

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []choice `json:"choices"`
	Usage             *usage   `json:"usage,omitempty"`
}

const systemFingerprint = "fp_test_gateway"

// Greeting is the fixed answer of the gateway for the given principal name.
func Greeting(name string) string {
	return fmt.Sprintf("Hello from the OAuth gateway, %s!", name)
}

// splitChunks cuts text into pieces of two words each, spaces kept, so that the
// concatenation of the pieces is text.
func splitChunks(text string) []string {
	words := strings.SplitAfter(text, " ")
	var out []string
	for i := 0; i < len(words); i += 2 {
		out = append(out, strings.Join(words[i:min(i+2, len(words))], ""))
	}
	return out
}

func completionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

func ptr[T any](v T) *T { return &v }

func (g *Gateway) writeCompletion(w http.ResponseWriter, model, text string, u usage) {
	writeJSON(w, http.StatusOK, completion{
		ID:                completionID(),
		Object:            "chat.completion",
		Created:           g.now().Unix(),
		Model:             model,
		SystemFingerprint: systemFingerprint,
		Choices: []choice{{
			Index:        0,
			Message:      &message{Role: "assistant", Content: text},
			FinishReason: ptr("stop"),
		}},
		Usage: &u,
	})
}

// streamCompletion writes the answer as OpenAI chat.completion.chunk server-sent events:
// a role chunk, content chunks, a finish chunk, a usage chunk (empty choices), [DONE].
func (g *Gateway) streamCompletion(w http.ResponseWriter, r *http.Request, model, text string, u usage) {
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	id, created := completionID(), g.now().Unix()
	chunk := func(c []choice, u *usage) completion {
		return completion{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			SystemFingerprint: systemFingerprint, Choices: c, Usage: u,
		}
	}
	send := func(v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	pause := func() bool {
		if g.opts.ChunkDelay <= 0 {
			return true
		}
		t := time.NewTimer(g.opts.ChunkDelay)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		case <-g.closed:
			return false
		}
	}

	if !send(chunk([]choice{{Delta: &delta{Role: "assistant", Content: ptr("")}}}, nil)) {
		return
	}
	for _, piece := range splitChunks(text) {
		if !pause() || !send(chunk([]choice{{Delta: &delta{Content: ptr(piece)}}}, nil)) {
			return
		}
	}
	if !send(chunk([]choice{{Delta: &delta{}, FinishReason: ptr("stop")}}, nil)) {
		return
	}
	if !send(chunk([]choice{}, &u)) {
		return
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}
