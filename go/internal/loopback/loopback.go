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
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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

// Response is an accepted authorization response. Call Finish once the code
// has been exchanged (or the exchange failed) so the browser shows the result.
type Response struct {
	Code secret.String

	once   sync.Once
	result chan error
}

// Finish reports the outcome of the login to the waiting browser page. Only
// the first call counts.
func (r *Response) Finish(err error) {
	r.once.Do(func() { r.result <- err })
}

type outcome struct {
	resp *Response
	err  error
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
	results   chan outcome
	closing   chan struct{}
	start     sync.Once
	stop      sync.Once

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
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("loopback: port %d out of range", cfg.Port)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		if cfg.Port != 0 && addrInUse(err) {
			return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", cfg.Port, ErrPortInUse)
		}
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", cfg.Port, err)
	}
	var nonce [32]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24)
	s := &Server{
		cfg:       cfg,
		ln:        ln,
		startPath: startPrefix + base64.RawURLEncoding.EncodeToString(nonce[:]),
		port:      ln.Addr().(*net.TCPAddr).Port,
		results:   make(chan outcome, 1),
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

func addrInUse(err error) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "address already in use") ||
		strings.Contains(msg, "Only one usage of each socket address") // Windows WSAEADDRINUSE
}

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

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
		s.mu.Lock()
		s.authURL = authorizationURL
		s.mu.Unlock()
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

// Wait returns the accepted response, the server's error response (an
// *AuthError), or ctx's error.
func (s *Server) Wait(ctx context.Context) (*Response, error) {
	select {
	case o := <-s.results:
		return o.resp, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
