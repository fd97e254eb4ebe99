package rpc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnlyTheProtocolUsesStdio: stdin carries the protocol and stdout its
// answers, so no package under go/internal may read os.Stdin, write
// os.Stdout, or print with fmt.Print*/print/println (which write stdout).
// Only main wires the process's stdin/stdout to rpc.Server.Serve. Child
// processes (the browser opener) get no stdin: browser.Opener sets
// cmd.Stdin = nil and sends the opener's output to stderr (TestOpen).
func TestOnlyTheProtocolUsesStdio(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	banned := map[string]bool{
		"os.Stdin": true, "os.Stdout": true,
		"fmt.Print": true, "fmt.Printf": true, "fmt.Println": true,
	}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && banned[id.Name+"."+x.Sel.Name] {
					assert.Failf(t, "stdio used outside the protocol", "%s: %s.%s", fset.Position(x.Pos()), id.Name, x.Sel.Name)
				}
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok && (id.Name == "print" || id.Name == "println") {
					assert.Failf(t, "stdout used outside the protocol", "%s: %s", fset.Position(x.Pos()), id.Name)
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, checked, 50, "the walk found the packages under go/internal")
}
