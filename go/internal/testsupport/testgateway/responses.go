package testgateway

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// The OpenAI Responses API (POST /v1/responses), as @ai-sdk/openai uses it.
//
// Streamed, the answer is the event sequence the OpenAI API sends: response.created,
// response.in_progress, then per output item response.output_item.added, its parts
// (response.content_part.added / response.reasoning_summary_part.added), deltas, the
// .done events and response.output_item.done, and finally response.completed. Each
// event is `event: <type>` plus one `data: <JSON>` line and a blank line; there is no
// `data: [DONE]`. A reasoning item with a summary comes first when the request asks
// for one (`reasoning.summary`), as with OpenAI's reasoning models.
//
// With omitIndices (Options.ResponsesOmitIndices, SetResponsesOmitIndices or
// POST /_test/responses) the events carry no output_index, content_index or
// summary_index, as some gateways (Envoy AI Gateway) send them.

// responsesRequest is the part of a Responses API request the gateway reads.
type responsesRequest struct {
	Model        string          `json:"model"`
	Input        json.RawMessage `json:"input"`
	Instructions string          `json:"instructions"`
	Stream       bool            `json:"stream"`
	Reasoning    *struct {
		Effort  string `json:"effort"`
		Summary string `json:"summary"`
	} `json:"reasoning"`
	Tools []json.RawMessage `json:"tools"`
}

// inputWords counts the words of the input: a string, or items whose content is a
// string or a list of parts with text (other items count nothing).
func (r responsesRequest) inputWords() (words, items int, roles []string) {
	var s string
	if err := json.Unmarshal(r.Input, &s); err == nil {
		return len(strings.Fields(s)), 1, []string{"user"}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(r.Input, &list); err != nil {
		return 0, 0, nil
	}
	for _, raw := range list {
		var it struct {
			Type string `json:"type"`
			Role string `json:"role"`
		}
		var m chatMessage
		if json.Unmarshal(raw, &it) != nil {
			continue
		}
		_ = json.Unmarshal(raw, &m)
		words += m.words()
		switch {
		case it.Role != "":
			roles = append(roles, it.Role)
		case it.Type != "":
			roles = append(roles, it.Type)
		}
	}
	return words, len(list), roles
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type responsePart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations *[]any `json:"annotations,omitempty"`
}

type responseItem struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Status  string          `json:"status,omitempty"`
	Role    string          `json:"role,omitempty"`
	Content *[]responsePart `json:"content,omitempty"`
	Summary *[]responsePart `json:"summary,omitempty"`
}

type responseObject struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	CreatedAt         int64          `json:"created_at"`
	Status            string         `json:"status"`
	Error             any            `json:"error"`
	IncompleteDetails any            `json:"incomplete_details"`
	Model             string         `json:"model"`
	Output            []responseItem `json:"output"`
	ServiceTier       string         `json:"service_tier"`
	Store             bool           `json:"store"`
	Usage             *responseUsage `json:"usage"`
}

// responseEvent is one streamed event; the index fields are pointers so that
// omitIndices can leave them out.
type responseEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	Item           *responseItem   `json:"item,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	SummaryIndex   *int            `json:"summary_index,omitempty"`
	Part           *responsePart   `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
}

// ReasoningSummary is the reasoning summary the gateway streams when asked for one.
const ReasoningSummary = "**Greeting the user**\n\nThe user says hello; answer with a greeting."

func responseID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// SetResponsesOmitIndices switches the index fields of streamed Responses events off
// (true) or back on.
func (g *Gateway) SetResponsesOmitIndices(omit bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.omitIndices = omit
}

