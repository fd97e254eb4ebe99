package testenv

import (
	"net/http/httptest"
	"testing"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// Gateway is a test gateway served in-process on 127.0.0.1.
type Gateway struct {
	*testgateway.Gateway
	// URL is the gateway's base URL (http://127.0.0.1:<port>); the OpenAI-compatible
	// base URL is URL + "/v1".
	URL string
}

// StartGateway serves a test gateway that accepts access tokens from issuer for
// audience, with the default model list; it stops when the test ends.
func StartGateway(t testing.TB, issuer, audience string) *Gateway {
	t.Helper()
	return StartGatewayWithOptions(t, testgateway.Options{Issuer: issuer, Audience: audience})
}

// StartGatewayWithOptions is StartGateway with every option of the gateway.
func StartGatewayWithOptions(t testing.TB, opts testgateway.Options) *Gateway {
	t.Helper()
	gw := testgateway.New(opts)
	srv := httptest.NewServer(gw) // binds 127.0.0.1
	t.Cleanup(func() {
		gw.Close() // first: ends pending delays so that srv.Close does not wait on them
		srv.Close()
	})
	return &Gateway{Gateway: gw, URL: srv.URL}
}
