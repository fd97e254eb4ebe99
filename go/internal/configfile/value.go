package configfile

import "github.com/vymalo/opencode-oauth2/go/internal/jsontree"

// merge returns dst deep-merged with src the way OpenCode merges its config
// layers (remeda's mergeDeep): when both are objects, keys are merged
// recursively, src winning; otherwise src replaces dst (arrays included).
// Neither argument is modified.
func merge(dst, src any) any {
	d, ok1 := dst.(*jsontree.Object)
	s, ok2 := src.(*jsontree.Object)
	if !ok1 || !ok2 {
		return src
	}
	out := d.Clone()
	for _, k := range s.Keys() {
		v, _ := s.Get(k)
		if prev, ok := out.Get(k); ok {
			v = merge(prev, v)
		}
		out.Set(k, v)
	}
	return out
}

// mergeLayer merges one config layer over the result so far, with
// OpenCode's exceptions at the top level: `instructions` and `plugin`
// lists are concatenated without duplicates instead of replaced.
func mergeLayer(dst, src *jsontree.Object) *jsontree.Object {
	out := merge(dst, src).(*jsontree.Object)
	for _, k := range []string{"instructions", "plugin"} {
		va, _ := dst.Get(k)
		vb, _ := src.Get(k)
		a, ok1 := va.([]any)
		b, ok2 := vb.([]any)
		if ok1 && ok2 {
			out.Set(k, concatUnique(a, b))
		}
	}
	return out
}

func concatUnique(a, b []any) []any {
	seen := map[string]bool{}
	out := make([]any, 0, len(a)+len(b))
	for _, v := range append(append([]any(nil), a...), b...) {
		js, err := jsontree.Marshal(v)
		if err != nil {
			continue
		}
		if key := string(js); !seen[key] {
			seen[key] = true
			out = append(out, v)
		}
	}
	return out
}
