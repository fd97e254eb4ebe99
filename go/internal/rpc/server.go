// Package rpc serves the sidecar protocol (protocol/protocol.md): JSON-RPC
// 2.0 with Content-Length framing over the process's stdin/stdout. It checks
// the handshake and the protocol version, decodes params, and hands the work
// to a Service; it knows nothing of OAuth.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// Service does the work behind the protocol's requests.
type Service interface {
	// Initialize is called once, after the version check. The notifier stays
	// valid for the life of the connection.
	Initialize(ctx context.Context, p protocol.InitializeParams, n protocol.Notifier) error
	ApplyConfig(ctx context.Context, p protocol.ConfigApplyParams) (protocol.ConfigApplyResult, error)
	Headers(ctx context.Context, p protocol.HeadersParams) (protocol.HeadersResult, error)
	// Login runs a provider's interactive login; it may wait minutes.
	Login(ctx context.Context, p protocol.LoginParams) (protocol.LoginResult, error)
	// Paste hands a pasted address to a login under way (login/paste).
	Paste(ctx context.Context, p protocol.LoginPasteParams) error
	// CancelLogins ends every login under way (login/cancel).
	CancelLogins()
	// CloseLocation ends the providers of an OpenCode location (location/close).
	CloseLocation(location string)
	Shutdown(ctx context.Context) error
}

// Server is one protocol connection.
type Server struct {
	svc     Service
	version string
	log     *slog.Logger
	st      jsonrpc2.ObjectStream // Serve's stream, which reply writes on

	initialized atomic.Bool
	initOnce    sync.Mutex
}

// NewServer returns a server for svc; version is the build version reported
// by initialize.
func NewServer(svc Service, version string, log *slog.Logger) *Server {
	return &Server{svc: svc, version: version, log: log}
}

// Serve runs the protocol over r/w until the peer closes r or ctx ends. A
// Server is one connection: Serve is called once.
// jsonrpc2 reads the frames (through a Codec that answers the ones it would
// not), dispatches requests and writes errors and notifications; results
// are written by reply.
func (s *Server) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	codec := &Codec{}
	s.st = jsonrpc2.NewBufferedStream(&pipe{Reader: r, w: w}, codec)
	codec.answer = s.st
	// The library's messages (the peer closing the stream, a malformed
	// frame) go to the structured log at debug level.
	connLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	connLog.SetPrefix("rpc connection: ")
	conn := jsonrpc2.NewConn(ctx, s.st, jsonrpc2.AsyncHandler(s), jsonrpc2.SetLogger(connLog))
	select {
	case <-conn.DisconnectNotify():
	case <-ctx.Done():
		_ = conn.Close()
	}
	return nil
}

// pipe is Serve's reader and writer as jsonrpc2's connection. Both belong
// to Serve's caller: Close only ends writing, between two frames (each is
// one Write, see Codec.WriteObject).
type pipe struct {
	io.Reader
	w      io.Writer
	mu     sync.Mutex
	closed bool
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, jsonrpc2.ErrClosed
	}
	return p.w.Write(b)
}

