package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// rssTarget is the largest acceptable resident set (docs/performance.md):
// 20 MB, decimal, the stricter reading.
const rssTarget = 20_000_000

// stub is an authorization server and gateway on 127.0.0.1: refresh_token
// (rotating, short-lived tokens) and client_credentials at /token, and a
// model list at /<kind>/v1/models.
type stub struct {
	srv      *http.Server
	url      string
	lifetime int // expires_in of refreshed tokens, seconds
	list     []byte

	refreshes atomic.Int64
	machine   atomic.Int64
	syncs     atomic.Int64 // model list requests of the "sync" provider
	others    atomic.Int64 // model list requests of the other providers
}

func startStub(models, lifetime int) (*stub, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stub{url: "http://" + l.Addr().String(), lifetime: lifetime}
	s.list, err = modelList(models)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /{kind}/v1/models", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("kind") == "sync" {
			s.syncs.Add(1)
		} else {
			s.others.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.list)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *stub) close() { _ = s.srv.Close() }

func (s *stub) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		n := s.refreshes.Add(1)
		_, _ = fmt.Fprintf(w, `{"access_token":"at-%d-%s","token_type":"Bearer","refresh_token":"rt-%d","expires_in":%d}`,
			n, strings.Repeat("x", 800), n, s.lifetime) // a JWT-sized token
	case "client_credentials":
		n := s.machine.Add(1)
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, machineToken(n))
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
	}
}

// machineToken is the stub's n-th client_credentials access token, as long
// as a typical JWT.
func machineToken(n int64) string { return fmt.Sprintf("cc-%d-%s", n, strings.Repeat("x", 800)) }

// modelList is an OpenAI-style list of n models.
func modelList(n int) ([]byte, error) {
	type model struct {
		ID            string `json:"id"`
		Object        string `json:"object"`
		OwnedBy       string `json:"owned_by"`
		Created       int64  `json:"created"`
		ContextLength int    `json:"context_length"`
	}
	data := make([]model, n)
	for i := range data {
		data[i] = model{ID: fmt.Sprintf("vendor-%d/model-%04d-instruct", i%7, i), Object: "model", OwnedBy: "perf", Created: 1700000000 + int64(i), ContextLength: 128000}
	}
	return json.Marshal(map[string]any{"object": "list", "data": data})
}

// rssConfig is the OpenCode config the soak applies: one machine provider
// whose scope (and so cache key) changes with every sync round, so each
// config/apply gives it a new, empty state and an immediate model sync, and
// users providers with a refresh token and 1 s tokens.
func (s *stub) rssConfig(round, users int) map[string]any {
	providers := map[string]any{"sync": map[string]any{"options": map[string]any{
		"baseURL": s.url + "/sync/v1",
		"oauth2": map[string]any{
			"issuer": s.url, "clientId": "perf", "clientSecret": "perf-secret", "authFlow": "client_credentials",
			"tokenEndpoint": s.url + "/token", "scopes": []string{fmt.Sprintf("sync-%d", round)},
		},
	}}}
	for i := range users {
		providers[userID(i)] = map[string]any{"options": map[string]any{
			"baseURL": s.url + "/user/v1",
			"oauth2": map[string]any{
				"issuer": s.url, "clientId": "perf-user", "authFlow": "authorization_code",
				"tokenEndpoint": s.url + "/token", "authorizationEndpoint": s.url + "/authorize",
				"scopes": []string{"offline_access"},
			},
		}}
	}
	return map[string]any{"provider": providers}
}

func userID(i int) string { return fmt.Sprintf("user-%d", i+1) }

// entries are the state file entries of a config's providers.
func entries(cfg map[string]any, st *store.Store) (map[string]*store.Entry, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	res, err := config.Parse(raw)
	if err != nil {
		return nil, err
	}
	out := map[string]*store.Entry{}
	for _, p := range res.Providers {
		out[p.ID] = st.Entry(p.ID, p.CacheKey())
	}
	for _, pr := range res.Problems {
		if pr.Severity == config.SeverityError {
			return nil, fmt.Errorf("the soak's config is invalid: %s", pr.Message())
		}
	}
	return out, nil
}

type rssOptions struct {
	bin       string
	refreshes int
	syncs     int
	models    int
	users     int
	lifetime  int
	idle      time.Duration
	timeout   time.Duration
	verbose   bool
}

