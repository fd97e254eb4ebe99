//go:build integration

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestRotatingRefreshTokenSurvivesSidecarsAndCLI is the rotation stress
// test: three sidecar processes and `opencode-oauth2 token` commands share
// one cache, against the real authorization server issuing 2 s access
// tokens and rotating the refresh token on every use (reusing a rotated
// one revokes the whole grant). In each of a bounded number of rounds every
// process needs a new token at the same moment. A refresh token lost or
// used twice would surface as invalid_grant at the server and as a failed
// request or exit code 3; neither may happen, in any round.
func TestRotatingRefreshTokenSurvivesSidecarsAndCLI(t *testing.T) {
	const (
		rounds      = 5
		sidecars    = 3
		perSidecar  = 3 // concurrent headers/get per sidecar and round
		cliPerRound = 2
	)
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, AccessTokenTTL: 2 * time.Second})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience) // model syncs take tokens too
	login := loginOnce(t, as)

	e := newCLIEnv(t)
	cfg := opencodeConfig(map[string]any{"gw": codeProvider(as, gw.URL+"/v1")})
	e.setConfig(cfg)
	e.seed("gw", tokenState(login, true))
	require.NoError(t, as.ResetStats())

	cars := make([]*sidecar, sidecars)
	for i := range cars {
		cars[i] = startSidecar(t, "OPENCODE_OAUTH2_CACHE_DIR="+e.cache, "OPENCODE_OAUTH2_BROWSER=none", "OPENCODE_OAUTH2_LOG_LEVEL=warn")
		init := cars[i].call(t, "initialize", map[string]any{"protocolVersion": 1, "interactive": false})
		require.Nil(t, init["error"])
		applied := cars[i].call(t, "config/apply", map[string]any{"config": cfg})
		require.Nil(t, applied["error"])
	}
	bin, err := buildOnce()
	require.NoError(t, err)

	for round := range rounds {
		// A 2 s token is renewed after half its life: by now every process needs a new one.
		time.Sleep(1200 * time.Millisecond)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(format string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			failures = append(failures, fmt.Sprintf(format, a...))
		}
		for i, car := range cars {
			for range perSidecar {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp := car.call(t, "headers/get", map[string]any{"providerID": "gw"})
					if resp["error"] != nil {
						fail("sidecar %d: %v", i, resp["error"])
						return
					}
					h, _ := resp["result"].(map[string]any)["headers"].(map[string]any)
					if auth, _ := h["Authorization"].(string); !strings.HasPrefix(auth, "Bearer ") {
						fail("sidecar %d: no bearer in %v", i, h)
					}
				}()
			}
		}
		for c := range cliPerRound {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "token", "gw")
				cmd.Dir, cmd.Env = e.work, e.environ()
				var out, errOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errOut
				err := cmd.Run()
				var ee *exec.ExitError
				switch {
				case errors.As(err, &ee):
					fail("cli %d: exit %d: %s", c, ee.ExitCode(), errOut.String())
				case err != nil:
					fail("cli %d: %v", c, err)
				case strings.TrimSpace(out.String()) == "":
					fail("cli %d: no token printed", c)
				}
			}()
		}
		wg.Wait()
		require.Empty(t, failures, "round %d", round)
	}

	stats, err := as.Stats()
	require.NoError(t, err)
	t.Logf("server counts over %d rounds: %v", rounds, stats)
	assert.Zero(t, stats["error:invalid_grant"], "a refresh token was used twice or lost")
	assert.GreaterOrEqual(t, stats["refresh_token"], rounds, "the tokens were renewed in every round")
	final := e.loaded("gw")
	require.NotNil(t, final.Token)
	assert.NoError(t, refreshWith(t, as, final.Token.RefreshToken), "the refresh token left in the cache is the live one")
}
