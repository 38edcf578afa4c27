package fitmirror_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goListDeps returns the packages the given patterns link (go list -deps), tests included
// when withTests is set.
func goListDeps(t *testing.T, withTests bool, patterns ...string) []string {
	t.Helper()
	args := []string{"list", "-deps"}
	if withTests {
		args = append(args, "-test")
	}
	out, err := exec.Command("go", append(args, patterns...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, out)
	}
	return strings.Fields(string(out))
}

// TestDeviceImportsNoCloud keeps the mirror's hardware side (device/) free of the cloud side:
// what both need (the retry spacing) lives in internal/.
func TestDeviceImportsNoCloud(t *testing.T) {
	for _, dep := range goListDeps(t, true, "./device/...") {
		if strings.HasPrefix(dep, "github.com/fitmirror/fitmirror/cloud") {
			t.Errorf("device/ depends on %s", dep)
		}
	}
}

// TestMirrorctlLinksOnlyTheWire keeps mirrorctl a small fleet tool: it speaks the contract
// (internal/wire and the fleet client) and links no SQLite, session engine or display.
func TestMirrorctlLinksOnlyTheWire(t *testing.T) {
	for _, dep := range goListDeps(t, false, "./cmd/mirrorctl") {
		for _, banned := range []string{"modernc.org/sqlite", "github.com/mattn/go-sqlite3",
			"github.com/fitmirror/fitmirror/session", "github.com/fitmirror/fitmirror/display",
			"github.com/fitmirror/fitmirror/device", "gocv.io/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("mirrorctl links %s", dep)
			}
		}
	}
}

// TestWireIsALeaf keeps internal/wire importable by anything: the standard library only.
func TestWireIsALeaf(t *testing.T) {
	for _, dep := range goListDeps(t, false, "./internal/wire") {
		if strings.Contains(dep, ".") && dep != "github.com/fitmirror/fitmirror/internal/wire" {
			t.Errorf("internal/wire depends on %s", dep)
		}
	}
}

// TestHubLinksNoBackend keeps cloud/hub the service alone: it speaks to its store through
// hubstore's interface and links none of the parts cmd/mirror-cloud picks from the
// configuration (the SQLite and PostgreSQL backends, the S3 bucket, the embedded broker), nor
// the sim-mode simulator and the fake WeChat it serves. The store backends in turn link no
// hub: hubstore and its packages sit below it.
func TestHubLinksNoBackend(t *testing.T) {
	const mod = "github.com/fitmirror/fitmirror/"
	banned := []string{mod + "cloud/hub/hubstore/", mod + "cloud/hub/embedbroker", mod + "cloud/hub/hubsim",
		mod + "cloud/wechat/wechattest", "modernc.org/sqlite", "github.com/jackc/pgx", "github.com/minio/",
		"github.com/mochi-mqtt/"}
	deps := goListDeps(t, false, "./cloud/hub")
	if !slices.Contains(deps, mod+"cloud/hub/hubstore") {
		t.Errorf("cloud/hub does not link cloud/hub/hubstore: is the list of its dependencies right?\n%s", strings.Join(deps, "\n"))
	}
	for _, dep := range deps {
		for _, b := range banned {
			if strings.HasPrefix(dep, b) {
				t.Errorf("cloud/hub links %s", dep)
			}
		}
	}
	for _, dep := range goListDeps(t, false, "./cloud/hub/hubstore/...") {
		if dep == mod+"cloud/hub" || strings.HasPrefix(dep, mod+"cloud/hub/embedbroker") || strings.HasPrefix(dep, mod+"cloud/hub/hubsim") {
			t.Errorf("cloud/hub/hubstore/... links %s", dep)
		}
	}
}

