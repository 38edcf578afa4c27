package fitmirror_test

import (
	"os/exec"
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
