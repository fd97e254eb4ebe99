package config

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
)

// cacheKeyVersion changes whenever the inputs of CacheKey change, so that
// old cache entries are never mistaken for new ones.
const cacheKeyVersion = "opencode-oauth2/cache-key/v1"

// CacheKey identifies the tokens this provider may reuse: 32 hex digits of
// a SHA-256 over everything that makes a token valid for it — issuer,
// client id, flow, scopes (sorted, deduplicated), the audience parameter,
// resources (sorted), subject/requested token types, the subject-token
// source (type and audience/path/variable), the token endpoint override,
// and, when set, acrValues, authorizationParams and tokenParams (they may
// select another identity, assurance or audience; a provider without them
// keeps the key it had before they existed).
// Editing any of these yields a new key, so a token is never reused for a
// configuration it was not issued for.
//
// Deliberately left out:
//   - the provider id and display name: two providers with the same OAuth
//     identity may share tokens; the tokens package adds the id if it
//     wants a file per provider;
//   - the client secret and the client assertion options (key file, key
//     id, algorithm, source): they authenticate the client but do not scope
//     the token, so rotating them must not force a new login; and a digest
//     of a (possibly low-entropy) secret in a file name could be
//     brute-forced offline by anyone who can list the cache directory;
//   - prompt and loginHint: they guide a login, not what it grants;
//   - endpoints other than the token endpoint, PKCE, ports, timeouts:
//     they change how a token is obtained, not what it grants.
func (p Provider) CacheKey() string {
	scopes := slices.Compact(slices.Sorted(slices.Values(p.Scopes)))
	resources := slices.Compact(slices.Sorted(slices.Values(p.Resources)))
	h := sha256.New()
	// Each value is written with its length in front, so no two distinct
	// inputs produce the same byte stream.
	write := func(vals ...string) {
		for _, v := range vals {
			_, _ = h.Write([]byte(strconv.Itoa(len(v)) + ":" + v + ";"))
		}
	}
	write(cacheKeyVersion, p.Issuer, p.ClientID, string(p.Flow), p.Audience,
		p.SubjectTokenType, p.RequestedTokenType, p.Endpoints.Token)
	write(strconv.Itoa(len(scopes)))
	write(scopes...)
	write(strconv.Itoa(len(resources)))
	write(resources...)
	if s := p.SubjectToken; s != nil {
		write("source", s.Type, s.Audience, s.Path, s.Var)
	} else {
		write("no-source")
	}
	if p.ACRValues != "" || len(p.AuthorizationParams) > 0 || len(p.TokenParams) > 0 {
		write("params", p.ACRValues)
		for _, m := range []map[string]string{p.AuthorizationParams, p.TokenParams} {
			keys := slices.Sorted(maps.Keys(m))
			write(strconv.Itoa(len(keys)))
			for _, k := range keys {
				write(k, m[k])
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
