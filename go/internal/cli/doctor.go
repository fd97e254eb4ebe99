package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func (c *cli) newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := c.command(&cobra.Command{
		Use: "doctor [provider...]", Short: "Check config, servers, clock, cache and gateway; say what to fix.",
		Long: `Checks: the OpenCode config (where it was read from, every problem in the oauth2
settings, the plugin entry), the cache directory (owner, permissions, writable),
and for each provider (all, or those named): discovery and issuer, the server's
clock (its Date header), that the endpoints answer, what the flow needs (the
authorization or device endpoint, a free redirectPort), getting a token without
prompting, and the gateway's /models endpoint with that token.

The report goes to stdout (--json for scripts). Exit code 0 when nothing failed
(warnings allowed), 4 when a configuration check failed, 1 when another one did.
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		r := &report{}
		if err := runDoctor(ctx, c, cf, r, args); err != nil {
			return err
		}
		code, summary := r.tally()
		r.OK = code == exitOK
		if asJSON {
			if err := writeJSON(c, r); err != nil {
				return err
			}
		} else {
			printReport(c.stdout, r, summary)
		}
		if code != exitOK {
			return failf(code, "%s", summary)
		}
		return nil
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}

// Check outcomes.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
	statusSkip = "skip"
)

// checkResult is one line of the doctor's report.
type checkResult struct {
	Section string `json:"section"`                 // "config", "cache", or "provider <id>"
	Name    string `json:"name"`                    // what was checked
	Status  string `json:"status"`                  // ok, warn, fail, skip
	Detail  string `json:"detail"`                  // what was found
	Fix     string `json:"fix,omitempty"`           // what to do
	Config  bool   `json:"configProblem,omitempty"` // a failure of the configuration (exit 4)
}

// report collects the checks grouped by section (in the order sections
// first appeared), each section's in the order they ran.
type report struct {
	Checks []checkResult `json:"checks"`
	OK     bool          `json:"ok"`
}

// add puts a check at the end of its section.
func (r *report) add(section, name, status, detail, fix string) *checkResult {
	i := len(r.Checks)
	for j, ch := range r.Checks {
		if ch.Section == section {
			i = j + 1
		}
	}
	r.Checks = slices.Insert(r.Checks, i, checkResult{Section: section, Name: name, Status: status, Detail: detail, Fix: fix})
	return &r.Checks[i]
}

// tally is the report's exit code (4 when a configuration check failed, 1
// when another one did) and its summary, e.g. "1 failed, 2 warnings".
func (r *report) tally() (code int, summary string) {
	fails, warns := 0, 0
	for _, ch := range r.Checks {
		switch {
		case ch.Status == statusWarn:
			warns++
		case ch.Status == statusFail && ch.Config:
			fails, code = fails+1, exitConfig
		case ch.Status == statusFail:
			fails, code = fails+1, max(code, exitFailure)
		}
	}
	return code, fmt.Sprintf("%d failed, %s", fails, plural(warns, "warning"))
}

// runDoctor runs the checks into r; an error is a usage error.
func runDoctor(ctx context.Context, c *cli, cf *commonFlags, r *report, args []string) error {
	cfg, err := c.loadConfig(cf)
	if err != nil {
		r.add("config", "read", statusFail, err.Error(),
			"fix the file (OpenCode fails to start with it too), or point --config at the right one").Config = true
		return nil
	}
	checkSources(r, cfg, c.getenv)
	checkPluginEntry(r, cfg)
	checkHost(ctx, r, c)
	// Checked before the engine opens (and tightens) the directory.
	checkCacheDir(r, service.CacheDirFor(config.ParseDocument(cfg.Tree).Settings), (*os.File).Write)

	s := c.openConfig(cf, cfg)
	defer s.Close()
	for _, p := range s.res.Problems {
		if len(args) > 0 && !slices.Contains(args, p.ProviderID) {
			continue
		}
		if p.Severity == config.SeverityError {
			r.add("config", "oauth2 settings", statusFail, s.explainProblem(p), "fix "+p.Field+"; the provider is skipped until then").Config = true
		} else {
			r.add("config", "oauth2 settings", statusWarn, s.explainProblem(p), "")
		}
	}
	if len(args) == 0 && len(s.res.Providers) == 0 {
		detail, fix := "no provider has an oauth2 block, so the plugin manages nothing", "add options.oauth2 (issuer, clientId, authFlow, ...) to a provider"
		if slices.ContainsFunc(s.res.Problems, func(p config.Problem) bool { return p.ProviderID != "" && p.Severity == config.SeverityError }) {
			detail, fix = "no provider is usable: each one with an oauth2 block has errors", "fix the errors above"
		}
		r.add("config", "providers", statusFail, detail, fix).Config = true
	}
	var ps []*service.Provider
	if len(args) == 0 {
		ps = s.eng.Providers(s.res.Providers)
	}
	for _, id := range args {
		if p, ok := s.eng.Provider(id); ok {
			ps = append(ps, p)
		} else if !slices.ContainsFunc(s.res.Problems, func(p config.Problem) bool { return p.ProviderID == id }) {
			return s.unknown(id)
		}
	}
	for _, p := range ps {
		(&providerDoctor{c: c, r: r, p: p, log: s.log}).run(ctx)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func printReport(w io.Writer, r *report, summary string) {
	section := ""
	for _, ch := range r.Checks {
		if ch.Section != section {
			if section != "" {
				fmt.Fprintln(w)
			}
			section = ch.Section
			fmt.Fprintln(w, strings.ToUpper(section[:1])+section[1:])
		}
		label := map[string]string{statusOK: "ok  ", statusWarn: "WARN", statusFail: "FAIL", statusSkip: "skip"}[ch.Status]
		fmt.Fprintf(w, "  %s  %-15s %s\n", label, ch.Name, ch.Detail)
		if ch.Fix != "" && ch.Status != statusOK {
			fmt.Fprintf(w, "        %-15s → %s\n", "", ch.Fix)
		}
	}
	fmt.Fprintf(w, "\n%s.\n", summary) // it starts with a number
}

func checkSources(r *report, cfg configfile.Config, getenv func(string) string) {
	if len(cfg.Sources) == 0 {
		home, _ := os.UserHomeDir()
		r.add("config", "sources", statusWarn, "no OpenCode config was found",
			fmt.Sprintf("create %s, or an opencode.json in the project, or set OPENCODE_CONFIG", filepath.Join(configfile.GlobalDir(getenv, home), "opencode.json")))
		return
	}
	r.add("config", "sources", statusOK, "read "+sourcesList(cfg), "")
}

// probeSize is written by the writability probe: about what a state file
// with tokens and a model list takes, so that a nearly full disk fails too.
const probeSize = 64 << 10

// probeWrite writes probeSize bytes to a new file in dir with write (the
// file's Write, or a test's) and syncs them to the disk, as the cache writes
// its state files: creating an empty file succeeds on a full disk, writing
// does not. The file is removed.
func probeWrite(dir string, write func(*os.File, []byte) (int, error)) error {
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = write(f, make([]byte, probeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkCacheDir checks the token cache directory without changing it
// (beyond a probe file it removes, written with write).
func checkCacheDir(r *report, dir string, write func(*os.File, []byte) (int, error)) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.add("cache", "directory", statusOK, dir+" does not exist yet; it is created (mode 0700) at first use", "")
		return
	case err != nil:
		r.add("cache", "directory", statusFail, fmt.Sprintf("%s: %v", dir, err),
			"fix the path or its permissions, or set OPENCODE_OAUTH2_CACHE_DIR to another directory")
		return
	case !fi.IsDir():
		r.add("cache", "directory", statusFail, dir+" is not a directory", "remove it, or set OPENCODE_OAUTH2_CACHE_DIR")
		return
	}
	// The store's own rule (owner, planted links, the directory above).
	if err := store.CheckDir(dir); err != nil {
		r.add("cache", "owner", statusFail, err.Error(),
			"tokens are never kept in a directory another user controls; set OPENCODE_OAUTH2_CACHE_DIR to a directory of yours")
		return
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		r.add("cache", "permissions", statusWarn, fmt.Sprintf("%s has mode %04o; others may list it", dir, perm),
			"it is tightened to 0700 at next use; or run chmod 700 "+dir)
	}
	if err := probeWrite(dir, write); err != nil {
		r.add("cache", "writable", statusFail, fmt.Sprintf("cannot write a file in %s: %v", dir, err),
			"tokens would be kept in memory only, and every OpenCode start would need a login; free disk space, fix the permissions, or set OPENCODE_OAUTH2_CACHE_DIR")
		return
	}
	var loose []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".json") && info.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (%04o)", e.Name(), info.Mode().Perm()))
		}
	}
	if len(loose) > 0 {
		r.add("cache", "files", statusWarn, "readable by others: "+strings.Join(loose, ", "),
			"they are tightened to 0600 when next read; or run chmod 600 on them")
	}
	r.add("cache", "directory", statusOK, dir+" is yours and writable", "")
}

// checkPluginEntry looks for the plugin in the config's plugin lists:
// `plugin` (OpenCode 1 and 2: names, paths, [spec, options] tuples) and
// `plugins` (OpenCode 2: names, paths, {package, options} objects).
func checkPluginEntry(r *report, cfg configfile.Config) {
	for _, key := range []string{"plugin", "plugins"} {
		list, _ := cfg.Tree.Get(key)
		entries, _ := list.([]any)
		for _, e := range entries {
			if spec := pluginSpec(e); strings.Contains(spec, "opencode-oauth2") {
				r.add("config", "plugin", statusOK, fmt.Sprintf("OpenCode loads %q (%s)", spec, key), "")
				return
			}
		}
	}
	r.add("config", "plugin", statusWarn, `"@vymalo/opencode-oauth2" is not in the config's plugin list`,
		`add it ("plugin": ["@vymalo/opencode-oauth2"]) unless you load the plugin from a plugins directory`)
}

