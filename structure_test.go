package fitmirror_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
