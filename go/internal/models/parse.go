package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// decodeOptions: last of repeated names wins and invalid UTF-8 is mangled
// to U+FFFD, as gateways are not all strict about either. A value of an
// unexpected type reads as empty (see zeroUnless): a model entry or a
// top_provider that is not an object, a string member that is not a string.
var decodeOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true),
	json.WithUnmarshalers(json.JoinUnmarshalers(
		json.UnmarshalFromFunc(zeroUnless[wireModel]('{')),
		json.UnmarshalFromFunc(zeroUnless[wireLimit]('{')),
		json.UnmarshalFromFunc(zeroUnless[string]('"')))))

// parse reads a models response: a top-level JSON array of models, or an
// object whose "data" member is that array (the OpenAI shape). Any other
// shape is an error that says what was found.
//
// Entries that are not objects or lack a non-empty string "id" are skipped
// and counted; ids OpenCode cannot hold safely (see Unsafe) are dropped and
// counted; of several entries with one id the first is kept. Per entry, the
// first positive integer among these fields is used (numbers or numeric
// strings, as gateways differ):
//
//	context:  context_length, context_window, max_context_length,
//	          max_model_len, top_provider.context_length
//	output:   max_output_tokens, max_completion_tokens,
//	          top_provider.max_completion_tokens
//
// plus owned_by (control characters removed) and created. Names are left
// empty (see Normalize).
//
// The document must be valid JSON (RFC 8259, nesting up to 10,000 levels).
// Member names match exactly ("ID" is not "id"); of repeated members the
// last counts; invalid UTF-8 and lone surrogates in strings become U+FFFD.
// Decoding is encoding/json/v2's (github.com/go-json-experiment/json).
func parse(body []byte) (List, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return List{}, errors.New("empty response body, expected a JSON array of models or an object with a data array")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), decodeOptions)
	// A top-level value that is not an object is read as an envelope's data.
	var obj envelope
	top, target := dec.PeekKind(), any(&obj.Data)
	if top == '{' {
		target = &obj
	}
	err := json.UnmarshalDecode(dec, target, decodeOptions)
	if _, terr := dec.ReadToken(); err == nil && terr != io.EOF {
		err = errors.Join(errors.New("unexpected data after the top-level value"), terr)
	}
	if err != nil {
		return List{}, fmt.Errorf("malformed JSON: %s", syntaxText(err))
	}
	if shape := obj.shape(top); shape != "" {
		return List{}, fmt.Errorf("expected a JSON array of models or an object with a data array, %s", shape)
	}
	return toList(obj.Data.entries), nil
}

