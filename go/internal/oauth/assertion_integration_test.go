//go:build integration

package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// clientKeys reads the private keys of testenv.ClientPrivateKeyJWT by kid.
func clientKeys(t *testing.T, as *testenv.AuthServer) map[string]jose.JSONWebKey {
	t.Helper()
	raw, err := os.ReadFile(as.ClientAssertionKeys())
	require.NoError(t, err)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(raw, &set))
	out := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		out[k.KeyID] = k
	}
	require.Contains(t, out, testenv.KidRS256)
	require.Contains(t, out, testenv.KidES256)
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func writePEM(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	require.NoError(t, err)
	return writeFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func lastRequest(t *testing.T, as *testenv.AuthServer, endpoint string) testenv.LastRequest {
	t.Helper()
	all, err := as.LastRequests()
	require.NoError(t, err)
	r, ok := all[endpoint]
	require.True(t, ok, "no %s request at the server", endpoint)
	return r
}

// checkAssertion: the last request to endpoint authenticated with a client
// assertion (RFC 7523 section 2.2) with the claims of RFC 7523 section 3,
// and with nothing else.
func checkAssertion(t *testing.T, as *testenv.AuthServer, endpoint, wantAlg, wantKid string) string {
	t.Helper()
	r := lastRequest(t, as, endpoint)
	assert.Equal(t, []string{oauth.ClientAssertionType}, r.Params["client_assertion_type"], endpoint)
	assert.Empty(t, r.Params["client_secret"], endpoint)
	assert.False(t, r.Basic, endpoint)
	require.NotNil(t, r.ClientAssertion, endpoint)
	h, c := r.ClientAssertion.Header, r.ClientAssertion.Claims
	assert.Equal(t, wantAlg, h["alg"], endpoint)
	if wantKid == "" {
		assert.NotContains(t, h, "kid", endpoint)
	} else {
		assert.Equal(t, wantKid, h["kid"], endpoint)
	}
	assert.Equal(t, testenv.ClientPrivateKeyJWT, c["iss"], endpoint)
	assert.Equal(t, testenv.ClientPrivateKeyJWT, c["sub"], endpoint)
	assert.Equal(t, as.TokenURL(), c["aud"], endpoint)
	exp, iat := c["exp"].(float64), c["iat"].(float64)
	assert.True(t, exp > iat && exp-iat <= 300, "%s: a short lifetime: iat %v, exp %v", endpoint, iat, exp)
	jti, _ := c["jti"].(string)
	assert.NotEmpty(t, jti, endpoint)
	return jti
}

// TestPrivateKeyJWTAgainstRealServer: the real server checks the signature
// of every client assertion against the client's registered keys, for
// every key format, RS256 and ES256; a key it does not know is
// invalid_client.
func TestPrivateKeyJWTAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	keys := clientKeys(t, as)
	rsaKey := keys[testenv.KidRS256].Key.(*rsa.PrivateKey)
	ecKey := keys[testenv.KidES256].Key.(*ecdsa.PrivateKey)
	rsaJWK, err := json.Marshal(keys[testenv.KidRS256])
	require.NoError(t, err)
	pkcs8 := func(k any) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }
	ecPKCS8, err8 := pkcs8(ecKey)
	rsaPKCS8, errR := pkcs8(rsaKey)
	sec1, errS := x509.MarshalECPrivateKey(ecKey)

	tests := []struct {
		name, file, kid, alg string
		wantAlg, wantKid     string
	}{
		{name: "JWK set, RS256 key by kid", file: as.ClientAssertionKeys(), kid: testenv.KidRS256, wantAlg: "RS256", wantKid: testenv.KidRS256},
		{name: "JWK set, ES256 key by kid", file: as.ClientAssertionKeys(), kid: testenv.KidES256, wantAlg: "ES256", wantKid: testenv.KidES256},
		{name: "one JWK, its kid", file: writeFile(t, "rsa.jwk.json", rsaJWK), wantAlg: "RS256", wantKid: testenv.KidRS256},
		{name: "PKCS#1 PEM with kid", file: writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), kid: testenv.KidRS256,
			wantAlg: "RS256", wantKid: testenv.KidRS256},
		{name: "PKCS#8 PEM (RSA) without kid", file: writePEM(t, "PRIVATE KEY", rsaPKCS8, errR), wantAlg: "RS256"},
		{name: "SEC1 EC PEM with kid", file: writePEM(t, "EC PRIVATE KEY", sec1, errS), kid: testenv.KidES256, wantAlg: "ES256", wantKid: testenv.KidES256},
		{name: "PKCS#8 PEM (EC) without kid", file: writePEM(t, "PRIVATE KEY", ecPKCS8, err8), wantAlg: "ES256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, as.ResetStats())
			p := machineProvider(as, config.ClientCredentials, testenv.ClientPrivateKeyJWT, "", config.AuthMethodPrivateKeyJWT)
			p.ClientAssertionKeyFile, p.ClientAssertionKeyID, p.ClientAssertionAlg = tc.file, tc.kid, tc.alg
			logs := &syncbuf.Buffer{}
			c := newClient(t, p, logs, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
			first := checkAssertion(t, as, "token", tc.wantAlg, tc.wantKid)

			_, err = c.Acquire(ctx)
			require.NoError(t, err, "a second request gets a new assertion (the server refuses a replayed jti)")
			assert.NotEqual(t, first, checkAssertion(t, as, "token", tc.wantAlg, tc.wantKid))
			stats, err := as.Stats()
			require.NoError(t, err)
			assert.Equal(t, 2, stats["client_credentials"])
			assert.NotContains(t, logs.String(), tok.AccessToken.Reveal())
		})
	}

	t.Run("a key the server does not know is invalid_client", func(t *testing.T) {
		other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(other)
		p := machineProvider(as, config.ClientCredentials, testenv.ClientPrivateKeyJWT, "", config.AuthMethodPrivateKeyJWT)
		p.ClientAssertionKeyFile, p.ClientAssertionKeyID = writePEM(t, "PRIVATE KEY", der, err), testenv.KidES256
		_, err = newClient(t, p, &syncbuf.Buffer{}, nil).Acquire(context.Background())
		require.Error(t, err)
		assert.ErrorIs(t, err, tokens.ErrInvalidClient)
		assert.Contains(t, err.Error(), "invalid_client")
	})

	t.Run("federated: a JWT from clientAssertionSource is sent as it is", func(t *testing.T) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: keys[testenv.KidRS256]}, (&jose.SignerOptions{}).WithType("JWT"))
		require.NoError(t, err)
		now := time.Now()
		minted, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: testenv.ClientPrivateKeyJWT, Subject: testenv.ClientPrivateKeyJWT,
			Audience: jwt.Audience{as.Issuer}, ID: "federated-jti-" + now.Format("150405.000000000"),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		require.NoError(t, err)
		p := machineProvider(as, config.ClientCredentials, testenv.ClientPrivateKeyJWT, "", config.AuthMethodPrivateKeyJWT)
		p.ClientAssertionSource = &config.SubjectTokenSource{Type: config.SourceFile, Path: writeFile(t, "token", []byte(minted+"\n"))}
		logs := &syncbuf.Buffer{}
		tok, err := newClient(t, p, logs, nil).Acquire(context.Background())
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		r := lastRequest(t, as, "token")
		require.NotNil(t, r.ClientAssertion)
		assert.Equal(t, "federated-jti-"+now.Format("150405.000000000"), r.ClientAssertion.Claims["jti"])
		assert.Equal(t, as.Issuer, r.ClientAssertion.Claims["aud"])
		assert.NotContains(t, logs.String(), minted)
	})
}

