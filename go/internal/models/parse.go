package models

import (
	"github.com/vymalo/opencode-oauth2/go/internal/redact"

	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Parse reads a models response: a top-level JSON array of models, or an
// object whose "data" member is that array (the OpenAI shape). Any other
// shape is an error that says what was found.
//
// Entries that are not objects or lack a non-empty string "id" are skipped
// and counted; of several entries with one id the first is kept. Per entry,
// the first positive integer among these fields is used (numbers or numeric
// strings, as gateways differ):
//
//	context:  context_length, context_window, max_context_length,
//	          max_model_len, top_provider.context_length
//	output:   max_output_tokens, max_completion_tokens,
//	          top_provider.max_completion_tokens
//
// plus owned_by and created. Names are left empty (see Normalize).
//
// Member names match exactly ("ID" is not "id"); of repeated members the
// last counts. The document must be valid JSON as encoding/json defines it;
// strings decode as encoding/json decodes them.
func Parse(body []byte) (List, error) {
	l, err := parse(body)
	if err != nil {
		return List{}, fmt.Errorf("models: %w", err)
	}
	return l, nil
}

func parse(body []byte) (List, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	s := scanner{b: body}
	s.ws()
	if s.i == len(body) {
		return List{}, errors.New("empty response body, expected a JSON array of models or an object with a data array")
	}
	var (
		l     List
		shape string // what was found when it is not an accepted shape
		err   error
	)
	switch c := s.peek(); c {
	case '[':
		l, err = s.models()
	case '{':
		l, shape, err = s.envelope()
	default:
		shape = "found " + kindOf(c)
		err = s.skip()
	}
	if err == nil {
		if s.ws(); s.i < len(body) {
			err = s.fail("unexpected data after the top-level value")
		}
	}
	if err != nil {
		return List{}, fmt.Errorf("malformed JSON: %w", err)
	}
	if shape != "" {
		return List{}, fmt.Errorf("expected a JSON array of models or an object with a data array, %s", shape)
	}
	return l, nil
}

// envelope reads {"data": [...], ...}. Of repeated "data" members the last
// counts (as with any JSON object decoding). Without a data array it
// describes what it found: the type of "data", or the first member names.
func (s *scanner) envelope() (l List, shape string, err error) {
	var names []string
	dataKind := ""
	err = s.object(func(name []byte) error {
		if string(name) != "data" {
			if len(names) < 1000 {
				names = append(names, string(name))
			}
			return s.skip()
		}
		if c := s.peek(); c != '[' {
			l, dataKind = List{}, kindOf(c)
			return s.skip()
		}
		var err error
		l, err = s.models()
		dataKind = "array"
		return err
	})
	switch {
	case err != nil || dataKind == "array":
	case dataKind != "":
		shape = fmt.Sprintf("found an object whose \"data\" is %s", dataKind)
	case len(names) == 0:
		shape = "found an empty object"
	default:
		shape = "found an object without a data array (" + describeNames(names) + ")"
	}
	return l, shape, err
}

// models reads the array of model entries into a List.
func (s *scanner) models() (List, error) {
	l := List{Models: []Model{}}
	owners := map[string]string{} // owned_by values repeat: keep one copy of each
	err := s.array(func() error {
		var w wireModel
		if s.peek() == '{' {
			if err := s.object(func(name []byte) error { return s.member(&w, name, owners) }); err != nil {
				return err
			}
		} else if err := s.skip(); err != nil {
			return err
		}
		if w.ID == "" {
			l.Skipped++
		} else {
			l.Models = append(l.Models, w.model())
		}
		return nil
	})
	if err != nil {
		return List{}, err
	}
	l.Models, l.Duplicates = dedup(l.Models)
	return l, nil
}

// dedup keeps the first model of each id, in order, and counts the others.
// The set is sized once, after the array is read.
func dedup(ms []Model) ([]Model, int) {
	if len(ms) < 2 {
		return ms, 0
	}
	seen := make(map[string]struct{}, len(ms))
	kept := ms[:0]
	for _, m := range ms {
		if _, dup := seen[m.ID]; dup {
			continue
		}
		seen[m.ID] = struct{}{}
		kept = append(kept, m)
	}
	clear(ms[len(kept):]) // drop references held by the unused tail
	return kept, len(ms) - len(kept)
}

// member reads the value of one member of a model entry. Member names match
// exactly; the last of repeated members counts.
func (s *scanner) member(w *wireModel, name []byte, owners map[string]string) error {
	var dst *number
	switch string(name) {
	case "id":
		return s.text(&w.ID, nil)
	case "owned_by":
		return s.text(&w.OwnedBy, owners)
	case "created":
		dst = &w.Created
	case "context_length":
		dst = &w.ContextLength
	case "context_window":
		dst = &w.ContextWindow
	case "max_context_length":
		dst = &w.MaxContextLength
	case "max_model_len":
		dst = &w.MaxModelLen
	case "max_output_tokens":
		dst = &w.MaxOutputTokens
	case "max_completion_tokens":
		dst = &w.MaxCompletionTokens
	case "top_provider":
		w.TopProvider = wireLimit{}
		if s.peek() != '{' {
			return s.skip()
		}
		return s.object(func(name []byte) error {
			switch string(name) {
			case "context_length":
				return s.count(&w.TopProvider.ContextLength)
			case "max_completion_tokens":
				return s.count(&w.TopProvider.MaxCompletionTokens)
			}
			return s.skip()
		})
	default:
		return s.skip()
	}
	return s.count(dst)
}

// text reads a string value into dst; any other value sets it to "".
// With a non-nil intern map, equal values share one string.
func (s *scanner) text(dst *string, intern map[string]string) error {
	*dst = ""
	if s.peek() != '"' {
		return s.skip()
	}
	v, err := s.str()
	switch {
	case err != nil:
	case intern == nil:
		*dst = string(v)
	default:
		if known, ok := intern[string(v)]; ok {
			*dst = known
		} else if len(intern) < 1024 {
			*dst = string(v)
			intern[*dst] = *dst
		} else {
			*dst = string(v)
		}
	}
	return err
}

// count reads a number or numeric string into dst (see number).
func (s *scanner) count(dst *number) error {
	*dst = 0
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str()
		if err == nil {
			*dst = parseNumber(strings.TrimSpace(string(v)))
		}
		return err
	case c == '-' || isDigit(c):
		v, err := s.number()
		if err == nil {
			*dst = parseNumber(string(v))
		}
		return err
	default:
		return s.skip()
	}
}

