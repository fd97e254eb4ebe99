// Package loopback receives one OAuth 2.0 authorization response on a
// loopback redirect URI (RFC 8252 section 7.3): it listens on 127.0.0.1 only,
// accepts the response only when its `state` matches (compared in constant
// time) and, when the server identifies itself, its RFC 9207 `iss` matches,
// honours the `error` parameter, redirects to the authorization request only
// from a one-time start URL whose path holds 32 random bytes (so that another
// local process that finds the port learns neither state nor challenge), answers stray requests (favicon, wrong path,
// missing or wrong parameters) with a 4xx page without ending the login,
// refuses a replay of a response it already accepted, and shows a small
// result page that waits for the caller's verdict on the code exchange.
package loopback

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// callbackPath is the path of the redirect URI.
const callbackPath = "/oauth2/callback"

// ErrPortInUse is returned (wrapped) by Listen when the fixed port is taken.
var ErrPortInUse = errors.New("port already in use")

// Config describes the one authorization response a Server waits for.
type Config struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// State is the `state` sent in the authorization request (required).
	State secret.String
	// Issuer is the authorization server's issuer: an `iss` parameter, when
	// present, must equal it (RFC 9207).
	Issuer string
	// RequireIssuer makes a missing `iss` an error: set it when the server
	// metadata has authorization_response_iss_parameter_supported.
	RequireIssuer bool
	// Label names what the user logs in to on the result pages.
	Label string
	// FinishTimeout bounds how long the result page waits for Finish
	// (default 30 s); after it the page tells the user to check the terminal.
	FinishTimeout time.Duration
	// Log receives debug records about requests (never a parameter value).
	Log *slog.Logger
}

// AuthError is an error response of the authorization server (RFC 6749
// section 4.1.2.1), or a response the client must reject (RFC 9207).
// Code and Description are scrubbed and bounded.
type AuthError struct {
	Code        string
	Description string
}

func (e *AuthError) Error() string {
	if e.Description == "" {
		return "the authorization server answered " + e.Code
	}
	return fmt.Sprintf("the authorization server answered %s: %s", e.Code, e.Description)
}

// Server is a running loopback listener.
type Server struct {
	cfg     Config
	ln      net.Listener
	srv     *http.Server
	port    int
	authURL string
	// startPath is /start/<32 random bytes, base64url>: the only path that
	// redirects to authURL, once.
	startPath string
	results   chan error    // the judged response: nil when accepted, else why it was rejected
	code      secret.String // the accepted response's, set before results gets its nil
	verdict   chan error    // Finish's, for the page of the accepted response
	closing   chan struct{}
	start     sync.Once
	stop      sync.Once
	finish    sync.Once

	mu    sync.Mutex
	done  bool // a response with the right state was accepted
	spent bool // the start URL was used
}

// startPrefix begins the path of the start URL.
const startPrefix = "/start/"

// Listen binds 127.0.0.1 on cfg.Port (or a free port). Connections queue
// until Start.
func Listen(cfg Config) (*Server, error) {
	if cfg.State.IsZero() {
		return nil, errors.New("loopback: no state configured")
	}
	cfg.Log = cmp.Or(cfg.Log, slog.New(slog.DiscardHandler))
	cfg.FinishTimeout = cmp.Or(max(cfg.FinishTimeout, 0), 30*time.Second)
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	// A fixed port taken: EADDRINUSE, or Windows' WSAEADDRINUSE (which is
	// not syscall.EADDRINUSE there).
	if err != nil && cfg.Port != 0 && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "Only one usage of each socket address")) {
		err = ErrPortInUse
	}
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", cfg.Port, err)
	}
	var nonce [32]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24)
	s := &Server{
		cfg:       cfg,
		ln:        ln,
		startPath: startPrefix + base64.RawURLEncoding.EncodeToString(nonce[:]),
		port:      ln.Addr().(*net.TCPAddr).Port,
		results:   make(chan error, 1),
		verdict:   make(chan error, 1),
		closing:   make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.FinishTimeout + 10*time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// RedirectURI is http://127.0.0.1:<port>/oauth2/callback, for the authorization request.
func (s *Server) RedirectURI() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.port) + callbackPath
}

