package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

func (c *cli) newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := c.command(&cobra.Command{
		Use: "status [provider...]", Short: "The cached logins and models of each provider (no network access).",
		Long: `Columns: provider, flow, identity (from the cached id_token, decoded without
verifying it: it was verified at login), access token expiry, whether a refresh
token is cached, models cached, last model sync, last error recorded.
`,
	}, true, func(ctx context.Context, cf *commonFlags, args []string) error {
		s, ps, err := c.open(cf, args...)
		if err != nil {
			return err
		}
		defer s.Close()
		now := c.now()
		doc := statusJSON{CacheDir: service.CacheDirFor(s.res.Settings), ConfigSources: []sourceJSON{}, Providers: []providerStatus{},
			Skipped: []skippedJSON{}, Problems: []problemJSON{}}
		for _, src := range s.cfg.Sources {
			doc.ConfigSources = append(doc.ConfigSources, sourceJSON(src))
		}
		for _, p := range ps {
			doc.Providers = append(doc.Providers, statusOf(p, now))
		}
		for _, p := range s.res.Problems {
			doc.Problems = append(doc.Problems, problemJSON{ProviderID: p.ProviderID, Field: p.Field, Severity: string(p.Severity), Message: s.explainProblem(p)})
			// Named providers are all managed (open failed otherwise).
			if _, managed := s.eng.Provider(p.ProviderID); managed || len(args) > 0 || p.Severity != config.SeverityError || p.ProviderID == "" {
				continue
			}
			i := slices.IndexFunc(doc.Skipped, func(k skippedJSON) bool { return k.ID == p.ProviderID })
			if i < 0 {
				doc.Skipped = append(doc.Skipped, skippedJSON{ID: p.ProviderID})
				i = len(doc.Skipped) - 1
			}
			doc.Skipped[i].Problems = append(doc.Skipped[i].Problems, s.explainProblem(p))
		}
		if asJSON {
			return writeJSON(c, doc)
		}
		if len(ps) == 0 {
			s.sayNoProviders()
		}
		decoded := false
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROVIDER\tFLOW\tIDENTITY\tACCESS TOKEN\tREFRESH\tSTORED IN\tMODELS\tLAST SYNC\tLAST ERROR")
		for _, st := range doc.Providers {
			who := "-"
			switch {
			case st.Identity != nil:
				who, decoded = st.Identity.String(), true
			case !config.Flow(st.Flow).Interactive():
				who = "client " + st.ClientID
			}
			last := "never"
			if !st.LastSyncAt.IsZero() {
				last = when(st.LastSyncAt, now)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.ID, st.Flow, who, tokenText(st.Token, now),
				yesNo(st.Token.RefreshToken), st.Storage, st.Models, last, cmp.Or(cutWords(st.LastError, 70), "-"))
		}
		for _, k := range doc.Skipped {
			what := "config error"
			if len(k.Problems) > 1 {
				what = fmt.Sprintf("%d config errors, the first", len(k.Problems))
			}
			first, _, _ := strings.Cut(k.Problems[0], "\n")
			fmt.Fprintf(tw, "%s\tskipped\t-\t-\t-\t-\t-\t-\t%s\n", k.ID, cutWords(what+": "+shortProblem(k.ID, first), 70))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if decoded {
			fmt.Fprintln(c.stderr, "Identity is read from the cached id_token without verifying it (it was verified at login).")
		}
		if len(args) == 0 { // with ids, s.provider printed their warnings
			for _, p := range s.res.Problems {
				fmt.Fprintf(c.stderr, "%s: %s\n", p.Severity, s.explainProblem(p))
			}
		}
		if len(doc.Skipped) > 0 || slices.ContainsFunc(doc.Providers, func(p providerStatus) bool { return len(p.LastError) > 70 }) {
			fmt.Fprintf(c.stderr, "Full texts: `%s`.\n", c.hint("status", "--json"))
		}
		return nil
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// statusJSON is the --json document.
type statusJSON struct {
	CacheDir      string           `json:"cacheDir"`
	ConfigSources []sourceJSON     `json:"configSources"`
	Providers     []providerStatus `json:"providers"`
	// Skipped are the providers with an oauth2 block that are not managed
	// because their configuration has errors.
	Skipped  []skippedJSON `json:"skipped"`
	Problems []problemJSON `json:"problems"`
}

type skippedJSON struct {
	ID       string   `json:"id"`
	Problems []string `json:"problems"`
}

type sourceJSON struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
}

type problemJSON struct {
	ProviderID string `json:"providerID,omitempty"`
	Field      string `json:"field,omitempty"`
	Severity   string `json:"severity"`
	Message    string `json:"message"`
}

type providerStatus struct {
	ID         string      `json:"id"`
	Name       string      `json:"name,omitempty"`
	Flow       string      `json:"flow"`
	Issuer     string      `json:"issuer"`
	ClientID   string      `json:"clientId"`
	Identity   *identity   `json:"identity,omitempty"`
	Token      tokenStatus `json:"token"`
	Models     int         `json:"models"`
	LastSyncAt time.Time   `json:"lastSyncAt,omitzero"`
	LastError  string      `json:"lastError,omitempty"`
	CacheFile  string      `json:"cacheFile"`
	// Storage is where the tokens live: file, keyring (the OS keychain; the
	// cache file then holds no token) or memory (this process only).
	Storage string `json:"storage"`
}

type tokenStatus struct {
	Present      bool      `json:"present"`
	ObtainedAt   time.Time `json:"obtainedAt,omitzero"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	Expired      bool      `json:"expired"`
	Fresh        bool      `json:"fresh"` // usable now without renewal
	RefreshToken bool      `json:"refreshToken"`
	Scope        string    `json:"scope,omitempty"`
}

func statusOf(p *service.Provider, now time.Time) providerStatus {
	cfg := p.Config
	tok := p.Tokens.Cached()
	st := p.Entry.Load()
	out := providerStatus{
		ID: cfg.ID, Name: cfg.Name, Flow: string(cfg.Flow), Issuer: cfg.Issuer, ClientID: cfg.ClientID,
		Models: len(p.Catalog.Models()), LastSyncAt: st.LastSyncAt.UTC(), LastError: st.LastError, CacheFile: p.Entry.Path(), Storage: p.Entry.Storage(),
	}
	if id, ok := identityOf(tok.IDToken); ok {
		out.Identity = &id
	}
	out.Token = tokenStatus{
		Present:      !tok.AccessToken.IsZero(),
		ObtainedAt:   tok.ObtainedAt.UTC(),
		ExpiresAt:    tok.ExpiresAt.UTC(),
		Expired:      !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt),
		Fresh:        p.Tokens.Policy().Fresh(tok, now),
		RefreshToken: !tok.RefreshToken.IsZero(),
		Scope:        tok.Scope,
	}
	return out
}

func tokenText(t tokenStatus, now time.Time) string {
	switch {
	case !t.Present:
		return "none"
	case t.ExpiresAt.IsZero():
		return "no expiry given"
	}
	return expiry(t.ExpiresAt, now)
}

// cutWords shortens s to at most max runes for a table cell, at a word
// boundary, with "…" when something was cut; control characters are
// neutralised. (--json has the full text.)
func cutWords(s string, max int) string {
	s = strings.Join(strings.Fields(redact.Clean(s, len(s))), " ")
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	cut := string(r[:max-1])
	if i := strings.LastIndex(cut, " "); i > max/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:") + "…"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
