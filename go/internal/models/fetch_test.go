package models

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

const (
	testToken = "tok_3xAmpleAcc3ssT0kenValue_9f8e7d6c5b4a"
	testJWT   = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA"
)

var testAuth = secret.New("Bearer " + testToken)

// gateway is an httptest server that checks the bearer and answers with h.
func gateway(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func requireNoSecret(t *testing.T, s string) {
	t.Helper()
	for _, secretPart := range []string{testToken, testJWT, "eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ", "hunter2", "query-secret", "rt-secret-value"} {
		assert.NotContains(t, s, secretPart)
	}
}

func TestFetch5000Models(t *testing.T) {
	body := catalogBody(5000)
	var gotAuth, gotAccept, gotPath string
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotAccept, gotPath = r.Header.Get("Authorization"), r.Header.Get("Accept"), r.URL.Path
		_, _ = w.Write(body)
	})
	u, err := URL(srv.URL+"/v1", "")
	require.NoError(t, err)

	l, err := Fetcher{}.Fetch(context.Background(), u, "Authorization", testAuth)
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+testToken, gotAuth)
	assert.Equal(t, "application/json", gotAccept)
	assert.Equal(t, "/v1/models", gotPath)
	require.Len(t, l.Models, 5000)
	assert.Zero(t, l.Skipped)
	assert.Zero(t, l.Duplicates)
	assert.Equal(t, Model{ID: "meta-llama/Llama-3.1-0B-Instruct", OwnedBy: "org-0", Created: 1715367049, ContextLength: 131072, MaxOutputTokens: 8192}, l.Models[0])
	assert.Equal(t, "kimi-k2.4999", l.Models[4999].ID)

	Normalize(l.Models, nil)
	assert.Equal(t, "Meta Llama 3.1 0B Instruct", l.Models[0].Name)
	assert.Equal(t, "Kimi K2.4999", l.Models[4999].Name)
}

func TestFetchEmptyListKeepsTheLastGoodOne(t *testing.T) {
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"object":"list","data":[]}`))
	})
	l, err := Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
	require.NoError(t, err, "an empty list is a valid answer")
	assert.Empty(t, l.Models)

	c := NewCatalog([]Model{{ID: "a", Name: "A"}})
	_, err = c.Update(l.Models)
	require.ErrorIs(t, err, ErrEmpty)
	assert.Equal(t, []Model{{ID: "a", Name: "A"}}, c.Models())
}

func TestFetch403PreviewIsScrubbedAndCapped(t *testing.T) {
	errBody := `{"error":{"message":"token ` + testToken + ` is not allowed for this route","type":"forbidden",` +
		`"echo":{"authorization":"Bearer ` + testToken + `","access_token":"` + testJWT + `","refresh_token":"rt-secret-value"}},` +
		`"padding":"` + strings.Repeat("x ", 5000) + `"}`
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(errBody))
	})

	_, err := Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models?key=query-secret", "Authorization", testAuth)
	require.Error(t, err)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusForbidden, he.StatusCode)
	assert.Equal(t, srv.URL+"/v1/models", he.URL)
	assert.LessOrEqual(t, utf8.RuneCountInString(he.Preview), 300)
	assert.True(t, strings.HasSuffix(he.Preview, "…"))
	assert.Contains(t, he.Preview, `is not allowed for this route`)
	assert.Contains(t, err.Error(), "gateway answered 403 Forbidden")
	requireNoSecret(t, err.Error())
	requireNoSecret(t, fmt.Sprintf("%+v %#v", err, he))
}

func TestFetchStatusWithoutBody(t *testing.T) {
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	_, err := Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 401, he.StatusCode)
	assert.Empty(t, he.Preview)
	assert.Equal(t, "models: GET "+srv.URL+"/v1/models: gateway answered 401 Unauthorized", err.Error())
}

func TestFetchSlowGatewayHonoursTheDeadline(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"no headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}},
		{"stalled body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"data":[{"id":"a"},`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := gateway(t, tt.handler)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := Fetcher{}.Fetch(ctx, srv.URL+"/v1/models", "Authorization", testAuth)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "models: GET "+srv.URL+"/v1/models")
		})
	}
}

