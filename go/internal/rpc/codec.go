package rpc

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// Codec is the LSP Content-Length framing with a bound on the body size, so
// that a broken or hostile peer cannot make the sidecar allocate without limit.
type Codec struct {
	Max int // bytes; 0 means protocol.MaxFrame
	// answer, when set (the server's), answers on it the frames jsonrpc2
	// would not (see screen).
	answer jsonrpc2.ObjectStream
}

// encoded is a message body already encoded: WriteObject writes it as it is.
type encoded []byte

// WriteObject implements jsonrpc2.ObjectCodec.
func (Codec) WriteObject(w io.Writer, obj any) error {
	data, ok := obj.(encoded)
	if !ok {
		var err error
		if data, err = json.Marshal(obj); err != nil {
			return fmt.Errorf("encode frame: %w", err)
		}
	}
	// One Write per frame: a stream closed between two writes never ends
	// in the middle of a frame.
	if _, err := w.Write(append(fmt.Appendf(nil, "Content-Length: %d\r\n\r\n", len(data)), data...)); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Bounds of a frame's header: LSP headers are one or two short lines.
const (
	maxHeaderLine  = 1024
	maxHeaderLines = 16
)

// ReadObject implements jsonrpc2.ObjectCodec. Every read is bounded: a header
// line longer than maxHeaderLine, more than maxHeaderLines lines, or a
// Content-Length above the limit is an error before anything is allocated
// for it; jsonrpc2 then closes the connection. The server's codec reads
// frames until one jsonrpc2 may have, answering the others; a body that is
// not JSON is answered and ends the connection.
func (c Codec) ReadObject(r *bufio.Reader, v any) error {
	for {
		body, err := c.readBody(r)
		if err != nil {
			return err
		}
		if rej := c.screen(body); rej != nil {
			if err := c.answer.WriteObject(rej); err != nil {
				return err
			}
			if rej.fatal {
				return errNotJSON
			}
			continue
		}
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("decode frame: %w", err)
		}
		return nil
	}
}

// readBody reads one frame's header and its body (see ReadObject).
func (c Codec) readBody(r *bufio.Reader) ([]byte, error) {
	limit := cmp.Or(max(c.Max, 0), protocol.MaxFrame)
	length := -1
	for n := 0; ; n++ {
		if n >= maxHeaderLines {
			return nil, fmt.Errorf("read frame header: too many header lines")
		}
		line, err := readHeaderLine(r)
		if err != nil {
			return nil, fmt.Errorf("read frame header: %w", err)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("read frame header: malformed line")
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("read frame header: invalid Content-Length")
			}
			if length >= 0 && n != length {
				return nil, fmt.Errorf("read frame header: conflicting Content-Length headers")
			}
			length = n
		}
	}
	if length < 0 {
		return nil, fmt.Errorf("read frame header: missing Content-Length")
	}
	if length > limit {
		return nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d bytes", length, limit)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	return body, nil
}

// errHeaderLine is returned for a header line longer than maxHeaderLine.
var errHeaderLine = errors.New("header line too long")

// readHeaderLine reads one line ending in "\n" (a preceding "\r" is
// dropped), holding at most maxHeaderLine bytes of it: a peer that never
// sends a line break cannot make the sidecar buffer without limit.
func readHeaderLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxHeaderLine {
			return "", errHeaderLine
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return strings.TrimSuffix(string(line[:len(line)-1]), "\r"), nil
}

// rejection is the error response to a frame that jsonrpc2 would not
// answer: it treats a request with "id": null as a notification, and ends
// the connection on a body that is not a request object.
type rejection struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"` // the request's usable id, or nil: null
	Error   jsonrpc2.Error  `json:"error"`
	fatal   bool            // the body is not JSON: answer, then end the connection
}

// invalid is the rejection of an invalid request.
func invalid(id json.RawMessage, what string) *rejection {
	return &rejection{JSONRPC: "2.0", ID: id, Error: jsonrpc2.Error{Code: jsonrpc2.CodeInvalidRequest, Message: "Invalid Request: " + what}}
}

// errNotJSON ends the connection after a body that is not JSON was answered.
var errNotJSON = errors.New("decode frame: the body is not JSON")

// probe is the part of a message screen looks at.
type probe struct {
	ID     json.RawMessage `json:"id"`
	Method json.RawMessage `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// screen checks a frame's body against JSON-RPC 2.0 section 4 and 5: nil
// when jsonrpc2 may have it, or c answers nothing (a client's codec), else
// the error response it needs.
func (c Codec) screen(body []byte) *rejection {
	if c.answer == nil {
		return nil
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return &rejection{JSONRPC: "2.0", Error: jsonrpc2.Error{Code: jsonrpc2.CodeParseError, Message: "Parse error: the frame body is not JSON"}, fatal: true}
	}
	if trimmed[0] != '{' {
		what := "a request must be a JSON object"
		if trimmed[0] == '[' {
			what = "batches are not supported; send one request per frame"
		}
		return invalid(nil, what)
	}
	var p probe
	_ = json.Unmarshal(trimmed, &p) // a valid object into raw messages: it cannot fail
	switch {
	case p.ID == nil && p.Method != nil: // a notification
	case p.ID == nil:
		return invalid(nil, "no method")
	case !usableID(p.ID):
		var id json.RawMessage // null
		if len(p.ID) > 0 && (p.ID[0] == '-' || (p.ID[0] >= '0' && p.ID[0] <= '9')) {
			id = p.ID // a number, just not one this peer can hold: echoed as sent
		}
		return invalid(id, "the id must be a string or a whole number from 0 to 18446744073709551615 (a null id cannot be told apart from a notification's answer)")
	case p.Method == nil && (p.Result != nil || p.Error != nil): // a response: jsonrpc2 ignores it
	case p.Method == nil:
		return invalid(p.ID, "no method")
	}
	if p.Method != nil && (len(p.Method) == 0 || p.Method[0] != '"') {
		return invalid(p.ID, "the method must be a string") // p.ID is usable, or nil (null)
	}
	return nil
}

// usableID: a JSON string, or a whole number that jsonrpc2's ID holds
// (uint64): 1.5, 1e3, -1 or 2^64 would end the connection or come back
// changed.
func usableID(id json.RawMessage) bool {
	_, err := strconv.ParseUint(string(id), 10, 64)
	return err == nil || bytes.HasPrefix(id, []byte{'"'})
}
