package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Bounds of the doctor's own requests.
const (
	doctorRequestTimeout = 15 * time.Second
	doctorMaxBody        = 1 << 20
)

// grantTypes are the grant_types_supported values each flow needs.
var grantTypes = map[config.Flow]string{
	config.AuthorizationCode: "authorization_code",
	config.DeviceCode:        oauth.GrantDeviceCode,
	config.ClientCredentials: "client_credentials",
	config.JWTBearer:         oauth.GrantJWTBearer,
	config.TokenExchange:     oauth.GrantTokenExchange,
}

// providerDoctor checks one provider.
type providerDoctor struct {
	c       *cli
	r       *report
	p       *service.Provider
	section string

	issuerMismatch bool
	noDocument     string // the discovery URLs tried in vain, when none answered 200
}

func (d *providerDoctor) add(name, status, detail, fix string) *checkResult {
	return d.r.add(d.section, name, status, detail, fix)
}

// skipToken says why no token is asked for, so the gateway is not called.
func (d *providerDoctor) skipToken(why string) {
	d.add("token", statusSkip, why, "")
	d.add("gateway", statusSkip, "no token", "")
}

func (d *providerDoctor) run(ctx context.Context) {
	cfg := d.p.Config
	d.add("settings", statusOK, fmt.Sprintf("%s flow, issuer %s, client %q", cfg.Flow, redact.URL(cfg.Issuer), cfg.ClientID), "")
	switch where := d.p.Entry.Storage(); {
	case cfg.TokenStorage == config.StorageAuto && where == "file":
		d.add("token storage", statusWarn, "tokenStorage is auto, but no keychain answers: tokens are kept in the cache file",
			"start and unlock a keychain (on Linux a Secret Service such as gnome-keyring), or set tokenStorage to \"file\" to say so")
	case where == "keyring":
		d.add("token storage", statusOK, "the OS keychain answers; tokens are kept there (the cache file holds none)", "")
	case where == "memory":
		d.add("token storage", statusOK, "memory: tokens are never written; every process gets its own", "")
	default:
		d.add("token storage", statusOK, "a 0600 file in the cache directory", "")
	}
	if f := cfg.ClientAssertionKeyFile; f != "" {
		if why := safefile.Exposure(f); why != "" {
			d.add("private key", statusWarn, fmt.Sprintf("clientAssertionKeyFile %s: %s", f, why),
				"keep the key in a file of yours that only you can read and write (chmod 600), not behind a link")
		} else {
			d.add("private key", statusOK, fmt.Sprintf("clientAssertionKeyFile %s is yours and private", f), "")
		}
	}
	reachable := d.discovery(ctx)
	d.redirectPort()
	if !reachable {
		d.skipToken("the authorization server cannot be reached")
		return
	}
	if meta, ok := d.metadata(ctx); ok {
		d.flowNeeds(meta)
		d.endpoints(ctx, meta)
	}
	if d.issuerMismatch {
		d.skipToken("the issuer does not match")
		return
	}
	tok, ok := d.token(ctx)
	if !ok {
		return
	}
	d.gateway(ctx, tok)
}

// do sends a request without a body (GET), or with an empty form (POST).
func (d *providerDoctor) do(ctx context.Context, method, u string) (resp *http.Response, body []byte, sent, got time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, doctorRequestTimeout)
	defer cancel()
	var reqBody io.Reader
	if method == http.MethodPost {
		reqBody = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return nil, nil, sent, got, err
	}
	req.Header.Set("Accept", "application/json")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	sent = time.Now()
	resp, err = d.p.OAuth.HTTPClient().Do(req)
	got = time.Now()
	if err != nil {
		return nil, nil, sent, got, transportCause(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, doctorMaxBody))
	return resp, body, sent, got, err
}