// syntaxText describes a decoding error by its cause and byte offset; the
// JSON pointer of the library's message is left out (it quotes member
// names from the body).
func syntaxText(err error) string {
	if se, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		if errors.Is(se.Err, io.ErrUnexpectedEOF) {
			return fmt.Sprintf("unexpected end of input at offset %d", se.ByteOffset)
		}
		return fmt.Sprintf("%s at offset %d", redact.Text(strings.TrimPrefix(se.Err.Error(), "jsontext: "), 120), se.ByteOffset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return redact.Text(err.Error(), 160)
}

// envelope is the object form of a response, {"data": [...], ...}. Of
// repeated "data" members the last counts (as with any JSON object).
type envelope struct {
	Data   dataMember                `json:"data"`
	Others map[string]jsontext.Value `json:",embed"`
}

// dataMember is the "data" member: its entries when it is an array, else
// the kind of value it is (0 when there is none).
type dataMember struct {
	entries []wireModel
	kind    jsontext.Kind
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (d *dataMember) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*d = dataMember{kind: dec.PeekKind()}
	if d.kind != '[' {
		return dec.SkipValue()
	}
	return json.UnmarshalDecode(dec, &d.entries, decodeOptions)
}

// shape describes what was found when it is neither an array nor an object
// with a data array ("" when it is): the type of the top-level value or of
// "data", or the first member names.
func (o *envelope) shape(top jsontext.Kind) string {
	switch {
	case o.Data.kind == '[':
		return ""
	case top != '{':
		return "found " + kindNames[top]
	case o.Data.kind != 0:
		return fmt.Sprintf("found an object whose \"data\" is %s", kindNames[o.Data.kind])
	case len(o.Others) == 0:
		return "found an empty object"
	}
	return "found an object without a data array (" + describeNames(slices.Sorted(maps.Keys(o.Others))) + ")"
}

// toList turns the decoded entries into a List: counted skips, dropped
// unsafe ids, the first of each id.
func toList(entries []wireModel) List {
	l := List{Models: make([]Model, 0, len(entries))}
	seen := make(map[string]struct{}, len(entries))
	for i := range entries {
		w := &entries[i]
		switch _, dup := seen[w.ID]; {
		case w.ID == "":
			l.Skipped++
		case Unsafe(w.ID):
			l.Unsafe++
		case dup:
			l.Duplicates++
		default:
			seen[w.ID] = struct{}{}
			l.Models = append(l.Models, w.model())
		}
	}
	return l
}

// wireModel is the part of a gateway's model entry that is read. A value of
// an unexpected JSON type leaves its field at the zero value: an entry whose
// id is not a string ends up with an empty ID and is skipped.
type wireModel struct {
	ID                  string    `json:"id"`
	OwnedBy             string    `json:"owned_by"`
	Created             number    `json:"created"`
	ContextLength       number    `json:"context_length"`
	ContextWindow       number    `json:"context_window"`
	MaxContextLength    number    `json:"max_context_length"`
	MaxModelLen         number    `json:"max_model_len"`
	MaxOutputTokens     number    `json:"max_output_tokens"`
	MaxCompletionTokens number    `json:"max_completion_tokens"`
	TopProvider         wireLimit `json:"top_provider"`
}

// model picks the metadata of an entry.
func (w *wireModel) model() Model {
	return Model{
		ID:              w.ID,
		OwnedBy:         redact.Clean(w.OwnedBy, 0),
		Created:         int64(w.Created),
		ContextLength:   firstPositive(w.ContextLength, w.ContextWindow, w.MaxContextLength, w.MaxModelLen, w.TopProvider.ContextLength),
		MaxOutputTokens: firstPositive(w.MaxOutputTokens, w.MaxCompletionTokens, w.TopProvider.MaxCompletionTokens),
	}
}

// wireLimit is OpenRouter's top_provider object; anything but an object
// reads as empty.
type wireLimit struct {
	ContextLength       number `json:"context_length"`
	MaxCompletionTokens number `json:"max_completion_tokens"`
}

// zeroUnless reads a value of the given kind into *v the usual way
// (errors.ErrUnsupported) and skips any other, leaving *v empty: an entry
// without an id (skipped), no limits, "". *v is reset first: a repeated
// member replaces, it is not merged.
func zeroUnless[T any](kind jsontext.Kind) func(*jsontext.Decoder, *T) error {
	return func(dec *jsontext.Decoder, v *T) error {
		*v = *new(T)
		if dec.PeekKind() != kind {
			return dec.SkipValue()
		}
		return errors.ErrUnsupported
	}
}

// number is a non-negative integer given as a JSON number or a numeric
// string. Anything else (fractions, negatives, other types, absurdly large
// values) reads as 0, "unknown", without failing the entry.
type number int64

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (n *number) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*n = 0
	if k := dec.PeekKind(); k != '"' && k != '0' {
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken() // a number token's String is its text
	if err == nil {
		*n = parseNumber(strings.TrimSpace(tok.String()))
	}
	return err
}

// maxNumber bounds token counts and timestamps to values every consumer
// (OpenCode's JavaScript numbers included) represents exactly.
const maxNumber = 1 << 53

// parseNumber interprets the text of a number (see number).
func parseNumber(s string) number {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		if v > 0 && v <= maxNumber {
			return number(v)
		}
		return 0
	}
	// Integral floats such as 131072.0 or 1.31072e5.
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f <= maxNumber && f == math.Trunc(f) {
		return number(f)
	}
	return 0
}

func firstPositive(vs ...number) int {
	for _, v := range vs {
		if v > 0 && v <= math.MaxInt32 {
			return int(v)
		}
	}
	return 0
}

// describeNames lists the first of the sorted member names (quoted,
// shortened) of an object without a data array; never its values.
func describeNames(names []string) string {
	const maxNames = 5
	more := ""
	if len(names) > maxNames {
		names, more = names[:maxNames], fmt.Sprintf(" and %d more", len(names)-maxNames)
	}
	for i, k := range names {
		names[i] = strconv.Quote(redact.Text(k, 39))
	}
	return "keys: " + strings.Join(names, ", ") + more
}

// kindNames names the JSON type of a value by its jsontext.Kind.
var kindNames = map[jsontext.Kind]string{
	'[': "an array", '{': "an object", '"': "a string", 't': "a boolean", 'f': "a boolean", 'n': "null", '0': "a number",
}
