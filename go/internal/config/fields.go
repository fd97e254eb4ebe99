package config

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// reader reads typed fields out of one JSON object and reports what is
// wrong with them. Missing or null keys are "not set" everywhere.
type reader struct {
	id   string           // provider id for problems ("" when unknown)
	path string           // field path of the object
	obj  *jsontree.Object // never nil
	sev  Severity
	out  *sink
}

func (r *reader) field(key string) string { return JoinPath(r.path, key) }

// report adds a problem about key with the reader's severity.
func (r *reader) report(key, expected, found, hint string) {
	r.reportSev(r.sev, key, expected, found, hint)
}

func (r *reader) reportSev(sev Severity, key, expected, found, hint string) {
	r.out.add(Problem{
		ProviderID: r.id, Field: r.field(key), Expected: expected,
		Found: found, Severity: sev, Hint: hint,
	})
}

func (r *reader) warn(key, expected, found, hint string) {
	r.reportSev(SeverityWarning, key, expected, found, hint)
}

// lookup returns the value at key; ok is false when it is absent or null.
func (r *reader) lookup(key string) (any, bool) {
	v, ok := r.obj.Get(key)
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

// child returns a reader for the object at key, or nil when the key is not
// set or not an object (reported with expected).
func (r *reader) child(key, expected string) *reader {
	v, ok := r.lookup(key)
	if !ok {
		return nil
	}
	o, isObj := v.(*jsontree.Object)
	if !isObj {
		r.report(key, expected, renderAt(key, v), "")
		return nil
	}
	return &reader{id: r.id, path: r.field(key), obj: o, sev: r.sev, out: r.out}
}

// str reads a string, trimmed. A required string that is missing or blank
// is reported; an optional blank string is ignored with a warning.
func (r *reader) str(key, expected string, required bool) (string, bool) {
	v, ok := r.lookup(key)
	if !ok {
		if required {
			r.report(key, expected, "", "")
		}
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		r.report(key, expected, renderAt(key, v), "")
		return "", false
	}
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			r.report(key, expected, renderAt(key, v), "")
		} else {
			r.warn(key, expected, renderAt(key, v), "ignored")
		}
		return "", false
	}
	return s, true
}

// enum reads a string that must be one of allowed.
func (r *reader) enum(key string, allowed []string) (string, bool) {
	expected := "one of " + quotedList(allowed)
	v, ok := r.lookup(key)
	if !ok {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		r.report(key, expected, renderAt(key, v), "")
		return "", false
	}
	s = strings.TrimSpace(s)
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	hint := ""
	if g := Suggest(s, allowed); g != "" {
		hint = "did you mean " + strconv.Quote(g) + "?"
	}
	r.report(key, expected, renderAt(key, v), hint)
	return "", false
}

// boolean reads a JSON boolean.
func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		r.report(key, "a boolean (true or false)", renderAt(key, v), "")
		return def
	}
	return b
}

// intIn reads an integer that must lie in [lo, hi]. A wrong type or a
// fraction is reported with the reader's severity; so is an out-of-range
// value, unless clamp: then it is clamped with a warning.
func (r *reader) intIn(key string, lo, hi int64, expected string, clamp bool) (int64, bool) {
	n, v, ok := r.number(key, expected)
	if !ok {
		return 0, false
	}
	i, isInt, fits := exactInt(n)
	if !isInt || (!clamp && (!fits || i < lo || i > hi)) {
		r.report(key, expected, renderAt(key, v), "")
		return 0, false
	}
	negative := strings.HasPrefix(n.String(), "-")
	switch {
	case (!fits && negative) || (fits && i < lo):
		r.warn(key, expected, renderAt(key, v), "using "+strconv.FormatInt(lo, 10))
		return lo, true
	case !fits || i > hi:
		r.warn(key, expected, renderAt(key, v), "using "+strconv.FormatInt(hi, 10))
		return hi, true
	}
	return i, true
}

// numberClamped reads any JSON number bounded to [lo, hi], clamping an
// out-of-range value with a warning.
func (r *reader) numberClamped(key string, lo, hi float64, expected string) (float64, bool) {
	n, v, ok := r.number(key, expected)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil && !math.IsInf(f, 0) && f != 0 {
		r.report(key, expected, renderAt(key, v), "")
		return 0, false
	}
	switch {
	case f < lo || math.IsNaN(f):
		r.warn(key, expected, renderAt(key, v), "using "+formatFloat(lo))
		return lo, true
	case f > hi:
		r.warn(key, expected, renderAt(key, v), "using "+formatFloat(hi))
		return hi, true
	}
	return f, true
}

// durationMs reads a millisecond count bounded to [lo, hi].
func (r *reader) durationMs(key string, lo, hi time.Duration) (time.Duration, bool) {
	expected := "an integer number of milliseconds in [" +
		strconv.FormatInt(lo.Milliseconds(), 10) + ", " + strconv.FormatInt(hi.Milliseconds(), 10) + "]"
	ms, ok := r.intIn(key, lo.Milliseconds(), hi.Milliseconds(), expected, true)
	return time.Duration(ms) * time.Millisecond, ok
}

// unusedBy warns, when key is set, that flow does not use it (only the
// flows named by using do) and reports whether it was set.
func (r *reader) unusedBy(flow Flow, key, using string) bool {
	v, ok := r.lookup(key)
	if ok {
		r.warn(key, "unset unless authFlow is "+using, render(v), "ignored because authFlow is "+strconv.Quote(string(flow)))
	}
	return ok
}

// unknownKeys warns about every key not in known, in document order,
// suggesting the closest known name.
func (r *reader) unknownKeys(known []string, hints map[string]string) {
	for _, k := range r.obj.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		hint := "ignored"
		if h, ok := hints[k]; ok {
			hint = h
		} else if g := Suggest(k, known); g != "" {
			hint = "ignored; did you mean " + strconv.Quote(g) + "?"
		}
		r.warn(k, expectedKnownOption, quote(k), hint)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// exactInt interprets the JSON number n exactly: isInt is false when n has
// a non-zero fractional part, fits is false when the integer does not fit
// in an int64. Unlike a float conversion, 8080.0000000000000001 is not an
// integer and 1e3 is 1000.
func exactInt(n json.Number) (v int64, isInt, fits bool) {
	s := n.String()
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true, true
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 1_000_000 || e < -1_000_000 {
			// An absurd exponent: only zero is an integer that fits then.
			if strings.Trim(mant, "0.") == "" {
				return 0, true, true
			}
			return 0, err == nil && e > 0, false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return 0, true, true
	}
	// The decimal point sits after point digits of `digits`.
	point := len(intPart) + exp - (len(intPart+frac) - len(digits))
	if point < len(digits) {
		if strings.Trim(digits[max(point, 0):], "0") != "" {
			return 0, false, false
		}
		digits = digits[:max(point, 0)]
	}
	if point > 19 {
		return 0, true, false
	}
	if point > len(digits) {
		digits += strings.Repeat("0", point-len(digits))
	}
	if neg {
		digits = "-" + digits
	}
	i, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, true, false
	}
	return i, true, true
}

// number looks key up and returns it as a JSON number (with the raw value,
// for messages); any other type is reported with the reader's severity.
func (r *reader) number(key, expected string) (json.Number, any, bool) {
	v, ok := r.lookup(key)
	if !ok {
		return "", nil, false
	}
	n, isNum := v.(json.Number)
	if !isNum {
		r.report(key, expected, renderAt(key, v), "")
		return "", nil, false
	}
	return n, v, true
}
