package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
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
		return runDoctor(ctx, c, cf, asJSON, args)
	})
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}

// Check outcomes.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "fail"
	statusSkip = "skip"
)

// Clock skew thresholds against the server's Date header.
const (
	skewWarn = 30 * time.Second
	skewFail = 5 * time.Minute
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

// report collects the checks in the order they ran.
type report struct {
	Checks []checkResult `json:"checks"`
	OK     bool          `json:"ok"`
}

func (r *report) add(section, name, status, detail, fix string) *checkResult {
	r.Checks = append(r.Checks, checkResult{Section: section, Name: name, Status: status, Detail: detail, Fix: fix})
	return &r.Checks[len(r.Checks)-1]
}

// group orders the checks by section (in the order sections first
// appeared), keeping the order of the checks within a section.
func (r *report) group() {
	rank := map[string]int{}
	for _, ch := range r.Checks {
		if _, ok := rank[ch.Section]; !ok {
			rank[ch.Section] = len(rank)
		}
	}
	sort.SliceStable(r.Checks, func(i, j int) bool { return rank[r.Checks[i].Section] < rank[r.Checks[j].Section] })
}

func (r *report) exitCode() int {
	code := exitOK
	for _, ch := range r.Checks {
		if ch.Status != statusFail {
			continue
		}
		if ch.Config {
			return exitConfig
		}
		code = exitFailure
	}
	return code
}

func runDoctor(ctx context.Context, c *cli, cf *commonFlags, asJSON bool, args []string) error {
	r := &report{}
	cfg, err := c.loadConfig(cf)
	if err != nil {
		r.add("config", "read", statusFail, err.Error(),
			"fix the file (OpenCode fails to start with it too), or point --config at the right one").Config = true
		return finishDoctor(c, r, asJSON)
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
		if slices.ContainsFunc(s.res.Problems, func(p config.Problem) bool { return p.ProviderID != "" && p.Severity == config.SeverityError }) {
			r.add("config", "providers", statusFail, "no provider is usable: each one with an oauth2 block has errors",
				"fix the errors above").Config = true
		} else {
			r.add("config", "providers", statusFail, "no provider has an oauth2 block, so the plugin manages nothing",
				"add options.oauth2 (issuer, clientId, authFlow, ...) to a provider").Config = true
		}
	}
	ps := s.eng.Providers(s.res.Providers)
	if len(args) > 0 {
		ps = nil
	}
	for _, id := range args {
		if p, ok := s.eng.Provider(id); ok {
			ps = append(ps, p)
		} else if !slices.ContainsFunc(s.res.Problems, func(p config.Problem) bool { return p.ProviderID == id }) {
			return s.unknown(id)
		}
	}
	for _, p := range ps {
		(&providerDoctor{c: c, r: r, p: p, log: s.log, section: "provider " + p.Config.ID}).run(ctx)
	}
	return finishDoctor(c, r, asJSON)
}

func finishDoctor(c *cli, r *report, asJSON bool) error {
	r.group()
	code := r.exitCode()
	r.OK = code == exitOK
	if asJSON {
		if err := writeJSON(c, r); err != nil {
			return err
		}
	} else {
		printReport(c.stdout, r)
	}
	if code != exitOK {
		return failf(code, "%s", summary(r))
	}
	return nil
}

func summary(r *report) string {
	fails, warns := 0, 0
	for _, ch := range r.Checks {
		switch ch.Status {
		case statusFail:
			fails++
		case statusWarn:
			warns++
		}
	}
	return fmt.Sprintf("%d failed, %s", fails, plural(warns, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func printReport(w io.Writer, r *report) {
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
	fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(summary(r)[:1])+summary(r)[1:])
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
	loose := []string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s (%04o)", e.Name(), info.Mode().Perm()))
		}
	}
	if len(loose) > 0 {
		r.add("cache", "files", statusWarn, "readable by others: "+strings.Join(loose, ", "),
			"they are tightened to 0600 when next read; or run chmod 600 on them")
	}
	r.add("cache", "directory", statusOK, dir+" is yours and writable", "")
}
