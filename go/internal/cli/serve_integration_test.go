//go:build integration

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// sidecar is a real `opencode-oauth2 serve` process driven like the shim does.
type sidecar struct {
	cmd    *exec.Cmd
	w      io.WriteCloser
	nextID atomic.Int64
	mu     sync.Mutex
	wait   map[int64]chan map[string]any
	notifs chan map[string]any
}

func startSidecar(t *testing.T, env ...string) *sidecar {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	s := &sidecar{cmd: cmd, w: stdin, wait: map[int64]chan map[string]any{}, notifs: make(chan map[string]any, 256)}
	go func() {
		r := bufio.NewReader(stdout)
		for {
			var msg map[string]any
			if err := (rpc.Codec{}).ReadObject(r, &msg); err != nil {
				return
			}
			if id, ok := msg["id"].(float64); ok {
				s.mu.Lock()
				ch := s.wait[int64(id)]
				s.mu.Unlock()
				if ch != nil {
					ch <- msg
				}
				continue
			}
			select {
			case s.notifs <- msg:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return s
}

func (s *sidecar) call(t *testing.T, method string, params any) map[string]any {
	t.Helper()
	id := s.nextID.Add(1)
	ch := make(chan map[string]any, 1)
	s.mu.Lock()
	s.wait[id] = ch
	s.mu.Unlock()
	s.mu.Lock()
	err := rpc.Codec{}.WriteObject(s.w, map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	s.mu.Unlock()
	require.NoError(t, err)
	select {
	case msg := <-ch:
		return msg
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer to %s", method)
		return nil
	}
}

// loginOnce gets a refresh token for the public code client the way a
// person would: PKCE authorize request, sign-in, code exchange.
func loginOnce(t *testing.T, as *testenv.AuthServer) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{
		ClientID:    testenv.ClientCodePublic,
		Endpoint:    oauth2.Endpoint{AuthURL: as.AuthorizationURL(), TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:45678" + testenv.CallbackPath,
		Scopes:      []string{"openid", "offline_access"},
	}
	verifier := oauth2.GenerateVerifier()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cb, err := as.CompleteAuthorization(ctx, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	require.Equal(t, "st4te", u.Query().Get("state"))
	tok, err := cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	return tok
}

// TestFourSidecarsRefreshARotatingTokenOnce: four separate sidecar
// processes share one cache whose access token has expired. The server
// rotates refresh tokens and revokes the whole grant when an old one is
// reused, so a second refresh would make some process fail.
func TestFourSidecarsRefreshARotatingTokenOnce(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	tok := loginOnce(t, as)

	cfgJSON := map[string]any{"provider": map[string]any{"gw": map[string]any{
		"options": map[string]any{"baseURL": "http://127.0.0.1:9/v1", "oauth2": map[string]any{
			"issuer": as.Issuer, "clientId": testenv.ClientCodePublic, "scopes": []string{"openid", "offline_access"},
			"authFlow": "authorization_code",
		}},
		"models": map[string]any{"m": map[string]any{}},
	}}}
	raw, err := json.Marshal(cfgJSON)
	require.NoError(t, err)
	res, err := config.Parse(raw)
	require.NoError(t, err)
	require.Len(t, res.Providers, 1, "%v", res.Problems)

	cache := t.TempDir()
	st, err := store.Open(cache, logging.Discard())
	require.NoError(t, err)
	require.NoError(t, st.Entry("gw", res.Providers[0].CacheKey()).Save(store.State{Token: &store.Token{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: "Bearer",
		ExpiresAt: time.Now().Add(-time.Minute), ObtainedAt: time.Now().Add(-time.Hour),
	}}))
	require.NoError(t, as.ResetStats())

	const n = 4
	cars := make([]*sidecar, n)
	for i := range n {
		cars[i] = startSidecar(t, "OPENCODE_OAUTH2_CACHE_DIR="+cache)
		init := cars[i].call(t, "initialize", map[string]any{"protocolVersion": 1, "interactive": false})
		require.Nil(t, init["error"])
	}
	var wg sync.WaitGroup
	headers := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cars[i].call(t, "config/apply", map[string]any{"config": cfgJSON})
			resp := cars[i].call(t, "headers/get", map[string]any{"providerID": "gw", "modelID": "m"})
			if !assert.Nil(t, resp["error"], "sidecar %d", i) {
				return
			}
			h := resp["result"].(map[string]any)["headers"].(map[string]any)
			headers[i], _ = h["Authorization"].(string)
		}()
	}
	wg.Wait()
	for i := range n {
		assert.NotEmpty(t, headers[i])
		assert.Equal(t, headers[0], headers[i], "every process uses the one refreshed token")
		assert.NotEqual(t, "Bearer "+tok.AccessToken, headers[i])
	}
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Equal(t, 1, stats["refresh_token"], "exactly one refresh across four processes: %v", stats)
}

// TestServeRefusesATerminal: stdin that is a device gets a usage hint.
func TestServeRefusesATerminal(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer devnull.Close()
	var out, errOut syncbuf.Buffer
	code := newCLI(devnull, &out, &errOut).run([]string{"serve"})
	assert.Equal(t, 2, code)
	assert.Empty(t, out.String(), "stdout carries the protocol only")
	assert.Contains(t, errOut.String(), "started by the OpenCode plugin")
}