// transportCause drops the URL wrapper of a transport error (the URL is
// printed separately, redacted).
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// discovery fetches the metadata document itself to check that the server
// answers, that it names the configured issuer, and its clock. It reports
// whether the server could be reached at all.
func (d *providerDoctor) discovery(ctx context.Context) bool {
	cfg := d.p.Config
	tried := []string{}
	var first *http.Response
	var sent0, got0 time.Time
	defer func() {
		if first != nil {
			d.clock(first.Header.Get("Date"), sent0, got0)
		}
	}()
	urls, _ := oauth.DiscoveryURLs(cfg.Issuer) // the configured issuer is a URL (config checked it)
	for _, u := range urls {
		resp, body, sent, got, err := d.do(ctx, http.MethodGet, u)
		if err != nil && resp == nil {
			detail, fix := netDetailFor(err, "issuer URL", "check the issuer URL and that the server is running; "+checkNetwork)
			d.add("reach", statusFail, fmt.Sprintf("cannot reach %s: %s", redact.URL(u), detail), fix)
			return false
		}
		if first == nil {
			first, sent0, got0 = resp, sent, got
		}
		tried = append(tried, fmt.Sprintf("%s (HTTP %d)", redact.URL(u), resp.StatusCode))
		if resp.StatusCode != http.StatusOK {
			continue
		}
		var doc struct {
			Issuer string `json:"issuer"`
		}
		if json.Unmarshal(body, &doc) != nil {
			d.add("discovery", statusFail, redact.URL(u)+" is not a JSON metadata document",
				"check the issuer URL: it must be the base URL the server publishes its metadata under")
			return true
		}
		d.add("discovery", statusOK, fmt.Sprintf("%s answered in %s", redact.URL(u), got.Sub(sent).Round(time.Millisecond)), "")
		if strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(cfg.Issuer, "/") {
			d.issuerMismatch = true
			d.add("issuer", statusFail,
				fmt.Sprintf("the server says its issuer is %q, the config says %q", redact.Clean(doc.Issuer, 200), cfg.Issuer),
				fmt.Sprintf("set issuer to exactly %q if this is the right server (the two must match, so tokens of another identity provider are never accepted)", redact.Clean(doc.Issuer, 200))).Config = true
		} else {
			d.add("issuer", statusOK, "the server's metadata names the configured issuer", "")
		}
		return true
	}
	d.noDocument = strings.Join(tried, ", ") // metadata says whether that matters
	return true
}

// clock compares the server's Date header with this machine's clock.
func (d *providerDoctor) clock(date string, sent, got time.Time) {
	server, err := http.ParseTime(date)
	if date == "" || err != nil {
		d.add("clock", statusSkip, "the server sent no usable Date header", "")
		return
	}
	// The Date header has a resolution of one second: compare it with this
	// machine's clock at the same resolution, in the middle of the exchange.
	local := sent.Add(got.Sub(sent) / 2).Truncate(time.Second)
	skew := server.Sub(local)
	abs := skew.Abs()
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	switch {
	case abs > skewFail:
		d.add("clock", statusFail, fmt.Sprintf("the server's clock is %s %s this machine's", abs, dir),
			"set this machine's clock right (enable NTP, e.g. timedatectl set-ntp true): id_tokens are checked against it with one minute of leeway, so logins fail")
	case abs > skewWarn:
		d.add("clock", statusWarn, fmt.Sprintf("the server's clock is %s %s this machine's", abs, dir),
			"enable NTP on this machine; id_tokens are checked with one minute of leeway")
	default:
		d.add("clock", statusOK, fmt.Sprintf("within %s of the server's Date header", max(abs, time.Second)), "")
	}
}

// metadata runs the plugin's own discovery (with the config's endpoint
// overrides and its URL rules).
func (d *providerDoctor) metadata(ctx context.Context) (*oauth.Metadata, bool) {
	mctx, cancel := context.WithTimeout(ctx, doctorRequestTimeout)
	defer cancel()
	meta, err := d.p.OAuth.Metadata(mctx)
	if err != nil {
		if d.issuerMismatch {
			d.add("endpoints", statusSkip, "the issuer does not match", "")
			return nil, false
		}
		fix := "set the missing endpoints in the oauth2 block, or fix the issuer URL"
		if d.noDocument != "" {
			fix = "check the issuer URL (no metadata at " + d.noDocument + "); without discovery, set every endpoint in the oauth2 block"
		}
		d.add("metadata", statusFail, err.Error(), fix)
		return nil, false
	}
	if !meta.Discovered {
		detail := "endpoints from the config (discovery not needed)"
		if d.noDocument != "" {
			detail = "endpoints from the config (the server publishes no metadata document)"
		}
		d.add("metadata", statusOK, detail, "")
	}
	return meta, true
}

