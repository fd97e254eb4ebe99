package testgateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testAudience = "http://127.0.0.1/gateway"

// fakeIssuer serves a discovery document and a JWKS; it is only the key-publishing half
// of an issuer, enough for minting tokens locally in unit tests.
type fakeIssuer struct {
	srv       *httptest.Server
	key       *rsa.PrivateKey
	kid       string
	jwksHits  atomic.Int32
	discovery atomic.Int32
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := &fakeIssuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		f.discovery.Add(1)
		writeJSON(w, http.StatusOK, map[string]string{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		f.jwksHits.Add(1)
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &f.key.PublicKey, KeyID: f.kid, Algorithm: string(jose.RS256), Use: "sig"},
		}})
	})
	return f
}

type mint struct {
	key      any
	kid      string
	alg      jose.SignatureAlgorithm
	issuer   string
	audience []string
	subject  string
	clientID string
	expiry   *time.Time
	noExpiry bool
}

func (f *fakeIssuer) token(t *testing.T, mod func(*mint)) string {
	t.Helper()
	exp := time.Now().Add(time.Minute)
	m := mint{
		key: f.key, kid: f.kid, alg: jose.RS256, issuer: f.srv.URL,
		audience: []string{testAudience}, subject: "alice", clientID: "code-public", expiry: &exp,
	}
	if mod != nil {
		mod(&m)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: m.alg, Key: m.key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", m.kid))
	require.NoError(t, err)
	claims := jwt.Claims{Issuer: m.issuer, Subject: m.subject, Audience: m.audience, IssuedAt: jwt.NewNumericDate(time.Now())}
	if !m.noExpiry {
		claims.Expiry = jwt.NewNumericDate(*m.expiry)
	}
	extra := map[string]any{"scope": "api:read"}
	if m.clientID != "" {
		extra["client_id"] = m.clientID
	}
	raw, err := jwt.Signed(signer).Claims(claims).Claims(extra).Serialize()
	require.NoError(t, err)
	return raw
}

func newTestGateway(t *testing.T, issuer string, mod func(*Options)) (*Gateway, *httptest.Server) {
	t.Helper()
	opts := Options{Issuer: issuer, Audience: testAudience, ModelCount: 3}
	if mod != nil {
		mod(&opts)
	}
	g := New(opts)
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		g.Close()
		srv.Close()
	})
	return g, srv
}

func do(t *testing.T, method, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func TestAuthentication(t *testing.T) {
	iss := newFakeIssuer(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	past := time.Now().Add(-time.Minute)

	tests := []struct {
		name       string
		token      func() string
		header     string
		wantStatus int
		wantErr    string
	}{
		{name: "valid", token: func() string { return iss.token(t, nil) }, wantStatus: http.StatusOK},
		{name: "valid client credentials token without client_id claim", token: func() string {
			return iss.token(t, func(m *mint) { m.clientID = "" })
		}, wantStatus: http.StatusOK},
		{name: "missing header", wantStatus: http.StatusUnauthorized, wantErr: "missing Authorization header"},
		{name: "basic scheme", header: "Basic Zm9vOmJhcg==", wantStatus: http.StatusUnauthorized, wantErr: "not a Bearer token"},
		{name: "garbage", token: func() string { return "not-a-jwt" }, wantStatus: http.StatusUnauthorized, wantErr: "malformed token"},
		{name: "wrong issuer", token: func() string {
			return iss.token(t, func(m *mint) { m.issuer = "http://127.0.0.1:1" })
		}, wantStatus: http.StatusUnauthorized, wantErr: "claims rejected"},
		{name: "wrong audience", token: func() string {
			return iss.token(t, func(m *mint) { m.audience = []string{"http://127.0.0.1/other"} })
		}, wantStatus: http.StatusUnauthorized, wantErr: "claims rejected"},
		{name: "expired", token: func() string {
			return iss.token(t, func(m *mint) { m.expiry = &past })
		}, wantStatus: http.StatusUnauthorized, wantErr: "expired"},
		{name: "no exp", token: func() string {
			return iss.token(t, func(m *mint) { m.noExpiry = true })
		}, wantStatus: http.StatusUnauthorized, wantErr: "no exp"},
		{name: "signed by another key with the same kid", token: func() string {
			return iss.token(t, func(m *mint) { m.key = otherKey })
		}, wantStatus: http.StatusUnauthorized, wantErr: "invalid signature"},
		{name: "unknown kid", token: func() string {
			return iss.token(t, func(m *mint) { m.key = ecKey; m.alg = jose.ES256; m.kid = "nope" })
		}, wantStatus: http.StatusUnauthorized, wantErr: `no key with kid "nope"`},
		{name: "tampered payload", token: func() string {
			parts := strings.Split(iss.token(t, nil), ".")
			other := strings.Split(iss.token(t, func(m *mint) { m.subject = "mallory" }), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}, wantStatus: http.StatusUnauthorized, wantErr: "invalid signature"},
		{name: "alg none", token: func() string {
			parts := strings.Split(iss.token(t, nil), ".")
			return "eyJhbGciOiJub25lIn0." + parts[1] + "."
		}, wantStatus: http.StatusUnauthorized, wantErr: "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newTestGateway(t, iss.srv.URL, nil)
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
			require.NoError(t, err)
			switch {
			case tt.header != "":
				req.Header.Set("Authorization", tt.header)
			case tt.token != nil:
				req.Header.Set("Authorization", "Bearer "+tt.token())
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))

			st := g.Stats()
			if tt.wantErr == "" {
				assert.Equal(t, 1, st.Authorized)
				assert.Equal(t, "alice", st.LastSubject)
				return
			}
			assert.Equal(t, 1, st.Unauthorized)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
			var e apiError
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Equal(t, "invalid_api_key", e.Error.Code)
			assert.Contains(t, e.Error.Message, tt.wantErr)
		})
	}
}

func TestJWKSIsCached(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	for range 5 {
		resp, _ := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, int32(1), iss.discovery.Load())
	assert.Equal(t, int32(1), iss.jwksHits.Load())

	// An unknown kid right after a fetch does not hammer the issuer.
	for range 3 {
		resp, _ := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, func(m *mint) { m.kid = "rotated" }), "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	assert.Equal(t, int32(1), iss.jwksHits.Load())
}

func TestIssuerMismatchInDiscovery(t *testing.T) {
	iss := newFakeIssuer(t)
	// The gateway is told a different issuer URL than the one the discovery document
	// names (trailing slash): it must refuse rather than trust the document.
	_, srv := newTestGateway(t, iss.srv.URL+"/", nil)
	resp, body := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(body), "does not match")
}

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
