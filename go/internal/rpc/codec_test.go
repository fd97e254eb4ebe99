package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

func frame(body string) string {
	return "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestReadObjectMalformedFrames: every malformed frame the shim side could
// send is a clean error (jsonrpc2 then closes the connection), never a panic.
func TestReadObjectMalformedFrames(t *testing.T) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means the frame is accepted
	}{
		{"valid", frame(`{"jsonrpc":"2.0","id":1,"method":"x"}`), ""},
		{"valid with a Content-Type header and bare LF", "Content-Type: application/vscode-jsonrpc\nContent-Length: 2\n\n{}", ""},
		{"empty input", "", "EOF"},
		{"header cut off", "Content-Length: 2", "unexpected EOF"},
		{"missing Content-Length", "Content-Type: x\r\n\r\n{}", "missing Content-Length"},
		{"Content-Length not a number", "Content-Length: two\r\n\r\n{}", "invalid Content-Length"},
		{"negative Content-Length", "Content-Length: -1\r\n\r\n{}", "invalid Content-Length"},
		{"Content-Length overflows int", "Content-Length: 99999999999999999999999\r\n\r\n{}", "invalid Content-Length"},
		{"conflicting Content-Length", "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", "conflicting Content-Length"},
		{"header line without a colon", "Content-Length 2\r\n\r\n{}", "malformed line"},
		{"too many header lines", strings.Repeat("X: y\r\n", 40) + "Content-Length: 2\r\n\r\n{}", "too many header lines"},
		{"header line too long", "X-Pad: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 2\r\n\r\n{}", "header line too long"},
		{"body shorter than announced", "Content-Length: 10\r\n\r\n{}", "read frame body"},
		{"body not JSON", frame("<html>"), "decode frame"},
		{"body not UTF-8", frame("{\"a\":\"\xff\xfe\"}"), ""},
		{"body truncated JSON", frame(`{"jsonrpc":"2.0","id":`), "decode frame"},
		{"body nested 100k deep", frame(deep), "decode frame"},
		{"oversized", "Content-Length: 4194305\r\n\r\n", "exceeds the limit of 4194304 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			err := Codec{}.ReadObject(bufio.NewReader(strings.NewReader(tc.in)), &v)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// endless is a reader that never ends a line: what a peer stuck in a loop,
// or a hostile one, writes. It counts what was taken from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// allocated runs fn and returns the bytes the process allocated meanwhile.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestOversizedInputIsRefusedWithoutAllocatingIt: a Content-Length of 1 GiB
// and a header line that never ends are refused after reading a bounded
// number of bytes, and without allocating anything near their size.
func TestOversizedInputIsRefusedWithoutAllocatingIt(t *testing.T) {
	const budget = 1 << 20 // what a refused frame may cost, all allocations included
	tests := []struct {
		name    string
		reader  func() (io.Reader, func() int64)
		wantErr string
	}{
		{"Content-Length of 1 GiB", func() (io.Reader, func() int64) {
			r := strings.NewReader("Content-Length: 1073741824\r\n\r\n" + strings.Repeat("x", 64<<10))
			return r, func() int64 { return r.Size() - int64(r.Len()) }
		}, "exceeds the limit"},
		{"header line that never ends", func() (io.Reader, func() int64) {
			e := &endless{}
			return e, func() int64 { return e.n }
		}, "header line too long"},
		{"Content-Length header padded without end", func() (io.Reader, func() int64) {
			e := &endless{}
			return io.MultiReader(strings.NewReader("Content-Length: 1"), e), func() int64 { return e.n }
		}, "header line too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, consumed := tc.reader()
			var err error
			used := allocated(func() {
				var v any
				err = Codec{}.ReadObject(bufio.NewReader(src), &v)
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Less(t, used, uint64(budget), "bytes allocated while refusing the frame")
			assert.LessOrEqual(t, consumed(), int64(64<<10), "bytes read from the peer")
		})
	}
}

// stubService answers every request; the codec tests only need a peer.
type stubService struct{}

func (stubService) Initialize(context.Context, protocol.InitializeParams, protocol.Notifier) error {
	return nil
}
func (stubService) CloseLocation(string)                                   {}
func (stubService) Paste(context.Context, protocol.LoginPasteParams) error { return nil }

func (stubService) ApplyConfig(context.Context, protocol.ConfigApplyParams) (protocol.ConfigApplyResult, error) {
	return protocol.ConfigApplyResult{}, nil
}
func (stubService) Headers(context.Context, protocol.HeadersParams) (protocol.HeadersResult, error) {
	return protocol.HeadersResult{Headers: map[string]string{}}, nil
}
func (stubService) Login(context.Context, protocol.LoginParams) (protocol.LoginResult, error) {
	return protocol.LoginResult{}, nil
}
func (stubService) CancelLogins()                  {}
func (stubService) Shutdown(context.Context) error { return nil }

// TestBadFrameClosesTheConnection: after a valid request is answered, an
// oversized or malformed frame ends Serve (the sidecar exits and the shim
// restarts it) instead of leaving the stream in an unknown state.
func TestBadFrameClosesTheConnection(t *testing.T) {
	tests := []struct{ name, bad string }{
		{"oversized frame", "Content-Length: 1073741824\r\n\r\n"},
		{"endless header line", strings.Repeat("a", 64<<10)},
		{"not JSON", frame("not json")},
		{"missing Content-Length", "X: y\r\n\r\n{}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			srv := NewServer(stubService{}, "test", slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() {
				_ = srv.Serve(ctx, inR, outW)
				_ = outW.Close()
				close(done)
			}()
			defer func() { _ = inW.Close(); _ = outR.Close() }()

			go func() {
				_, _ = io.WriteString(inW, frame(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}`))
			}()
			var answer map[string]any
			out := bufio.NewReader(outR)
			require.NoError(t, Codec{}.ReadObject(out, &answer))
			assert.Nil(t, answer["error"])
			go func() { _, _ = io.Copy(io.Discard, out) }() // a parse error is answered first

			go func() { _, _ = io.WriteString(inW, tc.bad) }()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("the connection stayed open after a bad frame")
			}
			assert.NoError(t, ctx.Err(), "Serve ended because of the frame, not the deadline")
		})
	}
}

// FuzzCodec feeds arbitrary bytes to ReadObject as the shim's side of the
// pipe: it must never panic, never consume more than one frame's bounded
// header plus its announced body, and whatever it accepts must survive
// WriteObject → ReadObject unchanged.
func FuzzCodec(f *testing.F) {
	for _, s := range []string{
		frame(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"interactive":true}}`),
		frame(`{"jsonrpc":"2.0","method":"shutdown"}`) + frame(`{}`),
		"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
		"Content-Length: 4194305\r\n\r\n",
		"Content-Length: -1\r\n\r\n",
		"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		"content-length:2\n\n[]",
		frame("{\"a\":\"\xff\"}"),
		frame(strings.Repeat("[", 200)),
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		r := bufio.NewReaderSize(src, 16)
		for range 8 {
			before := len(in) - src.Len() - r.Buffered()
			var v any
			err := Codec{Max: limit}.ReadObject(r, &v)
			after := len(in) - src.Len() - r.Buffered()
			if after-before > maxHeaderLines*(maxHeaderLine+64)+limit {
				t.Fatalf("one frame consumed %d bytes", after-before)
			}
			if err != nil {
				return
			}
			var buf bytes.Buffer
			if err := (Codec{}).WriteObject(&buf, v); err != nil {
				t.Fatalf("a decoded frame cannot be written back: %v", err)
			}
			var again any
			if err := (Codec{}).ReadObject(bufio.NewReader(&buf), &again); err != nil {
				t.Fatalf("a written frame cannot be read back: %v\n%q", err, buf.String())
			}
			a, _ := json.Marshal(v)
			b, _ := json.Marshal(again)
			if !bytes.Equal(a, b) {
				t.Fatalf("round trip changed the value:\n%s\n%s", a, b)
			}
		}
	})
}