// handleResponsesStyle is POST /_test/responses {"omitIndices": bool} (no auth): it
// sets the style and answers the current one.
func (g *Gateway) handleResponsesStyle(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OmitIndices *bool `json:"omitIndices"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, &body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", `expected {"omitIndices": true|false}`)
		return
	}
	g.mu.Lock()
	if body.OmitIndices != nil {
		g.omitIndices = *body.OmitIndices
	}
	omit := g.omitIndices
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"omitIndices": omit})
}

func (g *Gateway) logf(format string, args ...any) {
	if g.opts.Logf != nil {
		g.opts.Logf(format, args...)
	}
}

func (g *Gateway) handleResponses(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_body", "cannot read request body: "+err.Error())
		return
	}
	var req responsesRequest
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || json.Unmarshal(body, &keys) != nil {
		msg := "request body is not a JSON object"
		if err != nil {
			msg = "request body is not valid JSON: " + err.Error()
		}
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", msg)
		return
	}
	words, items, roles := req.inputWords()
	summary := describeResponsesRequest(req, keys, items, roles)
	g.logf("POST %s: %s", r.URL.Path, summary) // no headers, no prompt text

	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_model", "model is required")
		return
	}
	if len(req.Input) == 0 || string(req.Input) == "null" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_input", "input is required")
		return
	}
	g.mu.Lock()
	g.stats.ResponsesRequests++
	if req.Stream {
		g.stats.StreamRequests++
	}
	g.stats.LastModel = req.Model
	g.stats.LastResponsesRequest = summary
	known := slices.Contains(g.models, req.Model)
	omit := g.omitIndices
	g.mu.Unlock()
	if !known && !g.opts.AcceptUnknownModels {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	}

	p := principalFrom(r.Context())
	name := p.Subject
	if name == "" {
		name = p.ClientID
	}
	text := Greeting(name)
	withReasoning := req.Reasoning != nil && req.Reasoning.Summary != "" && req.Reasoning.Summary != "none"
	u := &responseUsage{InputTokens: words + len(strings.Fields(req.Instructions)), OutputTokens: len(strings.Fields(text))}
	if withReasoning {
		u.OutputTokensDetails.ReasoningTokens = len(strings.Fields(ReasoningSummary))
		u.OutputTokens += u.OutputTokensDetails.ReasoningTokens
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens

	resp := responseObject{
		ID: responseID("resp_"), Object: "response", CreatedAt: g.now().Unix(), Status: "in_progress",
		Model: req.Model, Output: []responseItem{}, ServiceTier: "default",
	}
	rs := responseItem{ID: responseID("rs_"), Type: "reasoning", Summary: &[]responsePart{{Type: "summary_text", Text: ReasoningSummary}}}
	msg := responseItem{ID: responseID("msg_"), Type: "message", Status: "completed", Role: "assistant",
		Content: &[]responsePart{{Type: "output_text", Text: text, Annotations: &[]any{}}}}
	if withReasoning {
		resp.Output = append(resp.Output, rs)
	}
	resp.Output = append(resp.Output, msg)

	if !req.Stream {
		resp.Status, resp.Usage = "completed", u
		writeJSON(w, http.StatusOK, resp)
		return
	}
	g.streamResponse(w, r, resp, u, omit)
}

// describeResponsesRequest summarises a request for the log and the stats: the
// top-level keys, model, stream, input item roles/types, reasoning, tool count.
func describeResponsesRequest(req responsesRequest, keys map[string]json.RawMessage, items int, roles []string) string {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	reasoning := "none"
	if req.Reasoning != nil {
		reasoning = fmt.Sprintf("effort=%q summary=%q", req.Reasoning.Effort, req.Reasoning.Summary)
	}
	return fmt.Sprintf("model=%s stream=%t keys=[%s] input=%d items [%s] instructions=%t reasoning={%s} tools=%d",
		req.Model, req.Stream, strings.Join(names, ","), items, strings.Join(roles, ","), req.Instructions != "", reasoning, len(req.Tools))
}

// streamResponse writes resp as Responses API server-sent events; its last output
// item is the message, an earlier one the reasoning item.
func (g *Gateway) streamResponse(w http.ResponseWriter, r *http.Request, resp responseObject, u *responseUsage, omit bool) {
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	seq := 0
	idx := func(i int) *int {
		if omit {
			return nil
		}
		return &i
	}
	send := func(ev responseEvent) bool {
		ev.SequenceNumber = seq
		seq++
		b, err := json.Marshal(ev)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	deltas := func(s string, ev func(piece string) responseEvent) bool {
		for _, piece := range splitChunks(s) {
			if !g.sleep(r.Context(), g.opts.ChunkDelay) || !send(ev(piece)) {
				return false
			}
		}
		return true
	}

	final := resp.Output
	start := resp
	start.Output = []responseItem{}
	if !send(responseEvent{Type: "response.created", Response: &start}) ||
		!send(responseEvent{Type: "response.in_progress", Response: &start}) {
		return
	}
	for oi, item := range final {
		switch item.Type {
		case "reasoning":
			if !g.streamReasoning(item, idx(oi), idx, send, deltas) {
				return
			}
		case "message":
			if !g.streamMessage(item, idx(oi), idx, send, deltas) {
				return
			}
		}
	}
	done := resp
	done.Status, done.Usage = "completed", u
	send(responseEvent{Type: "response.completed", Response: &done})
}

type sendFunc func(responseEvent) bool
type deltasFunc func(string, func(string) responseEvent) bool

func (g *Gateway) streamReasoning(item responseItem, oi *int, idx func(int) *int, send sendFunc, deltas deltasFunc) bool {
	added := item
	added.Summary = &[]responsePart{}
	if !send(responseEvent{Type: "response.output_item.added", OutputIndex: oi, Item: &added}) {
		return false
	}
	for si, part := range *item.Summary {
		empty := responsePart{Type: part.Type}
		full := part
		if !send(responseEvent{Type: "response.reasoning_summary_part.added", ItemID: item.ID, OutputIndex: oi, SummaryIndex: idx(si), Part: &empty}) ||
			!deltas(part.Text, func(p string) responseEvent {
				return responseEvent{Type: "response.reasoning_summary_text.delta", ItemID: item.ID, OutputIndex: oi, SummaryIndex: idx(si), Delta: &p}
			}) ||
			!send(responseEvent{Type: "response.reasoning_summary_text.done", ItemID: item.ID, OutputIndex: oi, SummaryIndex: idx(si), Text: &full.Text}) ||
			!send(responseEvent{Type: "response.reasoning_summary_part.done", ItemID: item.ID, OutputIndex: oi, SummaryIndex: idx(si), Part: &full}) {
			return false
		}
	}
	return send(responseEvent{Type: "response.output_item.done", OutputIndex: oi, Item: &item})
}

func (g *Gateway) streamMessage(item responseItem, oi *int, idx func(int) *int, send sendFunc, deltas deltasFunc) bool {
	added := item
	added.Status = "in_progress"
	added.Content = &[]responsePart{}
	if !send(responseEvent{Type: "response.output_item.added", OutputIndex: oi, Item: &added}) {
		return false
	}
	for ci, part := range *item.Content {
		empty := responsePart{Type: part.Type, Annotations: &[]any{}}
		full := part
		if !send(responseEvent{Type: "response.content_part.added", ItemID: item.ID, OutputIndex: oi, ContentIndex: idx(ci), Part: &empty}) ||
			!deltas(part.Text, func(p string) responseEvent {
				return responseEvent{Type: "response.output_text.delta", ItemID: item.ID, OutputIndex: oi, ContentIndex: idx(ci), Delta: &p}
			}) ||
			!send(responseEvent{Type: "response.output_text.done", ItemID: item.ID, OutputIndex: oi, ContentIndex: idx(ci), Text: &full.Text}) ||
			!send(responseEvent{Type: "response.content_part.done", ItemID: item.ID, OutputIndex: oi, ContentIndex: idx(ci), Part: &full}) {
			return false
		}
	}
	return send(responseEvent{Type: "response.output_item.done", OutputIndex: oi, Item: &item})
}