// pluginSpec is the package or path of one plugin list entry.
func pluginSpec(e any) string {
	switch v := e.(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			return pluginSpec(v[0])
		}
	case map[string]any:
		s, _ := v["package"].(string)
		return s
	}
	return ""
}

// versionPattern finds a version in `opencode --version`'s output.
var versionPattern = regexp.MustCompile(`\b(\d+)\.(\d+)\.(\d+)\b`)

// checkHost says which OpenCode is on PATH and when the plugin was last
// loaded (the sidecar's log has a line per start, with the host's version):
// OpenCode 2 shows a plugin's problems nowhere else.
func checkHost(ctx context.Context, r *report, c *cli) {
	if path, err := c.lookPath("opencode"); err != nil {
		r.add("host", "opencode", statusWarn, "no opencode command on PATH", "install OpenCode 2 (npm install -g @opencode/cli) or put your opencode on PATH")
	} else {
		vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(vctx, path, "--version").Output()
		cancel()
		if v := versionPattern.FindString(string(out)); err == nil && v != "" {
			r.add("host", "opencode", statusOK, fmt.Sprintf("OpenCode %s (%s)", v, path), "")
		} else {
			r.add("host", "opencode", statusWarn, fmt.Sprintf("%s --version did not answer with a version", path), "")
		}
	}
	host, at, ok := lastStart(logging.DefaultFile(c.getenv))
	if !ok {
		r.add("host", "plugin loaded", statusWarn, "the sidecar's log records no start: OpenCode has not loaded the plugin (with this HOME)",
			"run `opencode models` once; with OpenCode 2, `opencode plugin list` shows whether the plugin loaded or why not")
		return
	}
	r.add("host", "plugin loaded", statusOK, fmt.Sprintf("last started by OpenCode %s at %s", host, at.Local().Format(time.DateTime)), "")
}

