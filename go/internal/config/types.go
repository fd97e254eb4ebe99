// Package config turns an OpenCode configuration (both shapes the original
// plugin accepted: provider.<id>.options.oauth2 and
// pluginConfig.oauth2ModelSync.servers[]) into validated Provider values.
// Every problem names the provider, the field, what was expected and what was
// found; a bad provider is skipped and reported while the others still work.
// The option names, and how each string, boolean or number option is read
// and worded in problems, are those of docs/oauth2.schema.json (schema.go).
// Finding and merging OpenCode's config files is package
// configfile's job.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Flow is an OAuth2 grant the plugin can run for a provider.
type Flow string

// The five supported grants.
const (
	AuthorizationCode Flow = "authorization_code"
	DeviceCode        Flow = "device_code"
	ClientCredentials Flow = "client_credentials"
	JWTBearer         Flow = "jwt_bearer"
	TokenExchange     Flow = "token_exchange"
)

// Interactive reports whether the flow needs a person (browser or device code).
func (f Flow) Interactive() bool { return f == AuthorizationCode || f == DeviceCode }

// Client authentication methods at the token endpoint.
const (
	AuthMethodAuto  = ""                    // per discovery's token_endpoint_auth_methods_supported
	AuthMethodPost  = "client_secret_post"  // client_secret in the form body
	AuthMethodBasic = "client_secret_basic" // HTTP Basic
	AuthMethodNone  = "none"                // public client
	// AuthMethodPrivateKeyJWT: a signed JWT as client_assertion (RFC 7523
	// section 2.2), made with ClientAssertionKeyFile or read from
	// ClientAssertionSource.
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// Subject-token source types for jwt_bearer and token_exchange.
const (
	SourceGitHubActions = "github_actions"
	SourceKubernetesSA  = "kubernetes_sa"
	SourceFile          = "file"
	SourceEnv           = "env"
)

// DefaultKubernetesTokenPath is where kubernetes_sa reads the projected
// service-account token when no tokenPath is given (same as the original).
const DefaultKubernetesTokenPath = "/var/run/secrets/tokens/oauth2/token"

// Defaults (the schema states them too; the bounds are only the schema's).
const (
	DefaultSyncInterval = 60 * time.Minute
	DefaultExpirySkew   = 30 * time.Second
	DefaultHTTPTimeout  = 15 * time.Second
	DefaultLoginTimeout = 5 * time.Minute
	// DefaultMaxModels bounds the models one provider contributes, the
	// maximum of maxModels: the default lists what a gateway lists: 20,000 ordinary entries take
	// about 1 MiB of OpenCode's config, well within what OpenCode lists and
	// one protocol frame (4 MiB) carries; a list that still does not fit is
	// cut by the frame (engine.fitFrame), never the other providers.
	DefaultMaxModels = 20000
	// DefaultSubjectTokenType is the RFC 8693 subject_token_type used when none is configured.
	DefaultSubjectTokenType = "urn:ietf:params:oauth:token-type:jwt"
)

// SubjectTokenSource says where jwt_bearer / token_exchange read the
// platform token from. It is read fresh on every acquisition.
type SubjectTokenSource struct {
	Type     string // one of the Source* constants
	Audience string // github_actions: audience requested from GitHub
	Path     string // kubernetes_sa (tokenPath, defaulted) and file (path)
	Var      string // env: the variable name
}

// Endpoints are explicit overrides; empty means "use discovery".
type Endpoints struct {
	Authorization       string
	Token               string
	DeviceAuthorization string
	JWKS                string
	Revocation          string
}

// Provider is one managed OpenCode provider with a validated oauth2 block.
type Provider struct {
	ID      string // OpenCode provider id
	Name    string // display name (provider name, else pluginConfig name, else id)
	BaseURL string // OpenAI-compatible base URL (options.baseURL or servers[].baseURL)
	// Origin says where the oauth2 block came from, e.g.
	// `provider.acme.options.oauth2` or `pluginConfig.oauth2ModelSync.servers[0]`.
	Origin string

	Issuer           string
	ClientID         string
	ClientSecret     secret.String
	ClientAuthMethod string // one of the AuthMethod* constants
	Scopes           []string
	Flow             Flow
	PKCE             bool // default true
	RedirectPort     int  // 0 = random free port
	LoginTimeout     time.Duration
	Endpoints        Endpoints

	// private_key_jwt: exactly one of ClientAssertionKeyFile (the plugin
	// signs) and ClientAssertionSource (a JWT made elsewhere, e.g. a GitHub
	// Actions or Kubernetes token: the federated-credential pattern).
	ClientAssertionKeyFile string              // PEM (PKCS#8, PKCS#1, SEC1) or JWK / JWK set
	ClientAssertionKeyID   string              // kid header; default: the JWK's kid
	ClientAssertionAlg     string              // default: RS256 for RSA, ES256/384/512 by curve, EdDSA
	ClientAssertionSource  *SubjectTokenSource // read fresh for every request

	SubjectToken       *SubjectTokenSource // required for jwt_bearer / token_exchange
	SubjectTokenType   string              // token_exchange (default DefaultSubjectTokenType)
	Audience           string              // audience parameter (audience, or tokenExchangeAudience)
	Resources          []string            // RFC 8707 / 8693 resource
	RequestedTokenType string              // token_exchange

	// Extra request parameters. Prompt, LoginHint and ACRValues go into the
	// authorization request; AuthorizationParams into the authorization and
	// device authorization requests; TokenParams into every token request.
	// None of them names a parameter the plugin sets itself.
	Prompt              string
	LoginHint           string
	ACRValues           string
	AuthorizationParams map[string]string
	TokenParams         map[string]string

	SyncInterval  time.Duration     // bounded to [1 minute, 7 days] (the schema's bounds)
	MaxModels     int               // most models kept from the gateway's list (default DefaultMaxModels)
	NameOverrides map[string]string // model id -> display name
	ModelsURL     string            // explicit models endpoint; empty = derived from BaseURL
	ResponseAPI   bool              // register with @ai-sdk/openai (Responses API)

	// Where the gateway takes the token: TokenHeader ("" = Authorization),
	// with TokenScheme before it when TokenSchemeSet ("" = the token alone),
	// else the token's own type (Bearer).
	// TokenStorage is where the provider's tokens are kept ("" = the
	// plugin-wide setting, else StorageFile).
	TokenStorage Storage

	TokenHeader    string
	TokenScheme    string
	TokenSchemeSet bool

	ExpirySkew        time.Duration // refresh this long before expiry (default 30 s)
	HTTPTimeout       time.Duration // per network call (default 15 s)
	AllowInsecureHTTP bool          // permit http:// for non-loopback issuer/endpoints
	CAFile            string        // extra PEM bundle trusted for this provider
}

// Storage is where a provider's tokens are kept.
type Storage string

// Token storages.
const (
	StorageFile    Storage = "file"    // a 0600 file in the cache directory
	StorageKeyring Storage = "keyring" // the OS keychain; an error when none answers
	StorageAuto    Storage = "auto"    // the keychain when one answers, else the file
	StorageMemory  Storage = "memory"  // never written: a new token per process
)

// Severity of a Problem.
type Severity string

// Problem severities.
const (
	SeverityError   Severity = "error"   // the provider is skipped
	SeverityWarning Severity = "warning" // reported, the provider still works
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	ProviderID string   // may be empty when no id could be read
	Field      string   // full path, e.g. provider.acme.options.oauth2.redirectPort
	Expected   string   // e.g. "an integer in [1, 65535]"
	Found      string   // a short rendering of the value found (never a secret's value)
	Severity   Severity // error: provider skipped; warning: provider kept
	// Hint is optional advice appended to Message, e.g. `did you mean "clientId"?`
	// or `using 10080`. Like Found, it never contains a secret.
	Hint string
}

// Result is the outcome of parsing a whole OpenCode config.
type Result struct {
	Providers []Provider // valid managed providers, in a stable order
	Problems  []Problem  // every error and warning, in a stable order
	Settings  Settings
}

// Settings are plugin-wide options from pluginConfig.oauth2ModelSync.
type Settings struct {
	HTTPTimeout time.Duration // default DefaultHTTPTimeout
	ExpirySkew  time.Duration // default DefaultExpirySkew
	CacheDir    string        // override of the cache directory ("" = user cache dir)
	// TokenStorage is where providers keep their tokens unless they say
	// otherwise ("" = StorageFile).
	TokenStorage Storage
}

// cacheKeyVersion changes whenever the inputs of CacheKey change, so that
// old cache entries are never mistaken for new ones.
const cacheKeyVersion = "opencode-oauth2/cache-key/v1"

// CacheKey identifies the tokens this provider may reuse: 32 hex digits of
// a SHA-256 over everything that makes a token valid for it — issuer,
// client id, flow, scopes (sorted, deduplicated), the audience parameter,
// resources (sorted), subject/requested token types, the subject-token
// source (type and audience/path/variable), the token endpoint override,
// and, when set, acrValues, authorizationParams and tokenParams (they may
// select another identity, assurance or audience; a provider without them
// keeps the key it had before they existed).
// Editing any of these yields a new key, so a token is never reused for a
// configuration it was not issued for.
//
// Deliberately left out:
//   - the provider id and display name: two providers with the same OAuth
//     identity may share tokens; the tokens package adds the id if it
//     wants a file per provider;
//   - the client secret and the client assertion options (key file, key
//     id, algorithm, source): they authenticate the client but do not scope
//     the token, so rotating them must not force a new login; and a digest
//     of a (possibly low-entropy) secret in a file name could be
//     brute-forced offline by anyone who can list the cache directory;
//   - prompt and loginHint: they guide a login, not what it grants;
//   - endpoints other than the token endpoint, PKCE, ports, timeouts:
//     they change how a token is obtained, not what it grants.
func (p Provider) CacheKey() string {
	scopes := slices.Compact(slices.Sorted(slices.Values(p.Scopes)))
	resources := slices.Compact(slices.Sorted(slices.Values(p.Resources)))
	h := sha256.New()
	// Each value is written with its length in front, so no two distinct
	// inputs produce the same byte stream.
	write := func(vals ...string) {
		for _, v := range vals {
			_, _ = h.Write([]byte(strconv.Itoa(len(v)) + ":" + v + ";"))
		}
	}
	write(cacheKeyVersion, p.Issuer, p.ClientID, string(p.Flow), p.Audience,
		p.SubjectTokenType, p.RequestedTokenType, p.Endpoints.Token)
	write(strconv.Itoa(len(scopes)))
	write(scopes...)
	write(strconv.Itoa(len(resources)))
	write(resources...)
	if s := p.SubjectToken; s != nil {
		write("source", s.Type, s.Audience, s.Path, s.Var)
	} else {
		write("no-source")
	}
	if p.ACRValues != "" || len(p.AuthorizationParams) > 0 || len(p.TokenParams) > 0 {
		write("params", p.ACRValues)
		for _, m := range []map[string]string{p.AuthorizationParams, p.TokenParams} {
			keys := slices.Sorted(maps.Keys(m))
			write(strconv.Itoa(len(keys)))
			for _, k := range keys {
				write(k, m[k])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
