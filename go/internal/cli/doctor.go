package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
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
	checkCacheDir(r, service.CacheDirFor(config.ParseDocument(cfg.Tree).Settings), createProbe)

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

// probeFile is the file the writability probe writes (an *os.File).
type probeFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// createProbe creates the probe file in dir.
func createProbe(dir string) (probeFile, error) { return os.CreateTemp(dir, ".doctor-*") }

// probeWrite writes probeSize bytes to a new file in dir and syncs them to
// the disk, as the cache writes its state files: creating an empty file
// succeeds on a full disk, writing does not. The file is removed.
func probeWrite(dir string, create func(string) (probeFile, error)) error {
	f, err := create(dir)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkCacheDir checks the token cache directory without changing it
// (beyond a probe file it removes); create makes the probe file.
func checkCacheDir(r *report, dir string, create func(string) (probeFile, error)) {
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
	if err := probeWrite(dir, create); err != nil {
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
	last, ok := lastStart(logging.DefaultFile(c.getenv))
	if !ok {
		r.add("host", "plugin loaded", statusWarn, "the sidecar's log records no start: OpenCode has not loaded the plugin (with this HOME)",
			"run `opencode models` once; with OpenCode 2, `opencode plugin list` shows whether the plugin loaded or why not")
		return
	}
	r.add("host", "plugin loaded", statusOK, fmt.Sprintf("last started by OpenCode %s at %s", last.host, last.at.Local().Format(time.DateTime)), "")
}

type start struct {
	host string
	at   time.Time
}

// lastStart is the last "sidecar started" line of the sidecar's log (the
// current file, else the rotated one).
func lastStart(path string) (start, bool) {
	if path == "" {
		return start{}, false
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
		s := start{host: redact.Clean(line.Host, 64), at: line.Time}
		if s.host == "" {
			s.host = "(version unknown)"
		}
		return s, true
	}
	return start{}, false
}
