package configfile

import (
	"regexp"
	"strconv"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// placeholderRef finds {env:NAME} and {file:PATH} in a config text.
var placeholderRef = regexp.MustCompile(`\{(?:env|file):[^}]+\}`)

// placeholders maps the config path of each string value that held a
// {env:...} or {file:...} before substitution to those placeholders, e.g.
// "provider.acme.options.baseURL" → ["{env:GATEWAY_URL}"]. Paths are
// written as the config package writes problem fields (config.JoinPath,
// an array index as [i]).
func placeholders(raw any) map[string][]string {
	out := map[string][]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case *jsontree.Object:
			for _, k := range t.Keys() {
				v, _ := t.Get(k)
				walk(config.JoinPath(path, k), v)
			}
		case []any:
			for i, e := range t {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		case string:
			if refs := placeholderRef.FindAllString(t, -1); len(refs) > 0 {
				out[path] = refs
			}
		}
	}
	walk("", raw)
	return out
}
