package fitmirror_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fitmirror/fitmirror"

// importGraph is the module's package graph as go list sees it: for every package of the
// module except the root, the module's packages its non-test code imports directly (paths
// relative to the module), on every platform the project builds for.
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	graph := map[string][]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		list := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
		list.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch)
		out, err := list.Output()
		if err != nil {
			t.Fatalf("go list (%s): %v", arch, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fields := strings.Fields(line)
			pkg, ok := strings.CutPrefix(fields[0], module+"/")
			if !ok {
				continue // the root package: docs and repository tests only
			}
			graph[pkg] = append(graph[pkg], []string{}...)
			for _, imp := range fields[1:] {
				if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
					graph[pkg] = append(graph[pkg], dep)
				}
			}
		}
	}
	for pkg, deps := range graph {
		slices.Sort(deps)
		graph[pkg] = slices.Compact(deps)
	}
	return graph
}

// fencedBlock returns the lines of the first ``` block with the given info string in a
// Markdown file, and the file line the block starts on.
func fencedBlock(t *testing.T, file, info string) ([]string, int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in, start, n := false, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```"+info:
			in, start = true, n+1
		case in && strings.TrimSpace(line) == "```":
			return lines, start
		case in:
			lines = append(lines, line)
		}
	}
	t.Fatalf("%s has no ```%s block", file, info)
	return nil, 0
}

var braces = regexp.MustCompile(`([\w/.-]*)\{([^}]*)\}`)

// parseGraph reads the `imports` block of docs/architecture.md: lines "pkg → dep, dep, …"
// (or a lone "pkg"), "a/{b, c}" for "a/b, a/c", an indented line continuing the one above.
func parseGraph(lines []string, first int) (map[string][]string, []string) {
	graph := map[string][]string{}
	var problems []string
	var current string
	for i, line := range lines {
		at := fmt.Sprintf("docs/architecture.md:%d", first+i)
		if strings.TrimSpace(line) == "" {
			current = ""
			continue
		}
		rhs := line
		if line[0] == ' ' || line[0] == '\t' {
			if current == "" {
				problems = append(problems, at+": an indented line continues no package")
				continue
			}
		} else {
			pkg, deps, _ := strings.Cut(line, "→")
			current = strings.TrimSpace(pkg)
			if _, dup := graph[current]; dup {
				problems = append(problems, fmt.Sprintf("%s: %s has a second line", at, current))
			}
			graph[current] = append(graph[current], []string{}...)
			rhs = deps
		}
		rhs = braces.ReplaceAllStringFunc(rhs, func(m string) string {
			sub := braces.FindStringSubmatch(m)
			var out []string
			for _, s := range strings.Split(sub[2], ",") {
				out = append(out, sub[1]+strings.TrimSpace(s))
			}
			return strings.Join(out, ",")
		})
		for _, dep := range strings.Split(rhs, ",") {
			if dep = strings.TrimSpace(dep); dep != "" {
				graph[current] = append(graph[current], dep)
			}
		}
	}
	return graph, problems
}

// TestArchitectureGraph: the `imports` block of docs/architecture.md is the package graph
// go list reports, arrow for arrow. Every package has its line, every drawn arrow exists and
// every import between the module's packages is drawn. On failure it says which line or arrow
// to change; the block it wants is printed in full to paste.
func TestArchitectureGraph(t *testing.T) {
	actual := importGraph(t)
	lines, first := fencedBlock(t, "docs/architecture.md", "imports")
	drawn, problems := parseGraph(lines, first)
	for _, p := range problems {
		t.Error(p)
	}
	for _, pkg := range sortedKeys(drawn) {
		deps := drawn[pkg]
		real, ok := actual[pkg]
		if !ok {
			t.Errorf("docs/architecture.md draws %s, which is not a package of the module: remove its line", pkg)
			continue
		}
		for _, dep := range deps {
			if !slices.Contains(real, dep) {
				t.Errorf("docs/architecture.md: remove the arrow %s → %s (%s does not import it)", pkg, dep, pkg)
			}
		}
		for _, dep := range real {
			if !slices.Contains(deps, dep) {
				t.Errorf("docs/architecture.md: add the arrow %s → %s (%s imports it)", pkg, dep, pkg)
			}
		}
	}
	for _, pkg := range sortedKeys(actual) {
		deps := actual[pkg]
		if _, ok := drawn[pkg]; !ok {
			t.Errorf("docs/architecture.md has no line for %s: add %q", pkg, graphLine(pkg, deps))
		}
	}
	if t.Failed() {
		var want []string
		for _, pkg := range sortedKeys(actual) {
			want = append(want, graphLine(pkg, actual[pkg]))
		}
		t.Logf("the graph as go list reports it (one line a package):\n%s", strings.Join(want, "\n"))
	}
}