// lastStart is the host version and time of the last "sidecar started" line
// of the sidecar's log (the current file, else the rotated one).
func lastStart(path string) (host string, at time.Time, ok bool) {
	if path == "" {
		return "", time.Time{}, false
	}
	lines, _ := logLines(path)
	for i := len(lines) - 1; i >= 0; i-- {
		var line struct {
			Msg  string    `json:"msg"`
			Time time.Time `json:"time"`
			Host string    `json:"host_version"`
		}
		if json.Unmarshal([]byte(lines[i]), &line) != nil || line.Msg != "sidecar started" {
			continue
		}
		return cmp.Or(redact.Clean(line.Host, 64), "(version unknown)"), line.Time, true
	}
	return "", time.Time{}, false
}

// doctorRequestTimeout bounds each of the doctor's own requests.
const doctorRequestTimeout = 15 * time.Second

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
	c    *cli
	r    *report
	p    *service.Provider
	log  *slog.Logger
	rec  *recorder    // sees the doctor's own requests
	http *http.Client // the provider's HTTP client, through rec
}

func (d *providerDoctor) add(name, status, detail, fix string) *checkResult {
	return d.r.add("provider "+d.p.Config.ID, name, status, detail, fix)
}

func (d *providerDoctor) run(ctx context.Context) {
	cfg := d.p.Config
	hc := *d.p.OAuth.HTTPClient()
	d.rec = &recorder{next: hc.Transport}
	hc.Transport = d.rec
	d.http = &hc
	d.add("settings", statusOK, fmt.Sprintf("%s flow, issuer %s, client %q", cfg.Flow, redact.URL(cfg.Issuer), cfg.ClientID), "")
	if where := d.p.Entry.Storage(); cfg.TokenStorage == config.StorageAuto && where == "file" {
		d.add("token storage", statusWarn, "tokenStorage is auto, but no keychain answers: tokens are kept in the cache file",
			"start and unlock a keychain (on Linux a Secret Service such as gnome-keyring), or set tokenStorage to \"file\" to say so")
	} else {
		d.add("token storage", statusOK, map[string]string{
			"keyring": "the OS keychain answers; tokens are kept there (the cache file holds none)",
			"memory":  "memory: tokens are never written; every process gets its own",
			"file":    "a 0600 file in the cache directory",
		}[where], "")
	}
	if f := cfg.ClientAssertionKeyFile; f != "" {
		if why := safefile.Exposure(f); why != "" {
			d.add("private key", statusWarn, fmt.Sprintf("clientAssertionKeyFile %s: %s", f, why),
				"keep the key in a file of yours that only you can read and write (chmod 600), not behind a link")
		} else {
			d.add("private key", statusOK, fmt.Sprintf("clientAssertionKeyFile %s is yours and private", f), "")
		}
	}
	d.redirectPort()
	meta, why := d.metadata(ctx)
	if meta != nil {
		d.flowNeeds(meta)
		d.endpoints(ctx, meta)
	}
	d.clock()
	if meta == nil {
		d.add("endpoints", statusSkip, why, "")
		d.add("token", statusSkip, why, "")
		d.add("gateway", statusSkip, "no token", "")
		return
	}
	d.token(ctx)
}

