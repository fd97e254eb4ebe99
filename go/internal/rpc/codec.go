package rpc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
)

// MaxFrame is the largest message body the sidecar accepts (protocol.md).
const MaxFrame = 4 << 20

// Codec is the LSP Content-Length framing with a bound on the body size, so
// that a broken or hostile peer cannot make the sidecar allocate without limit.
type Codec struct {
	Max int // bytes; 0 means MaxFrame
}

// WriteObject implements jsonrpc2.ObjectCodec.
func (Codec) WriteObject(w io.Writer, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if _, err := fmt.Fprintf(w, "Content-Length: %d\r\n\r\n", len(data)); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write frame body: %w", err)
	}
	return nil
}

// ReadObject implements jsonrpc2.ObjectCodec.
func (c Codec) ReadObject(r *bufio.Reader, v any) error {
	limit := c.Max
	if limit <= 0 {
		limit = MaxFrame
	}
	tp := textproto.NewReader(r)
	length := -1
	for n := 0; ; n++ {
		if n > 16 {
			return fmt.Errorf("read frame header: too many header lines")
		}
		line, err := tp.ReadLine()
		if err != nil {
			return fmt.Errorf("read frame header: %w", err)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("read frame header: malformed line")
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return fmt.Errorf("read frame header: invalid Content-Length")
			}
			length = n
		}
	}
	if length < 0 {
		return fmt.Errorf("read frame header: missing Content-Length")
	}
	if length > limit {
		return fmt.Errorf("frame of %d bytes exceeds the limit of %d bytes", length, limit)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("read frame body: %w", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}
