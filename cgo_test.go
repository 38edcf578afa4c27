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

// TestCgoStaysInDevice: the packages that import gocv (OpenCV through cgo) or have cgo files
// of their own are device/camera, device/vision, their subpackages, and cmd/mirror-agent
// (mirror-agent check probes the camera and the model files).
func TestCgoStaysInDevice(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{len .CgoFiles}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"device/camera", "device/vision", "cmd/mirror-agent"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], "github.com/fitmirror/fitmirror/")
		uses := f[1] != "0"
		for _, imp := range f[2:] {
			uses = uses || strings.HasPrefix(imp, "gocv.io/")
		}
		if !uses {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || pkg == a || strings.HasPrefix(pkg, a+"/")
		}
		if !ok {
			t.Errorf("%s uses cgo or gocv; keep OpenCV in device/camera and device/vision", pkg)
		}
	}
}