// model picks the metadata of an entry.
func (w *wireModel) model() Model {
	return Model{
		ID:              w.ID,
		OwnedBy:         w.OwnedBy,
		Created:         int64(w.Created),
		ContextLength:   firstPositive(w.ContextLength, w.ContextWindow, w.MaxContextLength, w.MaxModelLen, w.TopProvider.ContextLength),
		MaxOutputTokens: firstPositive(w.MaxOutputTokens, w.MaxCompletionTokens, w.TopProvider.MaxCompletionTokens),
	}
}

// wireModel is the part of a gateway's model entry that is read. A value of
// an unexpected JSON type leaves its field at the zero value: an entry whose
// id is not a string ends up with an empty ID and is skipped.
type wireModel struct {
	ID                  string
	OwnedBy             string
	Created             number
	ContextLength       number
	ContextWindow       number
	MaxContextLength    number
	MaxModelLen         number
	MaxOutputTokens     number
	MaxCompletionTokens number
	TopProvider         wireLimit
}

// wireLimit is OpenRouter's top_provider object.
type wireLimit struct {
	ContextLength       number
	MaxCompletionTokens number
}

// number is a non-negative integer given as a JSON number or a numeric
// string. Anything else (fractions, negatives, other types, absurdly large
// values) reads as 0, "unknown", without failing the entry.
type number int64

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

// describeNames lists the first member names (sorted, quoted, shortened)
// of an object without a data array; never its values.
func describeNames(names []string) string {
	sort.Strings(names)
	names = slices.Compact(names)
	const maxNames = 5
	more := ""
	if len(names) > maxNames {
		names, more = names[:maxNames], fmt.Sprintf(" and %d more", len(names)-maxNames)
	}
	quoted := make([]string, len(names))
	for i, k := range names {
		quoted[i] = strconv.Quote(redact.Text(k, 39))
	}
	return "keys: " + strings.Join(quoted, ", ") + more
}

// kindOf names the JSON type starting with byte c.
func kindOf(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
