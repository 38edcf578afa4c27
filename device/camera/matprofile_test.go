//go:build matprofile

package camera

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// TestMain checks that every gocv.Mat the tests and the code under test made was closed
// (`go test -tags matprofile ./device/...`).
func TestMain(m *testing.M) {
	start := gocv.MatProfile.Count()
	code := m.Run()
	if n := gocv.MatProfile.Count(); n != start && code == 0 {
		var b strings.Builder
		gocv.MatProfile.WriteTo(&b, 1)
		fmt.Fprintf(os.Stderr, "FAIL: gocv.MatProfile.Count() = %d after the tests, %d before\n%s", n, start, b.String())
		code = 1
	}
	os.Exit(code)
}
