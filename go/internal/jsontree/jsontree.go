// Package jsontree decodes JSON into a tree whose objects keep their keys in
// document order, as JavaScript objects do, and encodes such a tree back.
//
// OpenCode lists providers in the order the user wrote them, and so do the
// plugin and its command line; encoding/json's maps would lose that order.
// The tree holds nil, bool, json.Number (the exact text of a number),
// string, []any and *Object.
package jsontree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// Object is a JSON object that remembers the order of its keys. A repeated
// key keeps its first position and its last value, as JSON.parse does.
type Object struct {
	keys []string
	vals map[string]any
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{vals: map[string]any{}} }

// Keys returns the keys in document order; the caller must not modify it.
func (o *Object) Keys() []string { return o.keys }

// Len is the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Get returns the value at key; ok is false when the key is absent.
func (o *Object) Get(key string) (v any, ok bool) {
	v, ok = o.vals[key]
	return v, ok
}

// Set sets key to v, appending key when it is new.
func (o *Object) Set(key string, v any) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

// Clone returns a shallow copy: the values themselves are shared.
func (o *Object) Clone() *Object {
	return &Object{keys: slices.Clone(o.keys), vals: maps.Clone(o.vals)}
}

// SyntaxError is a decoding error at a byte offset of the input.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// Decode parses one JSON document. Nesting deeper than maxDepth is an
// error (no config is that deep; the bound keeps hostile input from
// exhausting the stack), and so is anything after the top-level value.
// Errors are *SyntaxError.
func Decode(data []byte, maxDepth int) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0, maxDepth)
	if err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, &SyntaxError{Offset: int64(len(data) - len(rest)), Msg: "unexpected data after the top-level value"}
	}
	return v, nil
}

func syntaxErr(dec *json.Decoder, err error) error {
	e := &SyntaxError{Offset: dec.InputOffset(), Msg: err.Error()}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		e.Offset = se.Offset
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		e.Msg = "unexpected EOF"
	}
	return e
}

func decodeValue(dec *json.Decoder, depth, maxDepth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(dec, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // nil, bool, json.Number or string
	}
	if depth >= maxDepth {
		return nil, &SyntaxError{Offset: dec.InputOffset(), Msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	obj, arr := NewObject(), []any{}
	for dec.More() {
		var key json.Token // an object's key; encoding/json yields strings only
		if d == '{' {
			if key, err = dec.Token(); err != nil {
				return nil, syntaxErr(dec, err)
			}
		}
		e, err := decodeValue(dec, depth+1, maxDepth)
		if err != nil {
			return nil, err
		}
		if k, isKey := key.(string); isKey {
			obj.Set(k, e)
		} else {
			arr = append(arr, e)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, syntaxErr(dec, err)
	}
	if d == '{' {
		return obj, nil
	}
	return arr, nil
}

// Marshal encodes v as compact JSON, objects in key order, without HTML
// escaping.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON value: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil // Encode's newline
}

// MarshalJSON encodes o with its keys in order, for encoding/json; Marshal
// also leaves HTML characters unescaped.
func (o *Object) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			out = append(out, ',')
		}
		key, _ := Marshal(k) // a string always encodes
		val, err := Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		out = append(out, key...)
		out = append(out, ':')
		out = append(out, val...)
	}
	return append(out, '}'), nil
}

// Plain converts a tree to encoding/json's shapes (map[string]any for
// objects), for callers that do not need the order.
func Plain(v any) any {
	js, _ := Marshal(v) // a tree always encodes
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var out any
	_ = dec.Decode(&out) // what Marshal wrote decodes
	return out
}