// StartURL is http://127.0.0.1:<port>/start/<secret>, which redirects once to
// the authorization URL given to Start. It shows no state or challenge in a
// terminal or in a process list, and nobody who does not know it (another
// local process that found the port) gets the authorization URL. It is shown
// to the user; do not log it.
func (s *Server) StartURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(s.port) + s.startPath
}

// Start serves requests; the start URL redirects to authorizationURL once,
// while the login is not over. Calling it again does nothing.
func (s *Server) Start(authorizationURL string) {
	s.start.Do(func() {
		s.authURL = authorizationURL // set before any request is served, never changed
		go func() { _ = s.srv.Serve(s.ln) }()
	})
}

// Refuse closes the listener without serving: the redirect URI keeps its
// port, but a browser on this machine is refused there, as one on another
// machine would be; the response can then only arrive by Paste.
func (s *Server) Refuse() {
	s.start.Do(func() {})
	_ = s.ln.Close()
}

// Wait returns the code of the accepted response, the server's error
// response (an *AuthError), or ctx's error. Call Finish once the code has
// been exchanged (or the exchange failed) so the browser shows the result.
func (s *Server) Wait(ctx context.Context) (secret.String, error) {
	select {
	case err := <-s.results:
		return s.code, err
	case <-ctx.Done():
		return secret.String{}, ctx.Err()
	}
}

// Finish reports the outcome of the login to the waiting browser page. Only
// the first call counts.
func (s *Server) Finish(err error) {
	s.finish.Do(func() { s.verdict <- err })
}

// Close stops the server; pages still waiting for a verdict are answered
// at once. It waits at most two seconds for them.
func (s *Server) Close() error {
	s.stop.Do(func() {
		close(s.closing)
		s.start.Do(func() {}) // a server never started must not start now
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		_ = s.ln.Close() // Shutdown does not close a listener Serve never saw
	})
	return nil
}

// judgement is the pure decision about one callback query: stray (a
// reason: not the response we wait for, no or wrong state, malformed;
// answered with a 400 page, the login goes on), rejected (err: the state
// matches but the response must fail the login, for its error parameter or
// an iss mismatch or missing when required) or accepted (a code).
type judgement struct {
	reason string     // stray only: short, secret-free explanation for the page and logs
	code   string     // accepted only
	err    *AuthError // rejected only
}

// judge decides about a callback query. Only a query carrying exactly one
// `state` equal to the expected one can end the login, so that a page or a
// process that does not know the state cannot fail or hijack it (RFC 6749
// section 10.12). The iss check (RFC 9207) comes before the error and the
// code, for error responses too.
func judge(q url.Values, state secret.String, issuer string, requireIssuer bool) judgement {
	switch {
	case !q.Has("state"):
		return judgement{reason: "the request has no state parameter"}
	case len(q["state"]) > 1:
		return judgement{reason: "the request has more than one state parameter"}
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state.Reveal())) != 1:
		return judgement{reason: "the state parameter does not match this login"}
	}
	for _, k := range []string{"iss", "code", "error", "error_description"} {
		if len(q[k]) > 1 {
			return judgement{err: &AuthError{Code: "invalid_response",
				Description: "the response repeats the " + k + " parameter"}}
		}
	}
	// iss, code, error and error_description have at most one value now.
	switch iss := q.Get("iss"); {
	case q.Has("iss") && iss != issuer:
		return judgement{err: &AuthError{Code: "issuer_mismatch",
			Description: "the response comes from issuer " + redact.Text(iss, 120) + ", not " + issuer +
				" (RFC 9207: possible mix-up attack); the login was stopped"}}
	case !q.Has("iss") && requireIssuer:
		return judgement{err: &AuthError{Code: "issuer_missing",
			Description: "the server announces RFC 9207 iss parameters but the response has none; the login was stopped"}}
	}
	if q.Has("error") {
		return judgement{err: &AuthError{Code: redact.Text(q.Get("error"), 60), Description: redact.Text(q.Get("error_description"), 300)}}
	}
	code := q.Get("code")
	if code == "" {
		return judgement{reason: "the request has no code parameter"}
	}
	return judgement{code: code}
}

