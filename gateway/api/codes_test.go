package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/baybus/baybus/gateway/api"
)

// TestCodesTable: every Code constant is in Codes() once, and Codes() has
// nothing else.
func TestCodesTable(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, "Code") && i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, _ := strconv.Unquote(lit.Value)
					consts[v] = true
				}
			}
		}
		return true
	})
	seen := map[string]bool{}
	for _, c := range api.Codes() {
		if seen[c.Code] {
			t.Errorf("code %s listed twice", c.Code)
		}
		seen[c.Code] = true
		if !consts[c.Code] {
			t.Errorf("code %s in Codes() has no constant", c.Code)
		}
		if c.Status < 200 || c.Status > 599 || c.When == "" {
			t.Errorf("code %s: status %d, when %q", c.Code, c.Status, c.When)
		}
	}
	for c := range consts {
		if !seen[c] {
			t.Errorf("constant %q is missing from Codes()", c)
		}
	}
}

// TestREADMEErrorTable: the README's error table lists every code in use,
// with its status, and no other.
func TestREADMEErrorTable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(raw), "<!-- error codes -->")
	if !ok {
		t.Fatal("README.md has no <!-- error codes --> marker before its error table")
	}
	row := regexp.MustCompile("^\\| (\\d{3}) \\| ((?:`[a-z_]+`(?:, )?)+) \\|")
	code := regexp.MustCompile("`([a-z_]+)`")
	readme := map[string]int{}
	lines := strings.Split(strings.TrimLeft(table, "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "|---") {
		t.Fatal("README.md: no table after the <!-- error codes --> marker")
	}
	for _, line := range lines[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("README error table row not understood: %s", line)
			continue
		}
		status, _ := strconv.Atoi(m[1])
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			readme[c[1]] = status
		}
	}
	for _, c := range api.Codes() {
		got, ok := readme[c.Code]
		switch {
		case !ok:
			t.Errorf("README's error table lacks %s (%d: %s)", c.Code, c.Status, c.When)
		case got != c.Status:
			t.Errorf("README gives %s status %d, the gateway answers %d", c.Code, got, c.Status)
		}
		delete(readme, c.Code)
	}
	for c := range readme {
		t.Errorf("README's error table lists %s, which the gateway does not use", c)
	}
}