// recorder is the transport of the doctor's own requests: it keeps the
// first answer (its Date header tells the server's clock) and the last
// request. The doctor sends its requests one after the other.
type recorder struct {
	next        http.RoundTripper
	first, last exchange
}

type exchange struct {
	url       string
	date      string // the answer's Date header
	answered  bool
	sent, got time.Time
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	x := exchange{url: req.URL.String(), sent: time.Now()}
	resp, err := r.next.RoundTrip(req)
	x.got = time.Now()
	if resp != nil {
		x.answered, x.date = true, resp.Header.Get("Date")
	}
	if !r.first.answered {
		r.first = x
	}
	r.last = x
	return resp, err
}

// metadata runs the plugin's own discovery (with the config's endpoint
// overrides and its rules) and words what went wrong; why says what keeps
// the token from being asked for.
func (d *providerDoctor) metadata(ctx context.Context) (meta *oauth.Metadata, why string) {
	cfg := d.p.Config
	client, err := oauth.New(cfg, oauth.Options{Log: d.log, HTTPClient: d.http})
	if err == nil {
		mctx, cancel := context.WithTimeout(ctx, doctorRequestTimeout)
		defer cancel()
		meta, err = client.Metadata(mctx)
	}
	last := d.rec.last
	var mismatch *oauth.IssuerMismatchError
	var oe *oauth.Error
	switch {
	case errors.As(err, &mismatch):
		d.add("issuer", statusFail, fmt.Sprintf("the server says its issuer is %q, the config says %q", mismatch.Got, cfg.Issuer),
			fmt.Sprintf("set issuer to exactly %q if this is the right server (the two must match, so tokens of another identity provider are never accepted)", mismatch.Got)).Config = true
		return nil, "the issuer does not match"
	case errors.As(err, &oe) && oe.Status == 0 && !last.answered:
		detail, fix := netDetailFor(err, "issuer URL", "check the issuer URL and that the server is running; "+checkNetwork)
		d.add("reach", statusFail, fmt.Sprintf("cannot reach %s: %s", redact.URL(last.url), detail), fix)
		return nil, "the authorization server cannot be reached"
	case err != nil:
		d.add("metadata", statusFail, err.Error(), "check the issuer URL: it must be the base URL the server publishes its metadata under; "+
			"without discovery, set every endpoint in the oauth2 block")
		return nil, "the server metadata is missing"
	case !meta.Discovered:
		d.add("metadata", statusOK, "endpoints from the config (discovery not needed)", "")
	default:
		d.add("discovery", statusOK, fmt.Sprintf("%s answered in %s", redact.URL(last.url), last.got.Sub(last.sent).Round(time.Millisecond)), "")
		d.add("issuer", statusOK, "the server's metadata names the configured issuer", "")
	}
	return meta, ""
}

