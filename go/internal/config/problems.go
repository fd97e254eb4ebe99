package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Message renders the problem as one readable line, e.g.
//
//	provider "acme": provider.acme.options.oauth2.redirectPort must be an integer in [1, 65535], found "abc"
//
// A problem with an empty Found is about a missing value, and one about an
// unknown key says so:
//
//	provider "acme": provider.acme.options.oauth2.issuer is missing: expected an absolute https URL
//	provider "acme": provider.acme.options.oauth2.clientID is not a known option; ignored; did you mean "clientId"?
func (p Problem) Message() string {
	msg := ""
	if p.ProviderID != "" {
		msg = "provider " + strconv.Quote(p.ProviderID) + ": "
	}
	msg += cmp.Or(p.Field, "config")
	switch {
	case p.Expected == expectedKnownOption:
		msg += " is not a known option"
	case p.Found == "" && p.Expected == "":
		msg += " is invalid"
	case p.Found == "":
		msg += " is missing: expected " + p.Expected
	case p.Expected == "":
		msg += " is invalid, found " + p.Found
	default:
		msg += " must be " + p.Expected + ", found " + p.Found
	}
	if p.Hint != "" {
		msg += "; " + p.Hint
	}
	return msg
}

// Error implements error with Message, so a Problem can be returned or
// wrapped where an error is expected.
func (p Problem) Error() string { return p.Message() }

// expectedKnownOption is the Expected of a problem about an unknown key;
// Message words it as "<field> is not a known option".
const expectedKnownOption = "a known option name"

// sink collects problems in the order they are found.
type sink struct {
	list []Problem
}

func (s *sink) add(p Problem) { s.list = append(s.list, p) }

// hasError reports whether any problem from index from on is an error.
func (s *sink) hasError(from int) bool {
	return slices.ContainsFunc(s.list[from:], func(p Problem) bool { return p.Severity == SeverityError })
}

// joinPath appends an object key to a field path: `a.b` for plain keys,
// `a["odd key"]` for keys that would be ambiguous after a dot.
func JoinPath(base, key string) string {
	if key != "" && len(key) <= maxRender && strings.Trim(key, alphanumeric+"_-") == "" {
		if base == "" {
			return key
		}
		return base + "." + key
	}
	return base + "[" + quote(key) + "]"
}

// indexPath appends an array index to a field path.
func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// alphanumeric are the ASCII letters and digits.
const alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Suggest returns the known name closest to key when it is close enough to
// be a likely typo (same letters ignoring case, '_' and '-', or an edit
// distance of at most 2), else "": the "did you mean" of config keys, also
// used by the command line for commands, flags and provider ids.
func Suggest(key string, known []string) string {
	if len(key) > 64 {
		return ""
	}
	nk := normalizeKey(key)
	best, bestDist := "", 3
	for _, name := range known {
		nn := normalizeKey(name)
		if nk == nn {
			return name
		}
		limit := 2
		if len(nn) <= 4 {
			limit = 1
		}
		if d := editDistance(nk, nn); d <= limit && d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b,
// in bytes: insertions, deletions, substitutions and transpositions of two
// adjacent bytes ("pcke" → "pkce") each cost 1.
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		for j := range rows[i] {
			if i == 0 || j == 0 {
				rows[i][j] = i + j // from or to the empty string
				continue
			}
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(a)][len(b)]
}

// quotedList renders names as `"a" | "b" | "c"`.
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " | ")
}