// TestRepoStandsAlone: no file points to a folder outside the repository (the design notes
// the project started from now live in docs/), and every relative Markdown link resolves to a
// file inside it.
func TestRepoStandsAlone(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	root, _ := filepath.Abs(".")
	outside := []string{"../" + "shared", "shared/" + "design", "CONTRACTS" + ".md", "ARCHITECTURE" + ".md",
		"WECHAT" + ".md", "STYLE" + ".md", "contract-" + "extensions"}
	link := regexp.MustCompile(`\]\(([^)#\s]+)`)
	for _, name := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		b, err := os.ReadFile(name)
		if err != nil || bytes.IndexByte(b, 0) >= 0 { // deleted in the work tree, or binary
			continue
		}
		for _, o := range outside {
			if bytes.Contains(b, []byte(o)) {
				t.Errorf("%s refers to %q, outside the repository or gone: point to docs/ instead", name, o)
			}
		}
		if !strings.HasSuffix(name, ".md") {
			continue
		}
		for _, m := range link.FindAllSubmatch(b, -1) {
			target := string(m[1])
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(name), target)
			abs, _ := filepath.Abs(p)
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links to %s, outside the repository", name, target)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", name, target)
			}
		}
	}
}

// TestGoModTellsTheTruth: every module the project's packages (and their tests) import is a
// direct requirement in go.mod, and every direct requirement is imported. It checks what
// `go mod tidy -diff` would, without the network (tidy may fetch test-only modules of
// dependencies); it looks at every platform the project builds for.
func TestGoModTellsTheTruth(t *testing.T) {
	imported := map[string]bool{}
	for _, arch := range []string{"amd64", "arm64"} {
		list := exec.Command("go", "list", "-e", "-test", "-f",
			`{{range .Imports}}{{.}} {{end}}{{range .TestImports}}{{.}} {{end}}{{range .XTestImports}}{{.}} {{end}}`, "./...")
		list.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch)
		out, err := list.Output()
		if err != nil {
			t.Fatalf("go list imports (%s): %v", arch, err)
		}
		var pkgs []string
		for _, p := range strings.Fields(string(out)) {
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") && !strings.HasPrefix(p, "github.com/fitmirror/fitmirror") {
				pkgs = append(pkgs, p)
			}
		}
		slices.Sort(pkgs)
		pkgs = slices.Compact(pkgs)
		mods := exec.Command("go", append([]string{"list", "-e", "-f", "{{with .Module}}{{.Path}}{{end}}"}, pkgs...)...)
		mods.Env = list.Env
		out, err = mods.Output()
		if err != nil {
			t.Fatalf("go list modules (%s): %v", arch, err)
		}
		for _, m := range strings.Fields(string(out)) {
			imported[m] = true
		}
	}
	out, err := exec.Command("go", "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, r := range mod.Require {
		listed[r.Path] = true
		switch {
		case imported[r.Path] && r.Indirect:
			t.Errorf("go.mod marks %s indirect, but the project imports it", r.Path)
		case !imported[r.Path] && !r.Indirect:
			t.Errorf("go.mod lists %s as direct, but nothing imports it", r.Path)
		}
	}
	for m := range imported {
		if !listed[m] {
			t.Errorf("%s is imported but not in go.mod", m)
		}
	}
}

// maxFuncLines is how long a function may grow: a longer function is a sign a part wants its
// own name.
const maxFuncLines = 120

// longFuncsAllowed are functions allowed to be longer for now, keyed "path/file.go:Func" (or
// "Type.Method"), each with its reason. It is empty: an entry is a debt with a reason, and the
// test fails once its function is short again.
var longFuncsAllowed = map[string]string{}