// clock compares the Date header of the first answer, if any, with this
// machine's clock.
func (d *providerDoctor) clock() {
	first := d.rec.first
	if !first.answered {
		return // reach or endpoints say why
	}
	server, err := http.ParseTime(first.date)
	if err != nil { // none, or not a date
		d.add("clock", statusSkip, "the server sent no usable Date header", "")
		return
	}
	// The Date header has a resolution of one second: compare it with this
	// machine's clock at the same resolution, in the middle of the exchange.
	local := first.sent.Add(first.got.Sub(first.sent) / 2).Truncate(time.Second)
	skew := server.Sub(local)
	abs := skew.Abs()
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	switch {
	case abs > 5*time.Minute:
		d.add("clock", statusFail, fmt.Sprintf("the server's clock is %s %s this machine's", abs, dir),
			"set this machine's clock right (enable NTP, e.g. timedatectl set-ntp true): id_tokens are checked against it with one minute of leeway, so logins fail")
	case abs > 30*time.Second:
		d.add("clock", statusWarn, fmt.Sprintf("the server's clock is %s %s this machine's", abs, dir),
			"enable NTP on this machine; id_tokens are checked with one minute of leeway")
	default:
		d.add("clock", statusOK, fmt.Sprintf("within %s of the server's Date header", max(abs, time.Second)), "")
	}
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
	var fine []string
	for _, e := range []struct {
		name, url, method string
		used, required    bool
	}{
		{"token", meta.TokenEndpoint, http.MethodPost, true, true},
		{"authorization", meta.AuthorizationEndpoint, http.MethodGet, cfg.Flow == config.AuthorizationCode, true},
		{"device authorization", meta.DeviceAuthorizationEndpoint, http.MethodPost, cfg.Flow == config.DeviceCode, true},
		{"jwks", meta.JWKSURI, http.MethodGet, true, slices.Contains(cfg.Scopes, "openid") && cfg.Flow.Interactive()},
		{"revocation", meta.RevocationEndpoint, http.MethodPost, true, false},
	} {
		if e.url == "" || !e.used {
			continue
		}
		code, err := d.probe(ctx, e.method, e.url)
		status := statusWarn
		if e.required {
			status = statusFail
		}
		switch {
		case err != nil:
			detail, fix := netDetailFor(err, "URL", "check the server and the network path to it (proxy, firewall)")
			d.add("endpoints", status, fmt.Sprintf("the %s endpoint %s does not answer: %s", e.name, redact.URL(e.url), detail), fix)
		case code >= 500:
			probe := map[string]string{http.MethodGet: "a GET request", http.MethodPost: "an empty POST request"}[e.method]
			d.add("endpoints", statusWarn, fmt.Sprintf("the %s endpoint %s answers %s with HTTP %d", e.name, redact.URL(e.url), probe, code),
				"the server may be having trouble; check its status")
		case e.name == "jwks" && code != http.StatusOK:
			d.add("endpoints", status, fmt.Sprintf("the jwks endpoint %s answers HTTP %d", redact.URL(e.url), code),
				"id_tokens cannot be verified without the key set; check jwks_uri")
		default:
			fine = append(fine, e.name)
		}
	}
	if len(fine) > 0 {
		d.add("endpoints", statusOK, strings.Join(fine, ", ")+" answer", "")
	}
}