// ServeHTTP answers the browser.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	log := s.cfg.Log.With("method", r.Method, "path", s.logPath(r.URL.Path))

	// A page on another site that rebinds its name to 127.0.0.1 sends its own
	// Host: it gets nothing here, not even the start redirect.
	if !s.hostOK(r.Host) {
		log.Debug("loopback: request for another host")
		s.page(w, http.StatusMisdirectedRequest, pageFailure, "Wrong address", "This server only answers http://127.0.0.1:"+strconv.Itoa(s.port)+"/.")
		return
	}
	if r.URL.Path != callbackPath {
		s.serveStart(w, r, log)
		return
	}
	if r.Method != http.MethodGet {
		h.Set("Allow", http.MethodGet)
		s.page(w, http.StatusMethodNotAllowed, pageInfo, "Method not allowed", "The login's answer arrives with GET.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		log.Debug("loopback: malformed callback query")
		s.page(w, http.StatusBadRequest, pageFailure, "Invalid request", "The query string could not be read. The login is still waiting.")
		return
	}
	j := judge(q, s.cfg.State, s.cfg.Issuer, s.cfg.RequireIssuer)
	if j.reason != "" {
		log.Debug("loopback: stray callback", "reason", j.reason)
		s.page(w, http.StatusBadRequest, pageFailure, "Invalid request", "This is not the answer the login waits for ("+j.reason+"). The login is still waiting.")
		return
	}

	switch err := s.deliver(j); {
	case errors.Is(err, errReplay):
		log.Debug("loopback: replayed callback refused")
		s.page(w, http.StatusBadRequest, pageFailure, "Already used", "This login already received its answer; a second one is refused.")
		return
	case err != nil:
		log.Debug("loopback: callback rejected", "error", j.err.Code)
		s.page(w, http.StatusBadRequest, pageFailure, "Login failed", err.Error())
		return
	}
	select {
	case err := <-s.verdict:
		if err != nil {
			s.page(w, http.StatusOK, pageFailure, "Login failed", redact.Text(err.Error(), 400))
			return
		}
		s.page(w, http.StatusOK, pageSuccess, "Login complete", "You are logged in"+s.to()+". You can close this tab.")
	case <-time.After(s.cfg.FinishTimeout):
		s.page(w, http.StatusOK, pageInfo, "Authorization received", "Return to your terminal or to OpenCode to see the result.")
	case <-s.closing:
		s.page(w, http.StatusOK, pageInfo, "Authorization received", "Return to your terminal or to OpenCode to see the result.")
	case <-r.Context().Done():
	}
}

// errReplay: the login already received its answer.
var errReplay = errors.New("this login already received its answer; a second one is refused")

// deliver hands a response judged accepted or rejected to Wait, once: any
// later one is a replay (errReplay). A rejected response is its error.
func (s *Server) deliver(j judgement) error {
	s.mu.Lock()
	replay := s.done
	s.done = true
	s.mu.Unlock()
	if replay {
		return errReplay
	}
	if j.err != nil {
		s.results <- j.err
		return j.err
	}
	s.code = secret.New(j.code)
	s.results <- nil
	return nil
}

