package models

import (
	"cmp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DisplayName returns the display name of a model id, with the original
// plugin's rules:
//
//  1. a non-empty overrides[id] is returned verbatim;
//  2. otherwise the id is split on runs of '-', '_', '/' and ':' (dots and
//     spaces are not separators), each part is trimmed of white space and
//     empty parts are dropped; if none is left the id is returned unchanged;
//  3. each part becomes a word and the words are joined by single spaces:
//     - a known acronym (ai api cpu gpu glm gpt llm nlp ocr tts stt, in any
//     case) is upper-cased: "gpt" → "GPT";
//     - digits stay as they are: "5" → "5";
//     - digits followed by one ASCII letter keep the digits and upper-case
//     a size letter (b k m g t) or lower-case any other: "72b" → "72B",
//     "4O" → "4o";
//     - anything else is title-cased, first character upper, the rest
//     lower: "instruct" → "Instruct", "GPT4o" → "Gpt4o", "4turbo" →
//     "4turbo", "k2.6" → "K2.6".
//
// Rule 4 is this plugin's own (see withoutRepeatedOrg); the original
// repeats such words.
//
// The original's separate rules for letters-then-digits ("qwen2") and
// digits-then-letters ("128kb") give exactly the title-case result, so they
// are folded into the last case. Case mapping outside ASCII uses Go's simple
// Unicode mapping, which differs from JavaScript's in a few special cases
// ("ß", final sigma); model ids are ASCII in practice.
func DisplayName(id string, overrides map[string]string) string {
	if o := overrides[id]; o != "" {
		return o
	}
	name := cmp.Or(words(id), id) // an id without words is its own name
	// 4. An organisation prefix ("meta-llama/Llama-3.1-8B-Instruct") that
	// the model's name repeats is said once: "Meta Llama 3.1 8B Instruct",
	// where the original says "Meta Llama Llama 3.1 8B Instruct".
	if i := strings.LastIndexByte(id, '/'); i > 0 {
		return cmp.Or(withoutRepeatedOrg(words(id[:i]), words(id[i+1:])), name)
	}
	return name
}

// words applies rules 2 and 3: the words of id joined by single spaces,
// or "" when id has none.
func words(id string) string {
	var stack [64]byte
	buf := stack[:0]
	for part := range strings.FieldsFuncSeq(id, isSeparator) {
		if part = strings.TrimFunc(part, isJSSpace); part == "" { // as JavaScript's trim
			continue
		}
		if len(buf) > 0 {
			buf = append(buf, ' ')
		}
		buf = appendWord(buf, part)
	}
	return string(buf)
}

// withoutRepeatedOrg joins the display names of an organisation and its
// model, dropping the organisation's words from the first one that the
// model's first word repeats (the same word, or one a prefix of the other,
// of at least three letters): "Meta Llama" + "Llama 3.1" → "Meta Llama
// 3.1", "Qwen" + "Qwen2.5 72B" → "Qwen2.5 72B", "Mistralai" + "Mistral 7B"
// → "Mistral 7B". It returns "" when the model repeats nothing of the
// organisation (both are kept, as in the original), as when either is
// empty (a repeat needs three letters).
func withoutRepeatedOrg(org, model string) string {
	first, _, _ := strings.Cut(model, " ")
	orgWords := strings.Split(org, " ")
	for i, w := range orgWords {
		if repeats(w, first) {
			return strings.TrimSpace(strings.Join(orgWords[:i], " ") + " " + model)
		}
	}
	return ""
}

// repeats reports whether a and b name the same thing: equal, or one a
// prefix of the other, ignoring case, the shorter of at least 3 bytes.
func repeats(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= 3 && strings.HasPrefix(b, a)
}

func isSeparator(r rune) bool { return r == '-' || r == '_' || r == '/' || r == ':' }

// isJSSpace reports whether JavaScript's String.prototype.trim removes r
// (WhiteSpace and LineTerminator of ECMA-262), so that trimming matches the
// original exactly: Go's white space without U+0085, and U+FEFF.
func isJSSpace(r rune) bool { return unicode.IsSpace(r) && r != 0x85 || r == 0xFEFF }

// acronyms are the known acronyms, in the form a name shows them.
var acronyms = []string{"AI", "API", "CPU", "GPU", "GLM", "GPT", "LLM", "NLP", "OCR", "TTS", "STT"}

func appendWord(buf []byte, w string) []byte {
	// A known acronym in any ASCII case. (The equal length keeps EqualFold's
	// Unicode folding out: "ſ" is two bytes, the "s" it folds to one.)
	for _, a := range acronyms {
		if len(w) == len(a) && strings.EqualFold(w, a) {
			return append(buf, a...)
		}
	}
	digits := len(w) - len(strings.TrimLeft(w, "0123456789")) // the leading digits
	if digits == len(w) {
		return append(buf, w...)
	}
	// c is the last byte in lower case when it is an ASCII letter ('A'-'Z'
	// and 'a'-'z' are the only bytes that | 0x20 maps into 'a'-'z').
	if c := w[len(w)-1] | 0x20; digits > 0 && digits == len(w)-1 && 'a' <= c && c <= 'z' {
		buf = append(buf, w[:digits]...)
		if strings.IndexByte("bkmgt", c) >= 0 {
			c &^= 0x20 // a size: upper case
		}
		return append(buf, c)
	}
	return appendTitle(buf, w)
}

// appendTitle appends w with its first character upper-cased and the rest
// lower-cased (invalid bytes come out as U+FFFD). Like JavaScript's
// charAt(0).toUpperCase(), a first character outside the Basic
// Multilingual Plane is left as it is.
func appendTitle(buf []byte, w string) []byte {
	for i, r := range w {
		switch {
		case i > 0:
			r = unicode.ToLower(r)
		case r <= 0xFFFF:
			r = unicode.ToUpper(r)
		}
		buf = utf8.AppendRune(buf, r)
	}
	return buf
}
