package rpc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// Codec is the LSP Content-Length framing with a bound on the body size, so
// that a broken or hostile peer cannot make the sidecar allocate without limit.
type Codec struct {
	Max int // bytes; 0 means protocol.MaxFrame
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
// for it; jsonrpc2 then closes the connection.
func (c Codec) ReadObject(r *bufio.Reader, v any) error {
	body, err := c.readBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}

// readBody reads one frame's header and its body (see ReadObject).
func (c Codec) readBody(r *bufio.Reader) ([]byte, error) {
	limit := c.Max
	if limit <= 0 {
		limit = protocol.MaxFrame
	}
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
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}
