// Package testgateway is an OpenAI-compatible LLM gateway for tests and the demo.
//
// It accepts only requests with `Authorization: Bearer <JWT>` whose signature verifies
// against the issuer's JWKS (found through the issuer's discovery document and cached)
// and whose iss, aud and exp are right; anything else gets a 401 with an OpenAI-style
// JSON error. It serves:
//
//   - GET  /v1/models: a configurable model list, with optional faults (status and
//     body, delay, malformed JSON),
//   - POST /v1/chat/completions: streamed (server-sent events in the exact
//     chat.completion.chunk format) or not; the answer is always
//     Greeting(<sub or client_id>), e.g. "Hello from the OAuth gateway, alice!",
//   - POST /v1/responses: the OpenAI Responses API with the same answer, streamed
//     (Responses events, optionally without their output_index / content_index /
//     summary_index, like some gateways) or not (responses.go),
//   - GET  /_test/stats and POST /_test/stats/reset: counters for tests (no auth),
//   - POST /_test/responses {"omitIndices": bool}: the Responses event style (no auth),
//   - POST /_test/hostile {"mode": "..."}: how chat completions answer a valid token,
//     as a confused or hostile gateway would (HostileModes; "" for a good gateway).
//
// It is test support: it is not meant to run in production.
package testgateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const maxRequestBytes = 4 << 20

// Fault makes GET /v1/models misbehave. The zero value means no fault.
type Fault struct {
	// Delay waits this long before answering (cut short if the request is canceled).
	Delay time.Duration
	// Status, when non-zero, answers with this status code and Body.
	Status int
	// Body is the response body for Status (sent as is, Content-Type application/json).
	Body string
	// MalformedJSON answers 200 with a truncated JSON document.
	MalformedJSON bool
}

// Options configure a Gateway.
type Options struct {
	// Issuer is the expected `iss`; its discovery document gives the jwks_uri. Required.
	Issuer string
	// Audience must be one of the token's `aud` values. Required.
	Audience string
	// Models is the model list. If nil, ModelCount ids from GenerateModelIDs are used.
	Models []string
	// ModelCount is the number of generated model ids when Models is nil (default 3).
	ModelCount int
	// AcceptUnknownModels lets chat completions name a model that is not listed.
	AcceptUnknownModels bool
	// ModelsFault is the initial fault of GET /v1/models (see SetModelsFault).
	ModelsFault Fault
	// ChunkDelay is the pause between streamed content chunks (default none).
	ChunkDelay time.Duration
	// ResponsesOmitIndices leaves output_index, content_index and summary_index out of
	// streamed /v1/responses events (default: conformant events with them).
	ResponsesOmitIndices bool
	// Logf, when set, gets one line per /v1/responses request (its shape, never its
	// headers or text).
	Logf func(format string, args ...any)
	// Leeway tolerated on exp/nbf/iat (default none: same-machine clocks).
	Leeway time.Duration
	// JWKSCacheTTL is how long the JWKS is cached (default 5 minutes); an unknown kid
	// refreshes it earlier, at most once per second.
	JWKSCacheTTL time.Duration
	// HTTPClient fetches discovery and JWKS (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TokenHeader is the only header the token is taken from ("" =
	// Authorization), after TokenScheme and a space ("" = the token alone;
	// with TokenHeader unset too: Bearer).
	TokenHeader string
	TokenScheme string
}

// Stats are the counters served at /_test/stats.
type Stats struct {
	Authorized   int `json:"authorized"`
	Unauthorized int `json:"unauthorized"`
	// Revoked counts requests refused because their token was revoked (RevokeAll).
	Revoked        int `json:"revoked"`
	ModelsRequests int `json:"models_requests"`
	ChatRequests   int `json:"chat_requests"`
	StreamRequests int `json:"stream_requests"`
	// ResponsesRequests counts /v1/responses requests (streamed ones also count in StreamRequests).
	ResponsesRequests int `json:"responses_requests"`
	// LastResponsesRequest describes the last /v1/responses request: its top-level
	// keys, model, stream, input items, reasoning, tool count.
	LastResponsesRequest string `json:"last_responses_request"`
	LastSubject          string `json:"last_subject"`
	LastClientID         string `json:"last_client_id"`
	LastScope            string `json:"last_scope"`
	LastModel            string `json:"last_model"`
	LastAuthFailure      string `json:"last_auth_failure"`
}

