// Package docs embeds oauth2.schema.json, the JSON Schema of the oauth2
// block: the one definition of the configuration's option names and of how
// each string, boolean or number option is read (type, enumeration, bounds,
// x-expected, x-unit, x-clamp), which go/internal/config reads from here.
package docs

import _ "embed" // for go:embed

// OAuth2Schema is the text of oauth2.schema.json.
//
//go:embed oauth2.schema.json
var OAuth2Schema string
