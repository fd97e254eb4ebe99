package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sourcegraph/jsonrpc2"
)

// rejection is the error response to a frame that jsonrpc2 would not
// answer: it treats a request with "id": null as a notification, and ends
// the connection on a body that is not a request object.
type rejection struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"` // the request's usable id, or null
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

var null = json.RawMessage("null")

// screen checks a frame's body against JSON-RPC 2.0 section 4 and 5: nil
// when jsonrpc2 may have it, else the error response it needs.
func screen(body []byte) *rejection {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return &rejection{JSONRPC: "2.0", ID: null, Error: jsonrpc2.Error{Code: jsonrpc2.CodeParseError, Message: "Parse error: the frame body is not JSON"}, fatal: true}
	}
	if trimmed[0] != '{' {
		what := "a request must be a JSON object"
		if trimmed[0] == '[' {
			what = "batches are not supported; send one request per frame"
		}
		return invalid(null, what)
	}
	var p probe
	if err := json.Unmarshal(trimmed, &p); err != nil {
		return invalid(null, err.Error())
	}
	switch {
	case p.ID == nil && p.Method != nil: // a notification
	case p.ID == nil:
		return invalid(null, "no method")
	case !usableID(p.ID):
		id := null
		if len(p.ID) > 0 && (p.ID[0] == '-' || (p.ID[0] >= '0' && p.ID[0] <= '9')) {
			id = p.ID // a number, just not one this peer can hold: echoed as sent
		}
		return invalid(id, "the id must be a string or a whole number from 0 to 18446744073709551615 (a null id cannot be told apart from a notification's answer)")
	case p.Method == nil && (p.Result != nil || p.Error != nil): // a response: jsonrpc2 ignores it
	case p.Method == nil:
		return invalid(p.ID, "no method")
	}
	if p.Method != nil && (len(p.Method) == 0 || p.Method[0] != '"') {
		id := p.ID
		if !usableID(id) {
			id = null
		}
		return invalid(id, "the method must be a string")
	}
	return nil
}

// usableID: a JSON string, or a whole number that jsonrpc2's ID holds
// (uint64): 1.5, 1e3, -1 or 2^64 would end the connection or come back
// changed.
func usableID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	if id[0] == '"' {
		return true
	}
	_, err := strconv.ParseUint(string(id), 10, 64)
	return err == nil
}

// serverCodec is the server's Codec: frames jsonrpc2 would not answer are
// answered on out (see screen).
type serverCodec struct {
	Codec
	out jsonrpc2.ObjectStream
}

// ReadObject implements jsonrpc2.ObjectCodec: it reads frames until one
// jsonrpc2 may have, answering the others; a body that is not JSON is
// answered and ends the connection.
func (c *serverCodec) ReadObject(r *bufio.Reader, v any) error {
	for {
		body, err := c.readBody(r)
		if err != nil {
			return err
		}
		rej := screen(body)
		if rej == nil {
			if err := json.Unmarshal(body, v); err != nil {
				return fmt.Errorf("decode frame: %w", err)
			}
			return nil
		}
		if err := c.out.WriteObject(rej); err != nil {
			return err
		}
		if rej.fatal {
			return errNotJSON
		}
	}
}
