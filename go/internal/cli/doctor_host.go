package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

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
