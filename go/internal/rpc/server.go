// Package rpc serves the sidecar protocol (protocol/protocol.md): JSON-RPC
// 2.0 with Content-Length framing over the process's stdin/stdout. It checks
// the handshake and the protocol version, decodes params, and hands the work
// to a Service; it knows nothing of OAuth.
package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
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

	initialized atomic.Bool
	initOnce    sync.Mutex
}

// NewServer returns a server for svc; version is the build version reported
// by initialize.
func NewServer(svc Service, version string, log *slog.Logger) *Server {
	return &Server{svc: svc, version: version, log: log}
}

// stream is a connection's framed, buffered stream (one Flush, so one
// write, per frame). jsonrpc2 reads requests and writes notifications and
// errors through it; results are written by writeResult.
type stream struct {
	r *bufio.Reader

	mu     sync.Mutex
	w      *bufio.Writer
	closed bool
}

// ReadObject implements jsonrpc2.ObjectStream: frames jsonrpc2 would not
// answer are answered here (see screen).
func (st *stream) ReadObject(v any) error { return st.readRequest(v) }

// WriteObject implements jsonrpc2.ObjectStream.
func (st *stream) WriteObject(obj any) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return jsonrpc2.ErrClosed
	}
	if err := (Codec{}).WriteObject(st.w, obj); err != nil {
		return err
	}
	return st.w.Flush()
}

// Close implements jsonrpc2.ObjectStream. The reader and writer belong to
// the caller of Serve; nothing is written after Close.
func (st *stream) Close() error {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	return nil
}

// writeResult writes a successful response. It encodes the result once:
// jsonrpc2's Reply encodes it, then validates and compacts the bytes once
// per enclosing marshaller (three more passes, which for headers/get run
// over the whole access token).
func (st *stream) writeResult(id jsonrpc2.ID, result any) error {
	body, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	idJSON, err := id.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode id: %w", err)
	}
	msg := make([]byte, 0, len(body)+len(idJSON)+len(`{"jsonrpc":"2.0","id":,"result":}`))
	msg = append(msg, `{"jsonrpc":"2.0","id":`...)
	msg = append(msg, idJSON...)
	msg = append(msg, `,"result":`...)
	msg = append(msg, body...)
	msg = append(msg, '}')
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return jsonrpc2.ErrClosed
	}
	if _, err := fmt.Fprintf(st.w, "Content-Length: %d\r\n\r\n", len(msg)); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := st.w.Write(msg); err != nil {
		return fmt.Errorf("write frame body: %w", err)
	}
	return st.w.Flush()
}

// Serve runs the protocol over r/w until the peer closes r or ctx ends.
func (s *Server) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	st := &stream{r: bufio.NewReader(r), w: bufio.NewWriter(w)}
	conn := jsonrpc2.NewConn(ctx, st, jsonrpc2.AsyncHandler(handler{s: s, st: st}),
		jsonrpc2.SetLogger(connLogger{s.log}))
	select {
	case <-conn.DisconnectNotify():
	case <-ctx.Done():
		_ = conn.Close()
	}
	return nil
}

type connNotifier struct{ conn *jsonrpc2.Conn }

func (n connNotifier) Notify(ctx context.Context, method string, params any) error {
	return n.conn.Notify(ctx, method, params)
}

// handler answers the requests of one connection.
type handler struct {
	s  *Server
	st *stream
}

// Handle implements jsonrpc2.Handler.
func (h handler) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	s := h.s
	result, err := s.dispatch(ctx, conn, req)
	if req.Notif {
		return
	}
	if err == nil {
		if err = h.st.writeResult(req.ID, result); err == nil || errors.Is(err, jsonrpc2.ErrClosed) {
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
		var p protocol.InitializeParams
		if err := decode(req, &p); err != nil {
			return nil, err
		}
		return s.initialize(ctx, conn, p)
	}
	if !s.initialized.Load() {
		return nil, &jsonrpc2.Error{Code: protocol.CodeNotInitialized, Message: fmt.Sprintf("%s before initialize", req.Method)}
	}
	switch req.Method {
	case protocol.MethodConfigApply:
		var p protocol.ConfigApplyParams
		if err := decode(req, &p); err != nil {
			return nil, err
		}
		if string(p.Config) == "null" {
			p.Config = nil
		}
		if len(p.Config) == 0 && p.Directory == "" {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "config/apply: params.config or params.directory is required"}
		}
		return s.svc.ApplyConfig(ctx, p)
	case protocol.MethodHeadersGet:
		var p protocol.HeadersParams
		if err := decode(req, &p); err != nil {
			return nil, err
		}
		if p.ProviderID == "" {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "headers/get: params.providerID is required"}
		}
		return s.svc.Headers(ctx, p)
	case protocol.MethodLogin:
		var p protocol.LoginParams
		if err := decode(req, &p); err != nil {
			return nil, err
		}
		if p.ProviderID == "" {
			return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "login: params.providerID is required"}
		}
		return s.svc.Login(ctx, p)
	case protocol.MethodLoginPaste:
		var p protocol.LoginPasteParams
		if err := decode(req, &p); err != nil {
			return nil, err
		}
		return nil, s.svc.Paste(ctx, p)
	case protocol.NotifyLoginCancel:
		s.svc.CancelLogins()
		return nil, nil
	case protocol.NotifyLocationClose:
		var p protocol.LocationParams
		if err := decode(req, &p); err == nil {
			s.svc.CloseLocation(p.Location)
		}
		return nil, nil
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
		if err := s.svc.Initialize(ctx, p, connNotifier{conn}); err != nil {
			return nil, err
		}
		s.initialized.Store(true)
	}
	return protocol.InitializeResult{
		ProtocolVersion: protocol.ProtocolVersion,
		Version:         s.version,
	}, nil
}

func decode(req *jsonrpc2.Request, v any) error {
	if req.Params == nil {
		return nil
	}
	if err := json.Unmarshal(*req.Params, v); err != nil {
		return &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: fmt.Sprintf("%s: invalid params: %v", req.Method, err)}
	}
	return nil
}

func toRPCError(err error) *jsonrpc2.Error {
	var rerr *jsonrpc2.Error
	if errors.As(err, &rerr) {
		return rerr
	}
	var terr *protocol.TokenError
	if errors.As(err, &terr) {
		e := &jsonrpc2.Error{Code: protocol.CodeTokenUnavailable, Message: terr.Error()}
		e.SetError(protocol.TokenErrorData{ProviderID: terr.ProviderID, Reason: terr.Reason})
		return e
	}
	return &jsonrpc2.Error{Code: jsonrpc2.CodeInternalError, Message: err.Error()}
}

// connLogger routes the jsonrpc2 library's messages (e.g. the peer closing
// the stream, or a malformed frame) to the structured log at debug level.
type connLogger struct{ log *slog.Logger }

func (l connLogger) Printf(format string, v ...any) {
	l.log.Debug("rpc connection: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