// serveStart answers every path but the callback: only a GET of the exact
// start path (compared in constant time) redirects to the authorization
// request, and only the first one; everything else reveals nothing.
func (s *Server) serveStart(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if r.Method != http.MethodGet || subtle.ConstantTimeCompare([]byte(r.URL.Path), []byte(s.startPath)) != 1 {
		log.Debug("loopback: stray request")
		s.page(w, http.StatusNotFound, pageInfo, "Not found", "This address only receives the login's answer.")
		return
	}
	s.mu.Lock()
	done, spent := s.done, s.spent
	s.spent = true
	s.mu.Unlock()
	switch {
	case done:
		s.page(w, http.StatusGone, pageInfo, "This login is over", "Return to your terminal or to OpenCode.")
	case spent:
		log.Debug("loopback: start link used again")
		s.page(w, http.StatusGone, pageInfo, "Link already used",
			"This login link was already used. Return to your terminal or to OpenCode, and start the login again if it did not complete.")
	default:
		http.Redirect(w, r, s.authURL, http.StatusFound)
	}
}

// logPath is the request path for debug records, without the start secret.
func (s *Server) logPath(p string) string {
	if strings.HasPrefix(p, startPrefix) {
		return startPrefix + "…"
	}
	return redact.Text(p, 80)
}

func (s *Server) hostOK(host string) bool {
	port := ":" + strconv.Itoa(s.port)
	return host == "127.0.0.1"+port || strings.EqualFold(host, "localhost"+port)
}

func (s *Server) to() string {
	if s.cfg.Label == "" {
		return ""
	}
	return " to " + s.cfg.Label
}

// Paste hands the server an authorization response pasted by the user: the
// address the browser ended on (the redirect URI with its query), when that
// browser runs on another machine and the loopback redirect cannot arrive
// here, or that address's query alone. It is judged exactly as a callback
// (state in constant time, RFC 9207 iss, error responses) and used once. A
// paste that is not this login's answer is an error that says why, and the
// login goes on waiting; an accepted or rejected one ends Wait. The pasted
// text never reaches a log.
func (s *Server) Paste(text string) error {
	q, err := pastedQuery(strings.TrimSpace(text))
	if err != nil {
		return err
	}
	j := judge(q, s.cfg.State, s.cfg.Issuer, s.cfg.RequireIssuer)
	if j.reason != "" {
		return errors.New("this is not the answer of this login: " + j.reason)
	}
	return s.deliver(j)
}

// pastedQuery is the query of a pasted address (http(s), any host, the
// callback path) or of a pasted query string.
func pastedQuery(text string) (url.Values, error) {
	const expected = "paste the whole address the browser ended on (it starts with http://127.0.0.1 or http://localhost and holds code= and state=)"
	if text == "" {
		return nil, errors.New("nothing was pasted; " + expected)
	}
	raw := strings.TrimPrefix(text, "?")
	if strings.Contains(text, "://") {
		u, err := url.Parse(text)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("that is not an http address; " + expected)
		}
		if u.Path != callbackPath {
			return nil, fmt.Errorf("that address is not the login's redirect (its path is not %s); %s", callbackPath, expected)
		}
		raw = u.RawQuery
	} else if !strings.Contains(text, "=") || strings.ContainsAny(text, " \t") {
		return nil, errors.New("that is not an address; " + expected)
	}
	q, err := url.ParseQuery(raw)
	if err != nil || len(q) == 0 {
		return nil, errors.New("the address's query cannot be read; " + expected)
	}
	return q, nil
}

type pageKind string

const (
	pageSuccess pageKind = "success"
	pageFailure pageKind = "failure"
	pageInfo    pageKind = "info"
)

// pageTmpl is the one small page: no script, no external resource; the id of
// <main> (login-success, login-failure, login-info) is stable for tests.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - opencode-oauth2</title>
<style>
body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:32rem;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}.success h1{color:#17663a}.failure h1{color:#b00020}
p{line-height:1.5;overflow-wrap:anywhere}small{color:#666}
</style>
</head>
<body>
<main id="login-{{.Kind}}" class="{{.Kind}}">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
<p><small>opencode-oauth2</small></p>
</main>
</body>
</html>
`))

func (s *Server) page(w http.ResponseWriter, status int, kind pageKind, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct {
		Kind        pageKind
		Title, Text string
	}{kind, title, text})
}
