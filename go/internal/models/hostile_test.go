package models

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileModelLists: a gateway (malicious, compromised or broken) that
// answers /models with 50 MB, with nesting 100,000 deep or with bytes that
// are not UTF-8 gets a clean error or a clean list, and the sidecar's memory
// stays bounded by the body limit (DefaultMaxBytes), not by the body.
func TestHostileModelLists(t *testing.T) {
	const size = 50 << 20
	// Reading up to the limit into a growing buffer costs at most about four
	// times the limit in total allocations (doubling), whatever the body's size.
	const budget = 5 * DefaultMaxBytes
	filler := []byte(strings.Repeat(`{"id":"m"},`, 6000))
	stream := func(w http.ResponseWriter, prefix string, withLength bool) {
		if withLength {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		_, _ = io.WriteString(w, prefix)
		for sent := len(prefix); sent < size; sent += len(filler) {
			if _, err := w.Write(filler[:min(len(filler), size-sent)]); err != nil {
				return
			}
		}
	}
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
		check   func(t *testing.T, l List)
	}{
		{"50 MB announced by Content-Length", func(w http.ResponseWriter, _ *http.Request) { stream(w, `{"data":[`, true) },
			"Content-Length 52428800 exceeds the 8388608 byte limit", nil},
		{"50 MB chunked", func(w http.ResponseWriter, _ *http.Request) { stream(w, `{"data":[`, false) },
			"the body exceeds the 8388608 byte limit", nil},
		{"50 MB error page", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			stream(w, "<html>", false)
		}, "gateway answered 502", nil},
		{"nesting 100k deep", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, deep) }, "malformed JSON", nil},
		{"nesting 100k deep inside data", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"data":[{"id":"a","meta":`+deep+`}]}`)
		}, "malformed JSON", nil},
		{"ids that are not UTF-8", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "{\"data\":[{\"id\":\"ok\"},{\"id\":\"bad-\xff\xfe\"},{\"id\":\"\xc3\x28\"}]}")
		}, "", func(t *testing.T, l List) {
			require.NotEmpty(t, l.Models)
			for _, m := range l.Models {
				assert.True(t, utf8.ValidString(m.ID), "id %q", m.ID)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := gateway(t, tc.handler)
			var l List
			var err error
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			l, err = Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", testAuth)
			runtime.ReadMemStats(&after)
			used := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB", used>>10)
			assert.Less(t, used, uint64(budget), "bytes allocated for the answer")
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				requireNoSecret(t, err.Error())
				return
			}
			require.NoError(t, err)
			tc.check(t, l)
		})
	}
}