// Gateway is the http.Handler of the test gateway. Create it with New.
type Gateway struct {
	opts     Options
	now      func() time.Time
	verifier *verifier
	client   *http.Client
	ownsHTTP bool
	mux      *http.ServeMux

	closeOnce sync.Once
	closed    chan struct{}

	mu          sync.Mutex
	models      []string
	modelsFault Fault
	omitIndices bool
	hostile     string
	stats       Stats
	seen        map[[32]byte]bool // every access token accepted so far (sha256); true: revoked
}

// New returns a gateway for opts. It does not contact the issuer until the first
// authenticated request. It panics if Issuer or Audience is empty (a test setup bug).
func New(opts Options) *Gateway {
	if opts.Issuer == "" || opts.Audience == "" {
		panic("testgateway: Options.Issuer and Options.Audience are required")
	}
	g := &Gateway{opts: opts, closed: make(chan struct{}), modelsFault: opts.ModelsFault, omitIndices: opts.ResponsesOmitIndices}
	g.now = opts.Now
	if g.now == nil {
		g.now = time.Now
	}
	g.client = opts.HTTPClient
	if g.client == nil {
		g.client = &http.Client{Timeout: 10 * time.Second}
		g.ownsHTTP = true
	}
	ttl := opts.JWKSCacheTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	switch {
	case opts.Models != nil:
		g.models = slices.Clone(opts.Models)
	case opts.ModelCount > 0:
		g.models = GenerateModelIDs(opts.ModelCount)
	default:
		g.models = GenerateModelIDs(3)
	}
	g.verifier = &verifier{
		keys:     &keySource{issuer: opts.Issuer, client: g.client, ttl: ttl, minRefresh: time.Second, now: g.now},
		issuer:   opts.Issuer,
		audience: opts.Audience,
		leeway:   opts.Leeway,
		now:      g.now,
	}

	g.mux = http.NewServeMux()
	g.mux.HandleFunc("GET /v1/models", g.authorized(g.handleModels))
	g.mux.HandleFunc("POST /v1/chat/completions", g.authorized(g.handleChat))
	g.mux.HandleFunc("POST /v1/responses", g.authorized(g.handleResponses))
	g.mux.HandleFunc("POST /_test/responses", g.handleResponsesStyle)
	g.mux.HandleFunc("GET /_test/stats", g.handleStats)
	g.mux.HandleFunc("POST /_test/stats/reset", g.handleStatsReset)
	g.mux.HandleFunc("POST /_test/revoke", g.handleRevoke)
	g.mux.HandleFunc("POST /_test/hostile", g.handleHostile)
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found",
			fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return g
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mux.ServeHTTP(w, r)
}

// Close ends pending delays and streams and releases idle connections. The Gateway
// answers requests after Close, without delays.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		close(g.closed)
		if g.ownsHTTP {
			g.client.CloseIdleConnections()
		}
	})
}

// Stats returns a copy of the counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// ResetStats zeroes the counters.
func (g *Gateway) ResetStats() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stats = Stats{}
}

// SetModels replaces the model list.
func (g *Gateway) SetModels(ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.models = slices.Clone(ids)
}

// Models returns a copy of the model list.
func (g *Gateway) Models() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.models)
}

// SetModelsFault sets the fault of GET /v1/models; Fault{} clears it.
func (g *Gateway) SetModelsFault(f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.modelsFault = f
}

