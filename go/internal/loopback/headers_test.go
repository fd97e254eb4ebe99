package loopback

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryAnswerIsHardened: whatever a page in the browser (or a rebinding
// site) asks the loopback listener, the answer cannot be cached, framed,
// sniffed, read across origins or leak the URL as a referrer, and it runs
// no script.
func TestEveryAnswerIsHardened(t *testing.T) {
	s := start(t, Config{})
	base := "http://127.0.0.1:" + strconv.Itoa(s.port)
	tests := []struct {
		name   string
		target string
		host   string
		status int
	}{
		{"start redirect", s.StartURL(), "", http.StatusFound},
		{"unknown path", base + "/favicon.ico", "", http.StatusNotFound},
		{"callback without state", callback(s, url.Values{"code": {"c"}}), "", http.StatusBadRequest},
		{"callback with a script in the error", callback(s, url.Values{"error": {"<script>alert(1)</script>"}, "state": {"wrong"}}), "", http.StatusBadRequest},
		{"rebound host", s.StartURL(), "rebound.evil.test:" + strconv.Itoa(s.port), http.StatusMisdirectedRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, tc.target, nil)
			require.NoError(t, err)
			req.Header.Set("Origin", "https://evil.example.com")
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := noRedirect.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode)
			h := resp.Header
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
			assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
			assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
			assert.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
			assert.Empty(t, h.Get("Access-Control-Allow-Origin"), "no cross-origin reads")
			assert.NotContains(t, string(body), "<script")
		})
	}
	waitNone(t, s)
}