func (p *pipe) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// reply writes a successful response, its result encoded once: jsonrpc2's
// Reply encodes it, then validates and compacts the bytes once per
// enclosing marshaller (three more passes, which for headers/get run over
// the whole access token; docs/performance.md).
func reply(st jsonrpc2.ObjectStream, id jsonrpc2.ID, result any) error {
	body, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	idJSON, _ := id.MarshalJSON() // a string or a number: it cannot fail
	return st.WriteObject(encoded(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":%s}`, idJSON, body)))
}

// Handle implements jsonrpc2.Handler: it answers a request of the connection.
func (s *Server) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	result, err := s.dispatch(ctx, conn, req)
	if req.Notif {
		return
	}
	if err == nil {
		if err = reply(s.st, req.ID, result); err == nil || errors.Is(err, jsonrpc2.ErrClosed) {
			return
		}
		s.log.Debug("reply failed", "method", req.Method, "err", err)
		err = fmt.Errorf("%s: %w", req.Method, err)
	}
	if rerr := conn.ReplyWithError(ctx, req.ID, toRPCError(err)); rerr != nil {
		s.log.Debug("reply failed", "method", req.Method, "err", rerr)
	}
}

func (s *Server) dispatch(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
	if req.Method == protocol.MethodInitialize {
		return call(ctx, req, "", nil, func(ctx context.Context, p protocol.InitializeParams) (any, error) { return s.initialize(ctx, conn, p) })
	}
	if !s.initialized.Load() {
		return nil, &jsonrpc2.Error{Code: protocol.CodeNotInitialized, Message: fmt.Sprintf("%s before initialize", req.Method)}
	}
	switch req.Method {
	case protocol.MethodConfigApply:
		return call(ctx, req, "params.config or params.directory", func(p *protocol.ConfigApplyParams) bool {
			if string(p.Config) == "null" {
				p.Config = nil
			}
			return len(p.Config) > 0 || p.Directory != ""
		}, s.svc.ApplyConfig)
	case protocol.MethodHeadersGet:
		return call(ctx, req, "params.providerID", func(p *protocol.HeadersParams) bool { return p.ProviderID != "" }, s.svc.Headers)
	case protocol.MethodLogin:
		return call(ctx, req, "params.providerID", func(p *protocol.LoginParams) bool { return p.ProviderID != "" }, s.svc.Login)
	case protocol.MethodLoginPaste:
		return call(ctx, req, "", nil, func(ctx context.Context, p protocol.LoginPasteParams) (any, error) { return nil, s.svc.Paste(ctx, p) })
	case protocol.NotifyLoginCancel:
		s.svc.CancelLogins()
		return nil, nil
	case protocol.NotifyLocationClose:
		return call(ctx, req, "", nil, func(_ context.Context, p protocol.LocationParams) (any, error) {
			s.svc.CloseLocation(p.Location)
			return nil, nil
		})
	case protocol.MethodShutdown:
		return nil, s.svc.Shutdown(ctx)
	}
	return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: fmt.Sprintf("method not found: %s", req.Method)}
}

func (s *Server) initialize(ctx context.Context, conn *jsonrpc2.Conn, p protocol.InitializeParams) (any, error) {
	if p.ProtocolVersion != protocol.ProtocolVersion {
		e := &jsonrpc2.Error{
			Code: protocol.CodeVersionMismatch,
			Message: fmt.Sprintf("protocol version mismatch: the sidecar speaks %d, the plugin sent %d; install matching versions of the plugin and its binary",
				protocol.ProtocolVersion, p.ProtocolVersion),
		}
		e.SetError(protocol.VersionMismatchData{Expected: protocol.ProtocolVersion, Received: p.ProtocolVersion})
		return nil, e
	}
	s.initOnce.Lock()
	defer s.initOnce.Unlock()
	if !s.initialized.Load() {
		notify := func(ctx context.Context, method string, params any) error {
			return conn.Notify(ctx, method, params)
		}
		if err := s.svc.Initialize(ctx, p, notify); err != nil {
			return nil, err
		}
		s.initialized.Store(true)
	}
	return protocol.InitializeResult{
		ProtocolVersion: protocol.ProtocolVersion,
		Version:         s.version,
	}, nil
}

// call decodes req's params and hands them to fn; valid (nil: any) may
// normalise them and reports whether what required names is there.
func call[P, R any](ctx context.Context, req *jsonrpc2.Request, required string, valid func(*P) bool, fn func(context.Context, P) (R, error)) (any, error) {
	var p P
	if req.Params != nil {
		if err := json.Unmarshal(*req.Params, &p); err != nil {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: fmt.Sprintf("%s: invalid params: %v", req.Method, err)}
		}
	}
	if valid != nil && !valid(&p) {
		return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: req.Method + ": " + required + " is required"}
	}
	return fn(ctx, p)
}

func toRPCError(err error) *jsonrpc2.Error {
	if rerr, ok := errors.AsType[*jsonrpc2.Error](err); ok {
		return rerr
	}
	if terr, ok := errors.AsType[*protocol.TokenError](err); ok {
		e := &jsonrpc2.Error{Code: protocol.CodeTokenUnavailable, Message: terr.Error()}
		e.SetError(protocol.TokenErrorData{ProviderID: terr.ProviderID, Reason: terr.Reason})
		return e
	}
	return &jsonrpc2.Error{Code: jsonrpc2.CodeInternalError, Message: err.Error()}
}
