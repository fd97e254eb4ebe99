package models

import "strings"

// prototypeNames are the members of JavaScript's Object.prototype. OpenCode
// keeps models in plain objects keyed by id: an id equal to one of these
// reads the inherited member instead of a model (or, for __proto__,
// replaces the prototype), and `opencode models` fails.
var prototypeNames = map[string]struct{}{
	"__proto__": {}, "constructor": {}, "hasOwnProperty": {}, "isPrototypeOf": {},
	"propertyIsEnumerable": {}, "toLocaleString": {}, "toString": {}, "valueOf": {},
	"__defineGetter__": {}, "__defineSetter__": {}, "__lookupGetter__": {}, "__lookupSetter__": {},
}

// MaxIDLength bounds a model id in bytes; real ids (ARNs, paths with an
// organisation) stay well below it, and it keeps one entry from filling
// the answer to OpenCode.
const MaxIDLength = 512

// Unsafe reports whether OpenCode cannot hold a model id safely: a member
// name of Object.prototype, an id longer than MaxIDLength, or an id with a
// character that changes what a terminal shows (see unsafeRune). Such ids
// are dropped, never repaired: a repaired id would not be the one the
// gateway expects.
func Unsafe(id string) bool {
	if _, ok := prototypeNames[id]; ok || len(id) > MaxIDLength {
		return true
	}
	return strings.ContainsFunc(id, unsafeRune)
}

// CleanText removes from display text (names, owners) every character
// unsafeRune refuses.
func CleanText(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return -1
		}
		return r
	}, s)
}

// unsafeRune: C0 and C1 control characters and DEL (escape sequences, bell,
// carriage return, NUL, line breaks), the JavaScript line terminators
// U+2028/U+2029, and the bidirectional marks, embeddings, overrides and
// isolates that reorder what a terminal prints (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069).
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