// TestPrivateKeyJWTInteractiveAgainstRealServer: a login, a refresh and a
// revocation with private_key_jwt, each checked by the real server; and a
// device login, whose device authorization request authenticates too.
func TestPrivateKeyJWTInteractiveAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second, DeviceCodeTTL: time.Minute})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("authorization code, refresh, revocation", func(t *testing.T) {
		p := userProvider(as, config.AuthorizationCode, testenv.ClientPrivateKeyJWT)
		p.ClientAuthMethod, p.ClientAssertionKeyFile, p.ClientAssertionKeyID = config.AuthMethodPrivateKeyJWT, as.ClientAssertionKeys(), testenv.KidES256
		person := newPerson(t, as)
		logs := &syncbuf.Buffer{}
		c := userClient(t, p, logs, oauth.Options{OpenBrowser: person.open})
		tok, err := c.Acquire(ctx)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, person.status(t))
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		checkAssertion(t, as, "token", "ES256", testenv.KidES256)

		next, err := c.Refresh(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, []string{"refresh_token"}, lastRequest(t, as, "token").Params["grant_type"])
		checkAssertion(t, as, "token", "ES256", testenv.KidES256)

		require.NoError(t, c.Revoke(ctx, next.RefreshToken, oauth.HintRefreshToken))
		checkAssertion(t, as, "revocation", "ES256", testenv.KidES256)
		_, err = c.Refresh(ctx, next)
		assert.ErrorIs(t, err, tokens.ErrInvalidGrant, "the revoked refresh token no longer works")
		for _, s := range []string{tok.RefreshToken.Reveal(), next.RefreshToken.Reveal(), next.AccessToken.Reveal()} {
			assert.NotContains(t, logs.String(), s)
		}
	})

	t.Run("device code", func(t *testing.T) {
		p := userProvider(as, config.DeviceCode, testenv.ClientPrivateKeyJWT)
		p.ClientAuthMethod, p.ClientAssertionKeyFile, p.ClientAssertionKeyID = config.AuthMethodPrivateKeyJWT, as.ClientAssertionKeys(), testenv.KidRS256
		answered := make(chan error, 1)
		c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{Prompt: func(pr oauth.Prompt) {
			go func() {
				actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer acancel()
				answered <- as.ApproveDevice(actx, pr.UserCode)
			}()
		}})
		tok, err := c.Acquire(ctx)
		require.NoError(t, <-answered)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		checkAssertion(t, as, "device_authorization", "RS256", testenv.KidRS256)
		checkAssertion(t, as, "token", "RS256", testenv.KidRS256)
	})
}
