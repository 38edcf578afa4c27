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
