// Package docs embeds oauth2.schema.json, the JSON Schema of the oauth2
// block: the one definition of the configuration's option names and
// enumerations, which go/internal/config reads from here.
package docs

import _ "embed" // for go:embed

// OAuth2Schema is the text of oauth2.schema.json.
//
//go:embed oauth2.schema.json
var OAuth2Schema string
