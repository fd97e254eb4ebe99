package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/configfile"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// logger is the command line's logger: text on stderr, warnings and
// errors only unless --verbose or OPENCODE_OAUTH2_LOG_LEVEL say otherwise.
func (c *cli) logger(cf *commonFlags) *slog.Logger {
	h := &lineHandler{mu: &sync.Mutex{}, w: c.stderr, level: c.logLevel()}
	if cf.verbose {
		h.level = slog.LevelDebug
	} else {
		h.held = &[]heldLine{} // see lineHandler
	}
	c.logs = h
	return slog.New(h)
}

// logLevel is the level OPENCODE_OAUTH2_LOG_LEVEL names, else warnings.
func (c *cli) logLevel() slog.Level {
	if l, ok := logging.ParseLevel(c.getenv("OPENCODE_OAUTH2_LOG_LEVEL")); ok {
		return l
	}
	return slog.LevelWarn
}

// session is the loaded config and the engine that manages its providers.
type session struct {
	c   *cli
	log *slog.Logger
	eng *service.Engine
	cfg configfile.Config
	res config.Result
}

// loadConfig finds and reads the OpenCode config the way OpenCode does.
func (c *cli) loadConfig(cf *commonFlags) (configfile.Config, error) {
	cfg, err := configfile.Load(configfile.Options{File: cf.config, Getenv: c.getenv})
	return cfg, withCode(exitConfig, err)
}

// open loads the config and prepares the providers named by ids, or
// every managed one when there are none (no network, no background work).
// The caller closes the session.
func (c *cli) open(cf *commonFlags, ids ...string) (*session, []*service.Provider, error) {
	cfg, err := c.loadConfig(cf)
	if err != nil {
		return nil, nil, err
	}
	s := c.openConfig(cf, cfg)
	if len(ids) == 0 {
		return s, s.eng.Providers(s.res.Providers), nil
	}
	ps := make([]*service.Provider, 0, len(ids))
	for _, id := range ids {
		p, err := s.provider(id)
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		ps = append(ps, p)
	}
	return s, ps, nil
}

// openOne is open for a command that takes exactly one provider id.
func (c *cli) openOne(cf *commonFlags, args []string) (*session, *service.Provider, error) {
	switch {
	case len(args) == 0:
		return nil, nil, failf(exitUsage, "missing the provider id")
	case len(args) > 1:
		return nil, nil, failf(exitUsage, "expected one provider id, got %d arguments: %s", len(args), strings.Join(args, " "))
	}
	s, ps, err := c.open(cf, args[0])
	if err != nil {
		return nil, nil, err
	}
	return s, ps[0], nil
}

// openConfig is open for a config already read.
func (c *cli) openConfig(cf *commonFlags, cfg configfile.Config) *session {
	log := c.logger(cf)
	eng := service.New(service.Options{Log: log, WatchEvery: -1})
	return &session{c: c, log: log, eng: eng, cfg: cfg, res: eng.Load(cfg.Tree)}
}

func (s *session) Close() { _ = s.eng.Shutdown(context.Background()) }

// managedIDs are the ids of the providers the engine manages, in config order.
func (s *session) managedIDs() []string {
	var ids []string
	for _, p := range s.eng.Providers(s.res.Providers) {
		ids = append(ids, p.Config.ID)
	}
	return ids
}

// provider returns the managed provider id, or an error saying why there
// is none: its config has errors (exit 4; a provider the engine could not
// set up has one too, see service.Engine.Load) or no such provider (exit 2).
// Warnings about the provider are printed on stderr.
func (s *session) provider(id string) (*service.Provider, error) {
	var errs []string
	for _, p := range s.res.Problems {
		if p.ProviderID != id {
			continue
		}
		if p.Severity == config.SeverityError {
			errs = append(errs, s.explainProblem(p))
		} else {
			fmt.Fprintf(s.c.stderr, "warning: %s\n", s.explainProblem(p))
		}
	}
	if p, ok := s.eng.Provider(id); ok {
		return p, nil
	}
	if len(errs) > 0 {
		return nil, failf(exitConfig, "provider %q is not usable: its configuration has errors:\n  %s\n(config read from %s)",
			id, strings.Join(errs, "\n  "), s.sourcesText())
	}
	return nil, s.unknown(id)
}

// unknown is the usage error for an id that no provider of the config has.
func (s *session) unknown(id string) error {
	return failf(exitUsage, "no provider %q with an oauth2 block in the OpenCode config%s (managed providers: %s; config read from %s)",
		id, didYouMean(id, s.allIDs()), cmp.Or(strings.Join(s.managedIDs(), ", "), "none"), s.sourcesText())
}