func runRSS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o rssOptions
	fs := flag.NewFlagSet("rss", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "sidecar binary (default: built with the release flags into a temporary directory)")
	fs.IntVar(&o.refreshes, "refreshes", 1000, "token refreshes to drive (refresh_token grant)")
	fs.IntVar(&o.syncs, "syncs", 1000, "model syncs to drive")
	fs.IntVar(&o.models, "models", 500, "models in the gateway's list")
	fs.IntVar(&o.users, "users", 4, "providers with refreshing tokens (share the refreshes)")
	fs.IntVar(&o.lifetime, "lifetime", 1, "lifetime of refreshed tokens, seconds (renewed at half of it)")
	fs.DurationVar(&o.idle, "idle", 5*time.Second, "quiet time before the last measurement")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	fs.BoolVar(&o.verbose, "v", false, "pass the sidecar's stderr through")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.users < 1 || o.syncs < 1 || o.refreshes < 1 || o.lifetime < 1 {
		return errors.New("rss: -users, -syncs, -refreshes and -lifetime must be at least 1")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	work, err := os.MkdirTemp("", "perf-probe-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.bin == "" {
		fmt.Fprintln(stdout, "building the sidecar with the release flags...")
		if o.bin, err = build(ctx, sidecarPkg, work, "opencode-oauth2"); err != nil {
			return err
		}
	}
	s, err := startStub(o.models, o.lifetime)
	if err != nil {
		return err
	}
	defer s.close()

	cache := filepath.Join(work, "cache")
	st, err := store.Open(cache, logging.Discard())
	if err != nil {
		return err
	}
	first := s.rssConfig(1, o.users)
	ents, err := entries(first, st)
	if err != nil {
		return err
	}
	past := time.Now().Add(-2 * time.Hour)
	for i := range o.users {
		e := ents[userID(i)]
		if err := e.Save(store.State{Token: &store.Token{AccessToken: "expired", TokenType: "Bearer", RefreshToken: "rt-0",
			ObtainedAt: past, ExpiresAt: past.Add(time.Hour)}}); err != nil {
			return err
		}
	}

	var errOut io.Writer = io.Discard
	if o.verbose {
		errOut = stderr
	}
	p, err := startPeer(o.bin, []string{"serve"}, []string{store.EnvCacheDir + "=" + cache, "OPENCODE_OAUTH2_LOG_LEVEL=info"}, errOut)
	if err != nil {
		return err
	}
	defer func() { _ = p.stop(10 * time.Second) }()
	pid := p.cmd.Process.Pid

	fmt.Fprintf(stdout, "sidecar %s, pid %d; %d refreshes (%d providers, %d s tokens), %d model syncs of %d models\n",
		o.bin, pid, o.refreshes, o.users, o.lifetime, o.syncs, o.models)
	if err := p.initialize(ctx); err != nil {
		return err
	}
	started := time.Now()
	report := func(phase string) (memStatus, error) {
		m, err := readMem(pid)
		if err != nil {
			return m, err
		}
		fmt.Fprintf(stdout, "%-22s t=%6.1fs refreshes=%5d syncs=%5d  RSS %6.2f MB  peak %6.2f MB  threads %d\n",
			phase, time.Since(started).Seconds(), s.refreshes.Load(), s.syncs.Load(), mb(m.rss), mb(m.hwm), m.threads)
		return m, nil
	}
	if _, err := report("after initialize"); err != nil {
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, o.users+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := driveSyncs(ctx, p, s, st, o); err != nil {
			errs <- fmt.Errorf("model syncs: %w", err)
			cancel()
		}
	}()
	// The first config/apply (round 1) is sent by driveSyncs; the refresh
	// drivers start once the providers exist.
	if !waitUntil(ctx, func() bool { return s.syncs.Load() >= 1 }) {
		wg.Wait()
		return firstErr(errs, ctx.Err())
	}
	for i := range o.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := driveRefreshes(ctx, p, s, userID(i), int64(o.refreshes)); err != nil {
				errs <- fmt.Errorf("refreshes of %s: %w", userID(i), err)
				cancel()
			}
		}()
	}
	progress := make(chan struct{})
	go func() {
		defer close(progress)
		next := 1
		for next <= 4 {
			done := min(float64(s.refreshes.Load())/float64(o.refreshes), float64(s.syncs.Load())/float64(o.syncs))
			if done >= float64(next)/4 {
				_, _ = report(fmt.Sprintf("%d%% done", next*25))
				next++
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	wg.Wait()
	<-progress
	if err := firstErr(errs, nil); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	busy, err := report("work done")
	if err != nil {
		return err
	}
	select {
	case <-time.After(o.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	final, err := report(fmt.Sprintf("after %s idle", o.idle))
	if err != nil {
		return err
	}
	verdict := "ok"
	if final.rss > rssTarget || busy.rss > rssTarget {
		verdict = "OVER"
	}
	fmt.Fprintf(stdout, "result: RSS %.2f MB when the work ended, %.2f MB after %s idle, peak %.2f MB; target ≤ 20 MB: %s\n",
		mb(busy.rss), mb(final.rss), o.idle, mb(final.hwm), verdict)
	fmt.Fprintf(stdout, "token requests: %d refresh_token, %d client_credentials; model list requests: %d (sync) + %d (others); notifications received: %d\n",
		s.refreshes.Load(), s.machine.Load(), s.syncs.Load(), s.others.Load(), p.notifs.Load())
	if verdict != "ok" {
		return errors.New("the sidecar's resident memory exceeds 20 MB")
	}
	return nil
}

// driveSyncs sends config/apply o.syncs times, each with a new cache key for
// the "sync" provider, and waits each time until its model list is stored.
// State files of earlier rounds are removed, so the cache stays small.
func driveSyncs(ctx context.Context, p *peer, s *stub, st *store.Store, o rssOptions) error {
	for round := 1; round <= o.syncs; round++ {
		cfg := s.rssConfig(round, o.users)
		ents, err := entries(cfg, st)
		if err != nil {
			return err
		}
		if _, err := p.call(ctx, "config/apply", map[string]any{"config": cfg}); err != nil {
			return err
		}
		e := ents["sync"]
		stored := func() bool { return s.syncs.Load() >= int64(round) && !e.Load().LastSyncAt.IsZero() }
		if !waitUntil(ctx, stored) {
			return fmt.Errorf("round %d: the model list was not stored: %w", round, ctx.Err())
		}
		keep := filepath.Base(e.Path())
		old, _ := filepath.Glob(filepath.Join(st.Dir(), "sync-*.json*"))
		for _, f := range old {
			if base := filepath.Base(f); base != keep && base != keep+".lock" {
				_ = os.Remove(f)
			}
		}
	}
	return nil
}

// driveRefreshes asks for the provider's headers whenever the last ones
// stop being cacheable (every half token lifetime), until the stub has
// served target refreshes in all.
func driveRefreshes(ctx context.Context, p *peer, s *stub, id string, target int64) error {
	for s.refreshes.Load() < target {
		res, err := p.call(ctx, "headers/get", map[string]any{"providerID": id})
		if err != nil {
			return err
		}
		var hr struct {
			Headers    map[string]string `json:"headers"`
			CacheUntil int64             `json:"cacheUntil"`
		}
		if err := json.Unmarshal(res, &hr); err != nil {
			return err
		}
		if !strings.HasPrefix(hr.Headers["Authorization"], "Bearer at-") {
			return fmt.Errorf("unexpected headers %v", hr.Headers)
		}
		wait := min(max(time.Until(time.UnixMilli(hr.CacheUntil)), 5*time.Millisecond), 2*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// waitUntil polls cond every 5 ms until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

func firstErr(errs chan error, fallback error) error {
	select {
	case err := <-errs:
		return err
	default:
		return fallback
	}
}

// memStatus is a process's memory, in bytes.
type memStatus struct {
	rss, hwm int64
	threads  int
}

// readMem reads VmRSS, VmHWM and Threads from /proc/<pid>/status; where
// there is no /proc (macOS), ps gives the RSS.
func readMem(pid int) (memStatus, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		out, perr := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(pid)).Output()
		if perr != nil {
			return memStatus{}, fmt.Errorf("read the memory of pid %d: %w", pid, errors.Join(err, perr))
		}
		kb, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if perr != nil {
			return memStatus{}, perr
		}
		return memStatus{rss: kb << 10, hwm: kb << 10}, nil
	}
	return parseStatus(data)
}

// parseStatus extracts the fields readMem needs from a /proc status file.
func parseStatus(data []byte) (memStatus, error) {
	var m memStatus
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rss = n << 10
			found++
		case "VmHWM":
			m.hwm = n << 10
			found++
		case "Threads":
			m.threads = int(n)
		}
	}
	if found < 2 {
		return m, errors.New("no VmRSS and VmHWM in the status file")
	}
	return m, nil
}

// mb is bytes in decimal megabytes.
func mb(b int64) float64 { return float64(b) / 1e6 }
