package opencodecfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxDepth bounds the nesting of a config document (no config is this deep;
// the bound keeps hostile input from exhausting the stack).
const maxDepth = 256

// object is a JSON object that keeps its keys in document order, as a
// JavaScript object does: OpenCode lists providers in that order, and so
// does the CLI. A repeated key keeps its first position and its last value.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) clone() *object {
	c := &object{keys: append([]string(nil), o.keys...), vals: make(map[string]any, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// decode parses one JSON document into *object, []any, string,
// json.Number, bool or nil. Numbers keep their exact text.
func decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &syntaxError{off: dec.InputOffset(), msg: "unexpected content after the top-level value"}
	}
	return v, nil
}

// syntaxError is a JSON error at a byte offset.
type syntaxError struct {
	off int64
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

func wrapDecodeErr(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &syntaxError{off: se.Offset, msg: se.Error()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &syntaxError{off: dec.InputOffset(), msg: "unexpected end of input"}
	}
	return &syntaxError{off: dec.InputOffset(), msg: err.Error()}
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &syntaxError{off: dec.InputOffset(), msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, wrapDecodeErr(dec, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, wrapDecodeErr(dec, err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, &syntaxError{off: dec.InputOffset(), msg: "object key is not a string"}
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, wrapDecodeErr(dec, err)
			}
			return o, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, wrapDecodeErr(dec, err)
			}
			return arr, nil
		}
		return nil, &syntaxError{off: dec.InputOffset(), msg: fmt.Sprintf("unexpected %q", rune(t))}
	default:
		return tok, nil
	}
}

// encode writes v as compact JSON, objects in key order.
func encode(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeScalar(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encode(buf, t.vals[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		return encodeScalar(buf, t)
	}
	return nil
}

func encodeScalar(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode config value: %w", err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}

// merge returns dst deep-merged with src the way OpenCode merges its config
// layers (remeda's mergeDeep): when both are objects, keys are merged
// recursively, src winning; otherwise src replaces dst (arrays included).
// Neither argument is modified.
func merge(dst, src any) any {
	d, ok1 := dst.(*object)
	s, ok2 := src.(*object)
	if !ok1 || !ok2 {
		return src
	}
	out := d.clone()
	for _, k := range s.keys {
		if prev, ok := out.vals[k]; ok {
			out.set(k, merge(prev, s.vals[k]))
		} else {
			out.set(k, s.vals[k])
		}
	}
	return out
}

// mergeLayer merges one config layer over the result so far, with
// OpenCode's exceptions at the top level: `instructions` and `plugin`
// lists are concatenated without duplicates instead of replaced.
func mergeLayer(dst, src *object) *object {
	out := merge(dst, src).(*object)
	for _, k := range []string{"instructions", "plugin"} {
		a, ok1 := dst.vals[k].([]any)
		b, ok2 := src.vals[k].([]any)
		if ok1 && ok2 {
			out.set(k, concatUnique(a, b))
		}
	}
	return out
}

func concatUnique(a, b []any) []any {
	seen := map[string]bool{}
	out := make([]any, 0, len(a)+len(b))
	for _, v := range append(append([]any(nil), a...), b...) {
		var buf bytes.Buffer
		if encode(&buf, v) != nil {
			continue
		}
		if key := buf.String(); !seen[key] {
			seen[key] = true
			out = append(out, v)
		}
	}
	return out
}