func graphLine(pkg string, deps []string) string {
	if len(deps) == 0 {
		return pkg
	}
	return pkg + " → " + strings.Join(deps, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// goNames indexes the module's Go code for TestArchitectureNamesExist: the declared names
// (package-level and methods), the members (methods, struct fields) of each
// type, and the string literals of non-test code. Of test files only the Test… functions
// count (the doc may name the test that checks a rule).
type goNames struct {
	declared map[string]bool
	members  map[string]map[string]bool // type or package name → its members
	literals map[string]bool
}

func indexGoNames(t *testing.T) goNames {
	t.Helper()
	n := goNames{declared: map[string]bool{}, members: map[string]map[string]bool{}, literals: map[string]bool{}}
	test := false
	member := func(owner, name string) {
		if test && !strings.HasPrefix(name, "Test") {
			return
		}
		if n.members[owner] == nil {
			n.members[owner] = map[string]bool{}
		}
		n.members[owner][name] = true
		n.declared[name] = true
	}
	fset := token.NewFileSet()
	for _, name := range goSources(t, true) {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		pkg := f.Name.Name
		test = strings.HasSuffix(name, "_test.go")
		ast.Inspect(f, func(node ast.Node) bool {
			switch x := node.(type) {
			case *ast.FuncDecl:
				if x.Recv != nil && len(x.Recv.List) == 1 {
					member(recvName(x.Recv.List[0].Type), x.Name.Name)
				} else {
					member(pkg, x.Name.Name)
				}
			case *ast.TypeSpec:
				member(pkg, x.Name.Name)
				if st, ok := x.Type.(*ast.StructType); ok {
					for _, fld := range st.Fields.List {
						for _, id := range fld.Names {
							member(x.Name.Name, id.Name)
						}
					}
				}
			case *ast.ValueSpec:
				for _, id := range x.Names {
					member(pkg, id.Name)
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING && !test {
					v, _ := strconv.Unquote(x.Value)
					n.literals[v] = true
				}
			}
			return true
		})
	}
	return n
}

var fences = regexp.MustCompile("(?ms)^```.*?^```")

var goName = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$`)

// TestArchitectureNamesExist: every name docs/architecture.md puts in backticks is still
// there: a Go identifier (X.Y: a member of package or type X), a package or directory of the
// module, or a string the code uses (a topic, a route, a mode). Prose naming a part that was
// renamed or removed fails here.
func TestArchitectureNamesExist(t *testing.T) {
	doc := readDoc(t, "docs/architecture.md")
	graph := importGraph(t)
	names := indexGoNames(t)
	isPackage := func(p string) bool {
		p = strings.TrimSuffix(p, "/")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return true
		}
		for pkg := range graph {
			if pkg == p || strings.HasSuffix(pkg, "/"+p) {
				return true
			}
		}
		return false
	}
	// The agent's configuration keys, as docs/config.md lists them (generated from the code and
	// kept current by cmd/mirror-agent's TestConfigDocIsCurrent).
	configKeys := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\|").FindAllStringSubmatch(readDoc(t, "docs/config.md"), -1) {
		configKeys[m[1]] = true
	}
	for _, tok := range ticks(fences.ReplaceAllString(doc, "")) {
		tok, _, _ = strings.Cut(tok, "(")
		if tok == "" || strings.ContainsAny(tok, " {…") || strings.HasPrefix(tok, "-") {
			continue // an example or a command line
		}
		ok := isPackage(tok) || configKeys[tok] || names.literals[tok] || names.literals[strings.TrimPrefix(tok, "/")]
		if !ok && goName.MatchString(tok) {
			owner, member, dotted := strings.Cut(tok, ".")
			if dotted {
				ok = names.members[owner][member]
			} else {
				ok = names.declared[tok]
			}
		}
		if !ok {
			t.Errorf("docs/architecture.md names `%s`, which is no Go name, package or string of the code (renamed or gone?)", tok)
		}
	}
}

// TestEngineScreensCarryNoText: the session engine says what happened with a message code and
// leaves the words to the renderers (docs/architecture.md, "Frame → screen"): no code in
// session/ sets a Screen's Message.
func TestEngineScreensCarryNoText(t *testing.T) {
	fset := token.NewFileSet()
	for _, name := range goSources(t, false) {
		if filepath.Dir(name) != "session" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.KeyValueExpr:
				if isIdent(x.Key, "Message") {
					t.Errorf("%s: the engine sets a Message; send a message code (display.Msg…) instead", fset.Position(x.Pos()))
				}
			case *ast.SelectorExpr:
				if x.Sel.Name == "Message" {
					t.Errorf("%s: the engine touches a Message; send a message code (display.Msg…) instead", fset.Position(x.Pos()))
				}
			}
			return true
		})
	}
}

// TestEventsGoThroughTheRecorder: the agent records events in one place (docs/architecture.md,
// "Inside the agent"): outside session/recorder, no code appends to the store's outbox itself,
// except the janitor's fallback for callers without a recorder and the fleet's test mirror.
func TestEventsGoThroughTheRecorder(t *testing.T) {
	allowed := []string{"session/recorder/", "session/store/", "cloud/fleet/internal/fleetagent/"}
	fset := token.NewFileSet()
	for _, name := range goSources(t, false) {
		slash := filepath.ToSlash(name)
		if slices.ContainsFunc(allowed, func(a string) bool { return strings.HasPrefix(slash, a) }) {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Append" && len(call.Args) == 2 && isDB(sel.X) {
				t.Errorf("%s: an event appended to the store directly; record it through the session/recorder Recorder", fset.Position(call.Pos()))
			}
			return true
		})
	}
}

// isDB reports whether e names a database: db, st.db, o.DB.
func isDB(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return strings.EqualFold(x.Name, "db")
	case *ast.SelectorExpr:
		return strings.EqualFold(x.Sel.Name, "db")
	}
	return false
}
