package cli

import (
	"fmt"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
)

// problemText is a config problem's message, naming the {env:...} or
// {file:...} placeholder the value came from: the user fixes the variable
// or the file, not the config.
func problemText(cfg configfile.Config, getenv func(string) string, p config.Problem) string {
	msg := cfg.Hide(p.Field, p.Found, p.Message())
	refs := cfg.Placeholders[p.Field]
	if len(refs) == 0 {
		return msg
	}
	parts := make([]string, 0, len(refs))
	for _, ref := range refs {
		inner := strings.TrimSuffix(strings.TrimPrefix(ref, "{"), "}")
		kind, arg, _ := strings.Cut(inner, ":")
		switch {
		case kind == "env" && getenv(arg) == "":
			parts = append(parts, fmt.Sprintf("%s, and the environment variable %s is empty or not set", ref, arg))
		case kind == "env":
			parts = append(parts, fmt.Sprintf("%s, the environment variable %s", ref, arg))
		default:
			parts = append(parts, fmt.Sprintf("%s, the content of the file %s", ref, arg))
		}
	}
	return msg + "; the value comes from " + strings.Join(parts, ", and from ")
}

// explainProblem is problemText for the session's config.
func (s *session) explainProblem(p config.Problem) string {
	return problemText(s.cfg, s.c.getenv, p)
}

// shortProblem is a problem's message for a table cell: without the
// provider prefix and the path to its oauth2 block.
func shortProblem(id, msg string) string {
	msg = strings.TrimPrefix(msg, fmt.Sprintf("provider %q: ", id))
	for _, prefix := range []string{"provider." + id + ".options.oauth2.", "provider." + id + ".options.", "provider." + id + "."} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			return rest
		}
	}
	return msg
}
