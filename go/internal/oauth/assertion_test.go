package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// testKeys are one private key of each supported type.
type testKeys struct {
	rsa   *rsa.PrivateKey
	p256  *ecdsa.PrivateKey
	p384  *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	small *rsa.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeys
)

func genKeys(t *testing.T) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		keys.small, err = rsa.GenerateKey(rand.Reader, 1024)
		require.NoError(t, err)
		keys.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		keys.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		_, keys.ed, err = ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
	})
	return keys
}

func pemFile(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return writeKeyFile(t, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
}

func writeKeyFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func jsonFile(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return writeKeyFile(t, string(b))
}

func pkcs8(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return der
}

// TestLoadAssertionKey: every key format loads, signs a verifiable
// assertion with the expected header, and every bad file is refused with
// an error that names the file and shows nothing of the key.
func TestLoadAssertionKey(t *testing.T) {
	k := genKeys(t)
	sec1, err := x509.MarshalECPrivateKey(k.p256)
	require.NoError(t, err)
	rsaJWK := jose.JSONWebKey{Key: k.rsa, KeyID: "r1", Use: "sig"}
	ecJWK := jose.JSONWebKey{Key: k.p256, KeyID: "e1", Algorithm: "ES256"}
	tests := []struct {
		name     string
		file     string
		kid, alg string // configured
		wantAlg  string
		wantKid  string
		pub      crypto.PublicKey
		wantErr  string
	}{
		{name: "PKCS#8 RSA", file: pemFile(t, "PRIVATE KEY", pkcs8(t, k.rsa)), wantAlg: "RS256", pub: &k.rsa.PublicKey},
		{name: "PKCS#1 RSA with kid and PS256", file: pemFile(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), kid: "r9", alg: "PS256",
			wantAlg: "PS256", wantKid: "r9", pub: &k.rsa.PublicKey},
		{name: "SEC1 EC P-256", file: pemFile(t, "EC PRIVATE KEY", sec1), wantAlg: "ES256", pub: &k.p256.PublicKey},
		{name: "PKCS#8 EC P-384", file: pemFile(t, "PRIVATE KEY", pkcs8(t, k.p384)), wantAlg: "ES384", pub: &k.p384.PublicKey},
		{name: "PKCS#8 Ed25519", file: pemFile(t, "PRIVATE KEY", pkcs8(t, k.ed)), wantAlg: "EdDSA", pub: k.ed.Public()},
		{name: "PEM with EC parameters first", file: writeKeyFile(t, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"+
			string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))), wantAlg: "ES256", pub: &k.p256.PublicKey},
		{name: "JWK: its kid", file: jsonFile(t, rsaJWK), wantAlg: "RS256", wantKid: "r1", pub: &k.rsa.PublicKey},
		{name: "JWK: its alg", file: jsonFile(t, ecJWK), wantAlg: "ES256", wantKid: "e1", pub: &k.p256.PublicKey},
		{name: "JWK set: the only private key", file: jsonFile(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ecJWK.Public(), rsaJWK}}),
			wantAlg: "RS256", wantKid: "r1", pub: &k.rsa.PublicKey},
		{name: "JWK set: chosen by kid", file: jsonFile(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaJWK, ecJWK}}), kid: "e1",
			wantAlg: "ES256", wantKid: "e1", pub: &k.p256.PublicKey},
		{name: "JWK set: two private keys, no kid", file: jsonFile(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaJWK, ecJWK}}),
			wantErr: `has 2 private keys (kid "r1", "e1"); choose one with clientAssertionKeyId`},
		{name: "JWK set: no key with that kid", file: jsonFile(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaJWK}}), kid: "zz",
			wantErr: `has no private key with kid "zz"`},
		{name: "public JWK", file: jsonFile(t, rsaJWK.Public()), wantErr: "holds a public JWK; the private key is needed"},
		{name: "JWK set of public keys", file: jsonFile(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaJWK.Public()}}), wantErr: "has no private key"},
		{name: "alg that does not fit the key", file: pemFile(t, "PRIVATE KEY", pkcs8(t, k.p256)), alg: "RS256",
			wantErr: `clientAssertionAlg "RS256" does not fit this key; use one of ES256`},
		{name: "RSA key under 2048 bits", file: pemFile(t, "PRIVATE KEY", pkcs8(t, k.small)), wantErr: "expected an RSA (2048 bits or more)"},
		{name: "encrypted PEM", file: writeKeyFile(t, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
			wantErr: "holds an encrypted key"},
		{name: "a certificate only", file: writeKeyFile(t, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
			wantErr: "holds no PEM private key"},
		{name: "broken PKCS#8", file: pemFile(t, "PRIVATE KEY", []byte("nope")), wantErr: "the PKCS#8 key cannot be read"},
		{name: "not JSON", file: writeKeyFile(t, "{nope"), wantErr: "is not a JSON JWK or JWK set"},
		{name: "empty file", file: writeKeyFile(t, ""), wantErr: "holds no PEM private key"},
		{name: "missing file", file: filepath.Join(t.TempDir(), "missing.pem"), wantErr: "no such file"},
		{name: "huge file", file: writeKeyFile(t, strings.Repeat("a", maxKeyFile+1)), wantErr: "is larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := config.Provider{ID: "acme", ClientAssertionKeyFile: tc.file, ClientAssertionKeyID: tc.kid, ClientAssertionAlg: tc.alg}
			key, err := loadAssertionKey(p)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), `provider "acme": clientAssertionKeyFile`)
				content, _ := os.ReadFile(tc.file)
				for _, line := range strings.Split(string(content), "\n") {
					if len(line) > 20 {
						assert.NotContains(t, err.Error(), line[:20], "the error shows the file's content")
					}
				}
				return
			}
			require.NoError(t, err)
			now := time.Now()
			c := &Client{p: config.Provider{ClientID: "cli"}, assertion: key, o: Options{Now: func() time.Time { return now }}}
			meta := &Metadata{TokenEndpoint: "https://idp.example.com/token"}
			raw, err := c.clientAssertion(testCtx(t), meta)
			require.NoError(t, err)
			tok, err := jwt.ParseSigned(raw.Reveal(), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.wantAlg)})
			require.NoError(t, err)
			require.Len(t, tok.Headers, 1)
			assert.Equal(t, tc.wantAlg, tok.Headers[0].Algorithm)
			assert.Equal(t, tc.wantKid, tok.Headers[0].KeyID)
			assert.Equal(t, "JWT", tok.Headers[0].ExtraHeaders["typ"])
			var claims jwt.Claims
			require.NoError(t, tok.Claims(tc.pub, &claims), "the signature verifies with the public key")
			assert.Equal(t, "cli", claims.Issuer)
			assert.Equal(t, "cli", claims.Subject)
			assert.Equal(t, jwt.Audience{"https://idp.example.com/token"}, claims.Audience)
			assert.Len(t, claims.ID, 43, "a random jti (32 bytes, base64url)")
			assert.Equal(t, now.Unix(), claims.IssuedAt.Time().Unix())
			assert.Equal(t, now.Add(5*time.Minute).Unix(), claims.Expiry.Time().Unix())
			again, err := c.clientAssertion(testCtx(t), meta)
			require.NoError(t, err)
			tok2, err := jwt.ParseSigned(again.Reveal(), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.wantAlg)})
			require.NoError(t, err)
			var claims2 jwt.Claims
			require.NoError(t, tok2.Claims(tc.pub, &claims2))
			assert.NotEqual(t, claims.ID, claims2.ID, "every assertion has its own jti")
		})
	}
}