// probe sends a request without a body (GET), or with an empty form
// (POST), and returns the answer's status.
func (d *providerDoctor) probe(ctx context.Context, method, u string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, doctorRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, http.NoBody)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := d.http.Do(req)
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return 0, ue.Err // the URL is shown separately, redacted
	} else if err != nil {
		return 0, err
	}
	return resp.StatusCode, resp.Body.Close()
}

// token gets a token the way OpenCode does at start-up, without
// prompting, and checks the gateway with it.
func (d *providerDoctor) token(ctx context.Context) {
	cfg := d.p.Config
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tok, err := d.p.Token(tctx, tokens.NoLogin)
	skip := "no token" // why the gateway is not called
	switch code := tokenExitCode(err); {
	case err == nil:
		d.add("token", statusOK, "a token is at hand"+asWho(tok)+"; "+expiryText(tok, d.c.now()), "")
		d.gateway(ctx, tok)
		return
	case code == exitLoginRequired && cfg.Flow.Interactive():
		d.add("token", statusWarn, "not logged in: no usable login is cached",
			fmt.Sprintf("run `%s` (OpenCode asks at first use otherwise)", d.c.hint("login", cfg.ID)))
		skip = "needs a login"
	case code == exitConfig:
		d.add("token", statusFail, err.Error(), "check clientId, clientSecret and clientAuthMethod against the client registered at the server").Config = true
	default:
		detail, fix := netDetailFor(err, "URL", "see the error; `"+d.c.hint("token", cfg.ID, "-v")+"` shows every step")
		d.add("token", statusFail, detail, fix)
	}
	d.add("gateway", statusSkip, skip, "")
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
	claims := jwtClaims(tok.AccessToken) // nil: not a JWT
	var parts []string
	for _, k := range []string{"iss", "aud", "scope", "scp", "azp", "client_id"} {
		if v, ok := claims[k]; ok {
			b, _ := json.Marshal(v) // decoded from JSON: it encodes again
			parts = append(parts, k+"="+redact.Clean(string(b), 120))
		}
	}
	return strings.Join(parts, ", ")
}