// generated marks a file made by a tool (https://go.dev/s/generatedcode).
var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// goSources returns the module's .go files, tests included when withTests is set; testdata and
// hidden directories are skipped.
func goSources(t *testing.T, withTests bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && (withTests || !strings.HasSuffix(path, "_test.go")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// longFuncs returns "file:line: name is N lines" for every function (declared or literal) in
// the given files longer than maxFuncLines, keyed by "file:name" for the allow-list.
func longFuncs(t *testing.T, files []string) map[string]string {
	t.Helper()
	long := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if generated.Match(src) {
			continue
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			var what string
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body, what = fn.Body, fn.Name.Name
				if fn.Recv != nil && len(fn.Recv.List) == 1 {
					what = recvName(fn.Recv.List[0].Type) + "." + what
				}
			case *ast.FuncLit:
				body, what = fn.Body, "func literal"
			}
			if body != nil {
				start, end := fset.Position(n.Pos()), fset.Position(body.End())
				if lines := end.Line - start.Line + 1; lines > maxFuncLines {
					long[filepath.ToSlash(name)+":"+what] = fmt.Sprintf("%s:%d: %s is %d lines", name, start.Line, what, lines)
				}
			}
			return true
		})
	}
	return long
}

// recvName is the type name of a method's receiver: T for T, *T, T[P] and *T[P].
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}

// TestFunctionsAreShort keeps every function of the module (tests excepted) within
// maxFuncLines lines, and the allow-list honest: an entry whose function got short, or went
// away, must be removed.
func TestFunctionsAreShort(t *testing.T) {
	long := longFuncs(t, goSources(t, false))
	for _, key := range sortedKeys(long) {
		if _, ok := longFuncsAllowed[key]; !ok {
			t.Errorf("%s, more than %d: split it into named steps", long[key], maxFuncLines)
		}
	}
	for _, key := range sortedKeys(longFuncsAllowed) {
		if _, ok := long[key]; !ok {
			t.Errorf("longFuncsAllowed lists %s, which is not longer than %d lines (any more): remove the entry", key, maxFuncLines)
		}
	}
}

// TestArchitectureDocNamesThePackages: docs/architecture.md exists and names every top-level
// package directory, and every part of the hub, so a new room in the house gets a line there.
func TestArchitectureDocNamesThePackages(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, top := range []string{"cmd", "device", "session", "display", "cloud", "internal", "cloud/hub", "cloud/hub/hubstore"} {
		dirs, _ := os.ReadDir(top)
		for _, d := range dirs {
			if d.IsDir() && d.Name() != "testdata" && !bytes.Contains(doc, []byte(d.Name())) {
				t.Errorf("docs/architecture.md does not mention %s/%s", top, d.Name())
			}
		}
	}
}

// TestServersUseHTTPGuard keeps every HTTP server on the project's timeouts: servers are made
// with httpguard.NewServer, never a bare http.Server literal (one without ReadTimeout and
// IdleTimeout keeps idle connections open forever).
func TestServersUseHTTPGuard(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			path == filepath.Join("internal", "httpguard", "httpguard.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "http.Server{") && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d: an http.Server literal; use httpguard.NewServer (timeouts)", path, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFuzzTargetsHaveSeedCorpora: every fuzz target has its seed corpus in the package's
// testdata/fuzz/<Target> (which `make test` runs as normal tests), and every corpus there
// belongs to a target, so that none is orphaned by a rename.
func TestFuzzTargetsHaveSeedCorpora(t *testing.T) {
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	targets := map[string]bool{} // dir/testdata/fuzz/Name
	for _, path := range goSources(t, true) {
		if !strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			corpus := filepath.Join(filepath.Dir(path), "testdata", "fuzz", string(m[1]))
			targets[corpus] = true
			if entries, err := os.ReadDir(corpus); err != nil || len(entries) == 0 {
				t.Errorf("%s: %s has no seed corpus in %s (run it with scripts/fuzz.sh and keep some of the inputs)", path, m[1], corpus)
			}
		}
	}
	if len(targets) < 8 {
		t.Errorf("found %d fuzz targets, want the parsers of outside bytes covered (at least 8)", len(targets))
	}
	corpora, _ := filepath.Glob("*/*/testdata/fuzz/Fuzz*")
	more, _ := filepath.Glob("*/*/*/testdata/fuzz/Fuzz*")
	for _, c := range append(corpora, more...) {
		if !targets[c] {
			t.Errorf("%s: no fuzz target of that name in its package", c)
		}
	}
}
