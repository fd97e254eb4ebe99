package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// fuzzMarker is the client secret planted by FuzzParse; no problem may
// contain it, or even "canary", which FuzzParse removes from everything else.
const fuzzMarker = "canary"

// FuzzParse checks that Parse never panics, that every problem names a
// field and reads as one line, that no provider with an error is kept, that
// kept providers satisfy the documented guarantees, and that a client
// secret never reaches a problem.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"issuer":"https://i","clientId":"c","scopes":"openid","clientSecret":"s"}}}}}`))
	f.Add([]byte(`{"pluginConfig":{"oauth2ModelSync":{"httpTimeoutMs":1,"servers":[{"id":"a","baseURL":"http://127.0.0.1","issuer":"http://localhost","clientId":"c","authFlow":"client_credentials","clientSecret":"s"}]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		check(t, raw)
		if planted, ok := plantSecret(raw); ok {
			res := check(t, planted)
			for _, p := range res.Problems {
				text := strings.Join([]string{p.ProviderID, p.Field, p.Expected, p.Found, p.Hint, p.Message()}, "\x00")
				if strings.Contains(text, fuzzMarker) {
					t.Fatalf("secret leaked into a problem: %#v\ninput: %s", p, planted)
				}
			}
		}
	})
}

// check parses raw and verifies the invariants that hold for any input.
func check(t *testing.T, raw []byte) Result {
	t.Helper()
	res, err := Parse(raw)
	if err != nil {
		if len(res.Providers) != 0 || len(res.Problems) != 0 {
			t.Fatalf("error with a non-empty result: %v", err)
		}
		return res
	}
	failed := map[string]bool{}
	for _, p := range res.Problems {
		msg := p.Message()
		switch {
		case p.Field == "":
			t.Fatalf("problem without a field: %#v", p)
		case msg == "" || strings.ContainsAny(msg, "\n\r"):
			t.Fatalf("message is empty or not one line: %q", msg)
		case p.Severity != SeverityError && p.Severity != SeverityWarning:
			t.Fatalf("bad severity: %#v", p)
		}
		if p.Severity == SeverityError {
			failed[p.ProviderID] = true
		}
	}
	seen := map[string]bool{}
	for _, p := range res.Providers {
		switch {
		case p.ID == "" || seen[p.ID]:
			t.Fatalf("empty or duplicate provider id %q", p.ID)
		case failed[p.ID]:
			t.Fatalf("provider %q kept despite an error", p.ID)
		case p.Issuer == "" || p.ClientID == "" || p.BaseURL == "":
			t.Fatalf("provider %q lacks a required field: %#v", p.ID, p)
		case p.Flow.Interactive() && len(p.Scopes) == 0:
			t.Fatalf("interactive provider %q without scopes", p.ID)
		case p.SyncInterval < time.Minute || p.SyncInterval > 7*24*time.Hour:
			t.Fatalf("provider %q sync interval %v out of bounds", p.ID, p.SyncInterval)
		case (p.Flow == JWTBearer || p.Flow == TokenExchange) && p.SubjectToken == nil:
			t.Fatalf("provider %q has no subject token source", p.ID)
		case p.Flow == ClientCredentials && p.ClientSecret.IsZero():
			t.Fatalf("provider %q has no client secret", p.ID)
		case p.RedirectPort < 0 || p.RedirectPort > 65535:
			t.Fatalf("provider %q redirect port %d", p.ID, p.RedirectPort)
		}
		seen[p.ID] = true
		_ = p.CacheKey()
	}
	return res
}

// plantSecret rewrites valid JSON so that every string under a clientSecret
// key is the marker and the marker appears nowhere else.
func plantSecret(raw []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	out, err := json.Marshal(plant(v))
	return out, err == nil
}

func plant(v any) any {
	scrub := func(s string) string {
		for strings.Contains(s, fuzzMarker) { // "cancanaryary" must not leave one behind
			s = strings.ReplaceAll(s, fuzzMarker, "")
		}
		return s
	}
	switch t := v.(type) {
	case string:
		return scrub(t)
	case []any:
		for i := range t {
			t[i] = plant(t[i])
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if _, isStr := e.(string); isStr && k == "clientSecret" {
				out[k] = fuzzMarker + "-" + scrub(e.(string))
				continue
			}
			out[scrub(k)] = plant(e)
		}
		return out
	}
	return v
}
