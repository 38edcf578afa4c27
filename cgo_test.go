package fitmirror_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPureGoPackages keeps cgo (gocv and OpenCV) quarantined in device/camera and device/vision:
// session, display and cloud must build with CGO_ENABLED=0 and must not depend on gocv.
func TestPureGoPackages(t *testing.T) {
	pure := []string{"./session/...", "./display/...", "./cloud/..."}
	build := exec.Command("go", append([]string{"build"}, pure...)...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build %v: %v\n%s", pure, err, out)
	}
	list := exec.Command("go", append([]string{"list", "-deps", "-test"}, pure...)...)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "gocv.io/") || strings.HasPrefix(dep, "github.com/fitmirror/fitmirror/device") {
			t.Errorf("a pure-Go package depends on %s", dep)
		}
	}
}