func TestFetchCancelledContext(t *testing.T) {
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`[]`)) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Fetcher{}.Fetch(ctx, srv.URL+"/v1/models", "Authorization", testAuth)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestFetchMalformedJSON(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"truncated", `{"data":[{"id":"a"},{"id":`, "malformed JSON: unexpected end of input at offset 26"},
		{"html login page", `<html><body>Sign in: token=` + testToken + `</body></html>`, "malformed JSON: invalid character '<' at start of value at offset 0"},
		{"wrong shape", `{"models":["a"],"access_token":"` + testJWT + `"}`, `found an object without a data array (keys: "access_token", "models")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := gateway(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tt.body)) })
			_, err := Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "models: GET "+srv.URL+"/v1/models: ")
			assert.Contains(t, err.Error(), "the body starts: ")
			requireNoSecret(t, err.Error())
		})
	}
}

func TestFetchBoundsTheBody(t *testing.T) {
	big := `[` + strings.Repeat(`{"id":"model"},`, 200) + `{"id":"last"}]`
	tests := []struct {
		name    string
		chunked bool
	}{{"content-length", false}, {"chunked", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := gateway(t, func(w http.ResponseWriter, r *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				for i := 0; i < len(big); i += 512 {
					_, _ = w.Write([]byte(big[i:min(i+512, len(big))]))
					w.(http.Flusher).Flush()
				}
			})
			_, err := Fetcher{MaxBytes: 1024}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
			require.ErrorIs(t, err, ErrTooLarge)
			assert.Contains(t, err.Error(), "1024 byte")

			l, err := Fetcher{MaxBytes: int64(len(big))}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
			require.NoError(t, err, "exactly MaxBytes is allowed")
			assert.Len(t, l.Models, 2)
			assert.Equal(t, 199, l.Duplicates)
		})
	}
}

func TestFetchDoesNotSendOrLeakURLCredentials(t *testing.T) {
	var gotAuth, gotQuery string
	srv := gateway(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotQuery = r.Header.Get("Authorization"), r.URL.RawQuery
		w.WriteHeader(http.StatusBadGateway)
	})
	withCreds := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/v1/models?key=query-secret#frag"

	_, err := Fetcher{}.Fetch(context.Background(), withCreds, "Authorization", testAuth)
	require.Error(t, err)
	assert.Equal(t, "Bearer "+testToken, gotAuth, "the bearer, not Basic from userinfo")
	assert.Equal(t, "key=query-secret", gotQuery, "the query is sent")
	requireNoSecret(t, err.Error())

	_, err = Fetcher{}.Fetch(context.Background(), withCreds, "Authorization", secret.String{})
	require.Error(t, err)
	assert.Empty(t, gotAuth, "no Authorization without a credential, not even Basic")
}

func TestFetchTransportErrorsDoNotRepeatTheQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens any more
	_, err := Fetcher{}.Fetch(context.Background(), addr+"/v1/models?key=query-secret", "Authorization", testAuth)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "models: GET "+addr+"/v1/models: ")
	requireNoSecret(t, err.Error())
}

// TestFetchReportsARedirectItDoesNotFollow: with a provider's client (it
// follows no redirect: oauth.NewHTTPClient), a gateway that redirects gets
// neither the token nor a second request; the 3xx is the error.
func TestFetchReportsARedirectItDoesNotFollow(t *testing.T) {
	plainHits := 0
	plain := gateway(t, func(w http.ResponseWriter, r *http.Request) { plainHits++ })
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/v1/models", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	client := tlsSrv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	_, err := Fetcher{Client: client}.Fetch(context.Background(), tlsSrv.URL+"/v1/models", "Authorization", testAuth)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusFound, he.StatusCode)
	assert.Zero(t, plainHits)
}

func TestFetchRejectsBadInput(t *testing.T) {
	_, err := Fetcher{}.Fetch(context.Background(), "ftp://user:hunter2@example.com/models", "Authorization", testAuth)
	require.Error(t, err)
	requireNoSecret(t, err.Error())

	_, err = Fetcher{}.Fetch(context.Background(), "http://127.0.0.1:1/v1/models", "Authorization", secret.New("Bearer a\r\nX-Evil: "+testToken))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "control characters")
	requireNoSecret(t, err.Error())
}

func testAuthOf(v string) secret.String { return secret.New(v) }