// flowNeeds checks what the configured flow needs from the server.
func (d *providerDoctor) flowNeeds(meta *oauth.Metadata) {
	cfg := d.p.Config
	ok := true
	fail := func(detail, fix string) {
		ok = false
		d.add("flow", statusFail, detail, fix)
	}
	switch cfg.Flow {
	case config.AuthorizationCode:
		if meta.AuthorizationEndpoint == "" {
			fail("the server metadata has no authorization_endpoint", "set authorizationEndpoint in the oauth2 block")
		}
		if cfg.PKCE && len(meta.CodeChallengeMethods) > 0 && !slices.Contains(meta.CodeChallengeMethods, "S256") {
			d.add("flow", statusWarn, "the server does not list PKCE S256 in code_challenge_methods_supported",
				"if logins fail with a PKCE error, set pkce: false for this provider")
		}
	case config.DeviceCode:
		if meta.DeviceAuthorizationEndpoint == "" {
			fail("the server metadata has no device_authorization_endpoint", "set deviceAuthorizationEndpoint, or use authFlow authorization_code")
		}
	}
	if slices.Contains(cfg.Scopes, "openid") && cfg.Flow.Interactive() && meta.JWKSURI == "" {
		fail("openid is requested but the server metadata has no jwks_uri, so id_tokens cannot be verified", "set jwksUri in the oauth2 block")
	}
	if g := grantTypes[cfg.Flow]; len(meta.GrantTypes) > 0 && !slices.Contains(meta.GrantTypes, g) {
		d.add("flow", statusWarn, fmt.Sprintf("the server does not list %s in grant_types_supported", g),
			"check that the server (and client "+strconv.Quote(cfg.ClientID)+") allows this grant")
	}
	if ok {
		detail := fmt.Sprintf("the server supports what %s needs", cfg.Flow)
		if cfg.Flow == config.AuthorizationCode && meta.DeviceAuthorizationEndpoint != "" {
			detail += " (login --device is available too)"
		}
		d.add("flow", statusOK, detail, "")
	}
}

// redirectPort checks that a fixed redirect port is free.
func (d *providerDoctor) redirectPort() {
	cfg := d.p.Config
	if cfg.Flow != config.AuthorizationCode {
		return
	}
	if cfg.RedirectPort == 0 {
		d.add("redirect port", statusOK, "a free port on 127.0.0.1 is picked at each login", "")
		return
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.RedirectPort)))
	if err != nil {
		d.add("redirect port", statusFail, fmt.Sprintf("port %d on 127.0.0.1 is taken, so a login would fail: %s", cfg.RedirectPort, redact.Text(err.Error(), 120)),
			fmt.Sprintf("stop the program using it (another login?), or change redirectPort; it must match a redirect URI registered for client %q", cfg.ClientID))
		return
	}
	_ = l.Close()
	d.add("redirect port", statusOK, fmt.Sprintf("port %d on 127.0.0.1 is free", cfg.RedirectPort), "")
}

// endpoints checks that the endpoints the flow uses answer at all.
func (d *providerDoctor) endpoints(ctx context.Context, meta *oauth.Metadata) {
	cfg := d.p.Config
	// Each endpoint is probed the way it is used: the token, device
	// authorization and revocation endpoints only serve POST requests, so
	// they get an empty form POST, and any answer but a 5xx (typically 400
	// invalid_request or 401 invalid_client) shows they are alive; a GET
	// would make some servers answer 405 or even 500.
	type ep struct {
		name, url string
		method    string
		required  bool
	}
	list := []ep{{"token", meta.TokenEndpoint, http.MethodPost, true}}
	if cfg.Flow == config.AuthorizationCode {
		list = append(list, ep{"authorization", meta.AuthorizationEndpoint, http.MethodGet, true})
	}
	if cfg.Flow == config.DeviceCode {
		list = append(list, ep{"device authorization", meta.DeviceAuthorizationEndpoint, http.MethodPost, true})
	}
	list = append(list, ep{"jwks", meta.JWKSURI, http.MethodGet, slices.Contains(cfg.Scopes, "openid") && cfg.Flow.Interactive()},
		ep{"revocation", meta.RevocationEndpoint, http.MethodPost, false})
	var fine []string
	for _, e := range list {
		if e.url == "" {
			continue
		}
		resp, _, _, _, err := d.do(ctx, e.method, e.url)
		status := statusWarn
		if e.required {
			status = statusFail
		}
		switch {
		case err != nil && resp == nil:
			detail, fix := netDetailFor(err, "URL", "check the server and the network path to it (proxy, firewall)")
			d.add("endpoints", status, fmt.Sprintf("the %s endpoint %s does not answer: %s", e.name, redact.URL(e.url), detail), fix)
		case resp.StatusCode >= 500:
			probe := "a GET request"
			if e.method == http.MethodPost {
				probe = "an empty POST request"
			}
			d.add("endpoints", statusWarn, fmt.Sprintf("the %s endpoint %s answers %s with HTTP %d", e.name, redact.URL(e.url), probe, resp.StatusCode),
				"the server may be having trouble; check its status")
		case e.name == "jwks" && resp.StatusCode != http.StatusOK:
			d.add("endpoints", status, fmt.Sprintf("the jwks endpoint %s answers HTTP %d", redact.URL(e.url), resp.StatusCode),
				"id_tokens cannot be verified without the key set; check jwks_uri")
		default:
			fine = append(fine, e.name)
		}
	}
	if len(fine) > 0 {
		d.add("endpoints", statusOK, strings.Join(fine, ", ")+" answer", "")
	}
}

