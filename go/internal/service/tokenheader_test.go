package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// TestTheTokenGoesInTheConfiguredHeader: a gateway that takes the token in
// x-portkey-api-key without a scheme, or in cf-aig-authorization with
// Bearer, gets it there from the model sync and in the headers the shim
// sets; a refusal reported by the hash of that header's value renews it.
func TestTheTokenGoesInTheConfiguredHeader(t *testing.T) {
	tests := []struct {
		name, header, scheme, wantHeader, prefix string
	}{
		{"Portkey", "x-portkey-api-key", "", "X-Portkey-Api-Key", ""},
		{"Cloudflare AI Gateway", "cf-aig-authorization", "Bearer", "Cf-Aig-Authorization", "Bearer "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var issued atomic.Int32
			mux := http.NewServeMux()
			mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, issued.Add(1))
			})
			mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get(tc.header) != fmt.Sprintf("%stok-%d", tc.prefix, issued.Load()) || r.Header.Get("Authorization") != "" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = w.Write([]byte(`{"data":[{"id":"m1"}]}`))
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			eng := service.New(service.Options{Log: logging.Discard(), CacheDir: t.TempDir(), WatchEvery: -1})
			defer func() { _ = eng.Shutdown(context.Background()) }()
			cfg, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{"options": map[string]any{
				"baseURL": srv.URL + "/v1",
				"oauth2": map[string]any{"issuer": srv.URL, "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials",
					"tokenEndpoint": srv.URL + "/token", "tokenHeader": tc.header, "tokenScheme": tc.scheme},
			}}}})
			require.NoError(t, err)
			res, err := eng.ApplyConfig(context.Background(), protocol.ConfigApplyParams{Config: cfg})
			require.NoError(t, err)
			require.Equal(t, []string{"gw"}, res.Managed, "%v", res.Problems)
			models, _ := res.Providers["gw"]["models"].(map[string]any)
			assert.Contains(t, models, "m1", "the model sync sent the token in the configured header")
			headers, _ := res.Providers["gw"]["options"].(map[string]any)["headers"].(map[string]any)
			assert.Equal(t, tc.prefix+"tok-1", headers[tc.wantHeader])
			assert.NotContains(t, headers, "Authorization")

			h, err := eng.Headers(context.Background(), protocol.HeadersParams{ProviderID: "gw"})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{tc.wantHeader: tc.prefix + "tok-1"}, h.Headers)
			sum := sha256.Sum256([]byte(h.Headers[tc.wantHeader]))
			h, err = eng.Headers(context.Background(), protocol.HeadersParams{ProviderID: "gw", Refused: hex.EncodeToString(sum[:])})
			require.NoError(t, err)
			assert.Equal(t, map[string]string{tc.wantHeader: tc.prefix + "tok-2"}, h.Headers, "renewed after the refusal")
		})
	}
}

// TestAuthorizationScheme: without a configured scheme, the token's type is
// the scheme, "bearer" and none normalised to "Bearer".
func TestAuthorizationScheme(t *testing.T) {
	tests := []struct{ typ, want string }{
		{"", "Bearer x"}, {"bearer", "Bearer x"}, {"BEARER", "Bearer x"}, {"DPoP", "DPoP x"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, config.Provider{}.HeaderValue(tc.typ, "x"))
	}
}
