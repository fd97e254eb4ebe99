package oauth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
)

// assertNoSecrets checks that none of the values appears in the text.
func assertNoSecrets(t *testing.T, where, text string, values ...string) {
	t.Helper()
	for _, v := range values {
		if v == "" {
			continue
		}
		assert.False(t, strings.Contains(text, v), "%s contains the secret %q", where, v)
	}
}

// TestInteractiveLoginsLeakNoSecret runs the interactive logins, successful
// and failing, with a debug logger, and checks that no code, verifier,
// state, nonce, token or device code reaches a log line, an error, the
// terminal or a prompt.
func TestInteractiveLoginsLeakNoSecret(t *testing.T) {
	runs := []struct {
		name  string
		edit  func(p *config.Provider, as *fakeAS)
		steps []step
		ok    bool
	}{
		{name: "success", steps: []step{{query: good}}, ok: true},
		{name: "token endpoint echoes the code and verifier", steps: []step{{query: good}}, edit: func(_ *config.Provider, as *fakeAS) {
			as.tokenError = &tokenErr{status: 400, body: `{"error":"invalid_grant","error_description":"code ` + canaryCode + ` unknown for verifier {verifier}"}`}
		}},
		{name: "id_token rejected", steps: []step{{query: good}}, edit: func(_ *config.Provider, as *fakeAS) {
			as.idClaims = func(c map[string]any) { c["aud"] = "other" }
		}},
		{name: "no refresh token", steps: []step{{query: good}}, edit: func(_ *config.Provider, as *fakeAS) { as.noRefresh = true }},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			as := newFakeAS(t)
			p := as.provider()
			if r.edit != nil {
				r.edit(&p, as)
			}
			u := newFakeUser(t, as, r.steps...)
			env := newCodeClient(t, p, u.open, nil)
			tok, err := env.client.Acquire(testCtx(t))
			u.wait(t)
			if r.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			auth := as.authQuery
			require.NotNil(t, auth)
			verifier := as.tokenForms[0].Get("code_verifier")
			require.NotEmpty(t, verifier)
			secrets := []string{canaryCode, canaryAT, canaryRT, auth.Get("state"), auth.Get("nonce"), verifier, auth.Get("code_challenge")}
			if !tok.IDToken.IsZero() {
				secrets = append(secrets, tok.IDToken.Reveal())
			}
			assert.Contains(t, env.logs.String(), "login started", "the logger was used")
			assertNoSecrets(t, "the log", env.logs.String(), secrets...)
			assertNoSecrets(t, "stderr", env.stderr.String(), secrets...)
			assertNoSecrets(t, "the prompts", fmt.Sprintf("%+v", env.prompts), secrets...)
			if err != nil {
				assertNoSecrets(t, "the error", err.Error(), secrets...)
				assertNoSecrets(t, "the error", fmt.Sprintf("%+v %#v", err, err), secrets...)
			}
			assertNoSecrets(t, "the token's formatting", fmt.Sprintf("%v %+v %#v", tok, tok, tok), secrets...)
		})
	}

	t.Run("device flow", func(t *testing.T) {
		echo := reply{status: 400, body: `{"error":"invalid_request","error_description":"device_code ` + canaryDevice + ` malformed"}`}
		for _, replies := range [][]reply{{pending(), granted()}, {echo}} {
			env := newDeviceEnv(t, deviceProvider(), deviceBody, replies...)
			tok, err := env.client.Acquire(testCtx(t))
			verifier := env.script.tokenForms[0].Get("code_verifier")
			secrets := []string{canaryDevice, canaryAT, canaryRT, verifier, env.script.deviceForm.Get("code_challenge")}
			assertNoSecrets(t, "the log", env.logs.String(), secrets...)
			assertNoSecrets(t, "stderr", env.stderr.String(), secrets...)
			assertNoSecrets(t, "the prompts", fmt.Sprintf("%+v", env.prompts), secrets...)
			assertNoSecrets(t, "the token's formatting", fmt.Sprintf("%v %+v", tok, tok), secrets...)
			if err != nil {
				assertNoSecrets(t, "the error", fmt.Sprintf("%v %+v", err, err), secrets...)
			}
		}
	})
}
