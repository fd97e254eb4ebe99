package loopback

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// FuzzCallback feeds arbitrary callback query strings to the decision: it
// must never panic, accept only the exact state with a non-empty code, and
// never let a request without the right state end the login.
func FuzzCallback(f *testing.F) {
	seeds := []string{
		"code=abc&state=" + testState,
		"code=abc&state=" + testState + "&iss=https%3A%2F%2Fissuer.test",
		"error=access_denied&state=" + testState,
		"error=access_denied&error_description=%3Cscript%3E&state=" + testState,
		"state=" + testState + "&state=x&code=1",
		"code=%zz",
		"",
		"iss=https%3A%2F%2Fevil.test&state=" + testState + "&code=c",
		";;;&&&===",
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	state := secret.New(testState)
	f.Fuzz(func(t *testing.T, raw string, requireIss bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // answered 400 before judge
		}
		j := judge(q, state, testIssuer, requireIss)
		matches := len(q["state"]) == 1 && q.Get("state") == testState
		switch j.verdict() {
		case accepted:
			if !matches || j.code == "" || j.code != q.Get("code") {
				t.Fatalf("accepted %q", raw)
			}
			if iss, ok := q["iss"]; (ok && (len(iss) != 1 || iss[0] != testIssuer)) || (!ok && requireIss) {
				t.Fatalf("accepted a bad iss: %q", raw)
			}
		case rejected:
			if !matches || j.err == nil {
				t.Fatalf("rejected without the right state: %q", raw)
			}
			if strings.ContainsAny(j.err.Error(), "\n\r\x00") {
				t.Fatalf("control characters in the error: %q", j.err.Error())
			}
		case stray:
			if j.reason == "" || j.err != nil || j.code != "" {
				t.Fatalf("stray without a reason, or with an outcome: %q", raw)
			}
		}
	})
}