// token gets a token the way OpenCode does at start-up: without prompting.
func (d *providerDoctor) token(ctx context.Context) (tokens.Token, bool) {
	cfg := d.p.Config
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tok, err := d.p.Token(tctx, tokens.NoLogin)
	if err == nil {
		d.add("token", statusOK, "a token is at hand"+asWho(tok)+"; "+expiryText(tok, d.c.now()), "")
		return tok, true
	}
	switch code := tokenExitCode(err); {
	case code == exitLoginRequired && cfg.Flow.Interactive():
		d.add("token", statusWarn, "not logged in: no usable login is cached",
			fmt.Sprintf("run `%s` (OpenCode asks at first use otherwise)", d.c.hint("login", cfg.ID)))
		d.add("gateway", statusSkip, "needs a login", "")
		return tokens.Token{}, false
	case code == exitConfig:
		d.add("token", statusFail, err.Error(), "check clientId, clientSecret and clientAuthMethod against the client registered at the server").Config = true
	default:
		detail, fix := netDetailFor(err, "URL", "see the error; `"+d.c.hint("token", cfg.ID, "-v")+"` shows every step")
		d.add("token", statusFail, detail, fix)
	}
	d.add("gateway", statusSkip, "no token", "")
	return tokens.Token{}, false
}

// gateway calls the gateway's models endpoint with the token.
func (d *providerDoctor) gateway(ctx context.Context, tok tokens.Token) {
	cfg := d.p.Config
	u, err := models.URL(cfg.BaseURL, cfg.ModelsURL)
	if err != nil {
		d.add("gateway", statusFail, err.Error(), "set baseURL (or modelsURL) to the gateway's http(s) URL").Config = true
		return
	}
	gctx, cancel := context.WithTimeout(ctx, doctorRequestTimeout)
	defer cancel()
	list, err := models.Fetcher{Client: d.p.OAuth.HTTPClient()}.Fetch(gctx, u, d.p.Config.HeaderName(), secret.New(d.p.Config.HeaderValue(tok.TokenType, tok.AccessToken.Reveal())))
	var he *models.HTTPError
	switch {
	case err == nil:
		d.add("gateway", statusOK, fmt.Sprintf("GET %s: %s", redact.URL(u), plural(len(list.Models), "model")), "")
	case errors.As(err, &he):
		detail := err.Error()
		if c := claimsText(tok); c != "" && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
			detail += "; the token has " + c
		}
		d.add("gateway", statusFail, detail, gatewayHint(cfg, he.StatusCode))
	default:
		detail, fix := netDetailFor(err, "baseURL (or modelsURL)", "check baseURL, that the gateway runs, and the network path to it (proxy, firewall)")
		d.add("gateway", statusFail, detail, fix)
	}
}

// claimsText summarises the access token's audience, scope and client when
// it is a JWT (decoded, not verified: for diagnosis only).
func claimsText(tok tokens.Token) string {
	claims, ok := jwtClaims(tok.AccessToken)
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"iss", "aud", "scope", "scp", "azp", "client_id"} {
		v, ok := claims[k]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		parts = append(parts, k+"="+redact.Clean(string(b), 120))
	}
	return strings.Join(parts, ", ")
}