type principalKey struct{}

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authorized wraps next with bearer-token validation.
func (g *Gateway) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := g.authenticate(r)
		if err != nil {
			g.mu.Lock()
			g.stats.Unauthorized++
			g.stats.LastAuthFailure = err.Error()
			g.mu.Unlock()
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="test-gateway", error="invalid_token", error_description=%q`, sanitizeHeader(err.Error())))
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
				"invalid bearer token: "+err.Error())
			return
		}
		g.mu.Lock()
		g.stats.Authorized++
		g.stats.LastSubject = p.Subject
		g.stats.LastClientID = p.ClientID
		g.stats.LastScope = p.Scope
		g.mu.Unlock()
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

func (g *Gateway) authenticate(r *http.Request) (Principal, error) {
	raw, err := tokenFrom(r, g.opts.TokenHeader, g.opts.TokenScheme)
	if err != nil {
		return Principal{}, err
	}
	p, err := g.verifier.verify(r.Context(), raw)
	if err != nil {
		return p, err
	}
	sum := sha256.Sum256([]byte(raw))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[[32]byte]bool{}
	}
	if g.seen[sum] {
		g.stats.Revoked++
		return Principal{}, errors.New("the token was revoked")
	}
	g.seen[sum] = false
	return p, nil
}

// RevokeAll refuses every access token accepted so far, though still within
// its lifetime (as a gateway does after a revocation or a key rollover).
func (g *Gateway) RevokeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.seen {
		g.seen[k] = true
	}
}

func (g *Gateway) handleRevoke(w http.ResponseWriter, _ *http.Request) {
	g.RevokeAll()
	w.WriteHeader(http.StatusNoContent)
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
}

// sleep waits d, or less if the request is canceled or the gateway closed.
func (g *Gateway) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-g.closed:
		return true
	}
}

func (g *Gateway) handleModels(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.stats.ModelsRequests++
	fault := g.modelsFault
	ids := slices.Clone(g.models)
	g.mu.Unlock()

	if !g.sleep(r.Context(), fault.Delay) {
		return
	}
	switch {
	case fault.Status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fault.Status)
		_, _ = io.WriteString(w, fault.Body)
	case fault.MalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"gpt-4o-mini","object":"model",`)
	default:
		writeJSON(w, http.StatusOK, modelsBody(ids))
	}
}

func (g *Gateway) handleChat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_body", "cannot read request body: "+err.Error())
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "request body is not valid JSON: "+err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_model", "model is required")
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "missing_messages", "messages must not be empty")
		return
	}

	g.mu.Lock()
	g.stats.ChatRequests++
	if req.Stream {
		g.stats.StreamRequests++
	}
	g.stats.LastModel = req.Model
	known := slices.Contains(g.models, req.Model)
	g.mu.Unlock()
	if !known && !g.opts.AcceptUnknownModels {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	}

	if g.answerHostile(w) {
		return
	}
	p := principalFrom(r.Context())
	name := p.Subject
	if name == "" {
		name = p.ClientID
	}
	text := Greeting(name)
	prompt := 0
	for _, m := range req.Messages {
		prompt += m.words()
	}
	u := usage{PromptTokens: prompt, CompletionTokens: len(strings.Fields(text))}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens

	if req.Stream {
		g.streamCompletion(w, r, req.Model, text, u)
		return
	}
	g.writeCompletion(w, req.Model, text, u)
}

func (g *Gateway) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Stats())
}

func (g *Gateway) handleStatsReset(w http.ResponseWriter, _ *http.Request) {
	g.ResetStats()
	w.WriteHeader(http.StatusNoContent)
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"`
	Code    string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Message: msg, Type: typ, Code: code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"encoding failed","type":"server_error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// HostileModes are the ways a confused or hostile gateway answers a chat
// request that carries a valid token:
//   - challenge-200: the good answer, with WWW-Authenticate: Bearer error="invalid_token",
//   - json-error-200: status 200 with an OpenAI-style JSON error as the body,
//   - challenge-500, challenge-503: that status with the invalid_token challenge,
//   - 401-forever: 401 with the challenge, whatever the token.
var HostileModes = []string{"challenge-200", "json-error-200", "challenge-500", "challenge-503", "401-forever"}

const challenge = `Bearer realm="test-gateway", error="invalid_token", error_description="hostile test mode"`

func (g *Gateway) handleHostile(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&body); err != nil || (body.Mode != "" && !slices.Contains(HostileModes, body.Mode)) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_mode", "mode must be one of "+strings.Join(HostileModes, ", ")+` or ""`)
		return
	}
	g.mu.Lock()
	g.hostile = body.Mode
	g.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// answerHostile answers a chat request as the hostile mode says; false for
// the good answer (challenge-200 adds its header and lets it through).
func (g *Gateway) answerHostile(w http.ResponseWriter) bool {
	g.mu.Lock()
	mode := g.hostile
	g.mu.Unlock()
	switch mode {
	case "challenge-200":
		w.Header().Set("WWW-Authenticate", challenge)
		return false
	case "json-error-200":
		writeError(w, http.StatusOK, "server_error", "hostile", "the gateway answers an error with status 200")
	case "challenge-500", "challenge-503", "401-forever":
		status := map[string]int{"challenge-500": 500, "challenge-503": 503, "401-forever": 401}[mode]
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, status, "invalid_request_error", "invalid_api_key", "hostile test mode: "+mode)
	default:
		return false
	}
	return true
}