// assertionServer records the forms and Authorization headers of every
// request, answering the token endpoint with a token and the others with
// 200.
type assertionServer struct {
	mu      sync.Mutex
	forms   map[string][]url.Values
	headers map[string][]string
	srv     *httptest.Server
}

func newAssertionServer(t *testing.T) *assertionServer {
	t.Helper()
	s := &assertionServer{forms: map[string][]url.Values{}, headers: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		s.mu.Lock()
		s.forms[r.URL.Path] = append(s.forms[r.URL.Path], r.PostForm)
		s.headers[r.URL.Path] = append(s.headers[r.URL.Path], r.Header.Get("Authorization"))
		s.mu.Unlock()
		switch r.URL.Path {
		case "/token":
			writeJSON(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt-new"})
		case "/device":
			writeJSON(w, 200, map[string]any{"device_code": "dc", "user_code": "ABCD-EFGH", "verification_uri": "https://idp.test/activate"})
		default:
			w.WriteHeader(200)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *assertionServer) provider() config.Provider {
	base := s.srv.URL
	return config.Provider{ID: "acme", Issuer: base, ClientID: "cli", ClientSecret: secret.New("not-to-be-sent"),
		ClientAuthMethod: config.AuthMethodPrivateKeyJWT, Flow: config.ClientCredentials, HTTPTimeout: 5 * time.Second,
		Endpoints: config.Endpoints{Token: base + "/token", Revocation: base + "/revoke", DeviceAuthorization: base + "/device"}}
}

// TestPrivateKeyJWTOnEveryRequest: with private_key_jwt, the token
// requests of every grant, the device authorization request and the
// revocation carry a fresh client assertion (signed with the key file, or
// read from the source) instead of the secret, and nothing of it is logged.
func TestPrivateKeyJWTOnEveryRequest(t *testing.T) {
	k := genKeys(t)
	keyFile := pemFile(t, "PRIVATE KEY", pkcs8(t, k.p256))
	calls := map[string]func(c *Client) error{
		"/token": func(c *Client) error {
			if _, err := c.Acquire(testCtx(t)); err != nil {
				return err
			}
			_, err := c.Refresh(testCtx(t), tokensWithRefresh("rt-old"))
			return err
		},
		"/revoke": func(c *Client) error { return c.Revoke(testCtx(t), secret.New("rt-old"), HintRefreshToken) },
		"/device": func(c *Client) error {
			_, err := c.postForm(testCtx(t), "device authorization request", c.p.Endpoints.DeviceAuthorization,
				&Metadata{TokenEndpoint: c.p.Endpoints.Token}, url.Values{})
			return err
		},
	}
	for _, src := range []string{"key file", "source"} {
		t.Run(src, func(t *testing.T) {
			s := newAssertionServer(t)
			p := s.provider()
			federated := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvbGxtIn0.c2lnbmF0dXJl"
			if src == "key file" {
				p.ClientAssertionKeyFile = keyFile
			} else {
				p.ClientAssertionSource = &config.SubjectTokenSource{Type: config.SourceEnv, Var: "FEDERATED"}
			}
			log, logs := debugLogger()
			c, err := New(p, Options{Log: log, Getenv: func(string) string { return federated }})
			require.NoError(t, err)
			var sent []string
			for path, call := range calls {
				require.NoError(t, call(c), path)
				for i, form := range s.forms[path] {
					assert.Equal(t, ClientAssertionType, form.Get("client_assertion_type"), "%s #%d", path, i)
					assert.Equal(t, "cli", form.Get("client_id"), "%s #%d", path, i)
					assert.Empty(t, form.Get("client_secret"), "%s #%d: no secret", path, i)
					assert.Empty(t, s.headers[path][i], "%s #%d: no Authorization header", path, i)
					a := form.Get("client_assertion")
					require.NotEmpty(t, a, "%s #%d", path, i)
					sent = append(sent, a)
					if src == "source" {
						assert.Equal(t, federated, a, "the source's token is sent as it is")
						continue
					}
					tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.ES256})
					require.NoError(t, err)
					var claims jwt.Claims
					require.NoError(t, tok.Claims(&k.p256.PublicKey, &claims))
					assert.Equal(t, jwt.Audience{p.Endpoints.Token}, claims.Audience, "aud is the token endpoint, on every endpoint")
				}
			}
			assert.Len(t, sent, 4)
			if src == "key file" {
				assert.Len(t, uniq(sent), 4, "a new assertion for every request")
			}
			for _, a := range sent {
				assert.NotContains(t, logs.String(), a)
			}
			assert.NotContains(t, logs.String(), "not-to-be-sent")
		})
	}
	t.Run("a failing source names it", func(t *testing.T) {
		s := newAssertionServer(t)
		p := s.provider()
		p.ClientAssertionSource = &config.SubjectTokenSource{Type: config.SourceFile, Path: filepath.Join(t.TempDir(), "missing")}
		c, err := New(p, Options{Log: discardLogger()})
		require.NoError(t, err)
		_, err = c.Acquire(testCtx(t))
		require.ErrorContains(t, err, `provider "acme": clientAssertionSource (file): no file at`)
		assert.Empty(t, s.forms["/token"], "nothing was sent")
	})
	t.Run("a bad key file fails New", func(t *testing.T) {
		p := newAssertionServer(t).provider()
		p.ClientAssertionKeyFile = writeKeyFile(t, "not a key")
		_, err := New(p, Options{Log: discardLogger()})
		require.ErrorContains(t, err, `provider "acme": clientAssertionKeyFile`)
	})
}

func uniq(list []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range list {
		out[s] = true
	}
	return out
}
