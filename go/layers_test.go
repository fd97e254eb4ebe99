// Package layers_test checks the Go packages against the layering that
// docs/architecture.md draws: the doc's `layers` block is the rule, so the
// doc and the imports cannot drift apart.
package layers_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/vymalo/opencode-oauth2/go/"

// documentedLayers reads the fenced block of docs/architecture.md whose info
// string is "layers": a line a layer, the top first, packages (relative to
// go/) separated by spaces. It returns each package's line number.
func documentedLayers(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "architecture.md"))
	require.NoError(t, err)
	defer f.Close()
	layer := map[string]int{}
	in, line := false, 0
	for s := bufio.NewScanner(f); s.Scan(); {
		text := strings.TrimSpace(s.Text())
		switch {
		case text == "```layers":
			in = true
		case in && text == "```":
			require.NotEmpty(t, layer, "the layers block is empty")
			return layer
		case in:
			line++
			for _, pkg := range strings.Fields(text) {
				require.NotContains(t, layer, pkg, "%s is in the layers block twice", pkg)
				layer[pkg] = line
			}
		}
	}
	t.Fatal("docs/architecture.md has no ```layers block")
	return nil
}

// productImports are the module's packages each product package imports
// (test files, the test-support tree and the test gateway's command left
// out; every build tag read).
func productImports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testsupport" || d.Name() == "testdata" || path == "tools/test-gateway") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, spec := range file.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if rel, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out[pkg], rel) {
				out[pkg] = append(out[pkg], rel)
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestImportsFollowTheDocumentedLayers: every product package is in the
// documented layering, and imports only packages of the layers below its own.
func TestImportsFollowTheDocumentedLayers(t *testing.T) {
	layer := documentedLayers(t)
	imports := productImports(t)
	for pkg := range layer {
		require.Contains(t, imports, pkg, "docs/architecture.md lists %s, which is not a package (any more)", pkg)
	}
	for pkg, deps := range imports {
		at, ok := layer[pkg]
		if !assertf(t, ok, "%s is not in docs/architecture.md's layers block: place it there", pkg) {
			continue
		}
		for _, dep := range deps {
			assertf(t, layer[dep] > at, "%s (layer %d) imports %s (layer %d): a package imports only the layers below its own (docs/architecture.md)", pkg, at, dep, layer[dep])
		}
	}
}

func assertf(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}