// allIDs are the managed providers and those skipped for config errors.
func (s *session) allIDs() []string {
	ids := s.managedIDs()
	for _, p := range s.res.Problems {
		if p.ProviderID != "" && !slices.Contains(ids, p.ProviderID) {
			ids = append(ids, p.ProviderID)
		}
	}
	return ids
}

func (s *session) sourcesText() string {
	if len(s.cfg.Sources) == 0 {
		return "no config file found; see `" + s.c.hint("doctor") + "`"
	}
	return sourcesList(s.cfg)
}

// sourcesList names the files (and variables) the config was read from.
func sourcesList(cfg configfile.Config) string {
	parts := make([]string, len(cfg.Sources))
	for i, src := range cfg.Sources {
		parts[i] = src.String()
	}
	return strings.Join(parts, ", ")
}

// displayName is the provider's name with its id.
func displayName(p config.Provider) string {
	if p.Name != "" && p.Name != p.ID {
		return fmt.Sprintf("%s (%s)", p.Name, p.ID)
	}
	return p.ID
}

// when renders an instant relative to now, e.g. "in 4m59s (15:04:05)".
// expiry says when t expires, or that it has: "expires in 5m0s (12:00:00)",
// "expired 2m33s ago (11:52:27)".
func expiry(t, now time.Time) string {
	if !t.IsZero() && !t.After(now) {
		return "expired " + when(t, now)
	}
	return "expires " + when(t, now)
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d >= time.Hour || d <= -time.Hour {
		d = d.Round(time.Minute)
	}
	clock := t.Local().Format("2006-01-02 15:04:05")
	if t.Local().Format("2006-01-02") == now.Local().Format("2006-01-02") {
		clock = t.Local().Format("15:04:05")
	}
	switch {
	case d > 0:
		return fmt.Sprintf("in %s (%s)", d, clock)
	case d < 0:
		return fmt.Sprintf("%s ago (%s)", -d, clock)
	}
	return "now (" + clock + ")"
}

// sayNoProviders tells that the config has no provider to manage.
func (s *session) sayNoProviders() {
	fmt.Fprintf(s.c.stderr, "No provider with an oauth2 block in the OpenCode config (read from %s).\n", s.sourcesText())
}

// explainProblem is a config problem's message, naming the {env:...} or
// {file:...} placeholder the value came from: the user fixes the variable
// or the file, not the config.
func (s *session) explainProblem(p config.Problem) string {
	msg := s.cfg.Hide(p.Field, p.Found, p.Message())
	refs := s.cfg.Placeholders[p.Field]
	if len(refs) == 0 {
		return msg
	}
	parts := make([]string, 0, len(refs))
	for _, ref := range refs {
		kind, arg, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(ref, "{"), "}"), ":")
		what := "the content of the file " + arg
		if kind == "env" {
			what = "the environment variable " + arg
			if s.c.getenv(arg) == "" {
				what = "and " + what + " is empty or not set"
			}
		}
		parts = append(parts, ref+", "+what)
	}
	return msg + "; the value comes from " + strings.Join(parts, ", and from ")
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

// lineHandler renders log records for a person at a terminal:
// "warning: message (key=value, ...)". Values are resolved through
// slog.LogValuer first, so secrets print redacted as in every log.
//
// With hold, a warning or error that carries an "err" is held until Flush:
// when the command then fails with that same error, the error is said
// once, by the command, not first as a warning.
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
	held  *[]heldLine // shared by the handlers derived with WithAttrs
}

type heldLine struct {
	text string
	err  string
}

// Flush writes the held lines, except those whose error the command's
// final error already says (failed may be nil).
func (h *lineHandler) Flush(failed error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return
	}
	for _, l := range *h.held {
		said := false // by failed or an error it wraps
		for err := failed; err != nil && !said; err = errors.Unwrap(err) {
			said = strings.Contains(err.Error(), l.err)
		}
		if !said {
			_, _ = io.WriteString(h.w, l.text)
		}
	}
	*h.held = nil
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	level := logging.LevelName(r.Level)
	if level == "warn" {
		level = "warning"
	}
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	var parts []string
	errText := ""
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Key == "err" {
			errText = a.Value.String()
		}
		parts = append(parts, a.Key+"="+a.Value.String())
	}
	line := level + ": " + r.Message
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != nil && errText != "" && r.Level >= slog.LevelWarn {
		*h.held = append(*h.held, heldLine{text: line + "\n", err: errText})
		return nil
	}
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is flattened: the command line's records are small.
func (h *lineHandler) WithGroup(string) slog.Handler { return h }
