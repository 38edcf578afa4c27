//go:build matprofile

package vision

import (
	"fmt"
	"strings"

	"gocv.io/x/gocv"
)

// matCount is the number of gocv.Mats alive (go test -tags matprofile).
func matCount() int { return gocv.MatProfile.Count() }

// matLeaks describes the Mats alive beyond start, with the stacks that made them.
func matLeaks(start int) error {
	if n := gocv.MatProfile.Count(); n != start {
		var b strings.Builder
		gocv.MatProfile.WriteTo(&b, 1)
		return fmt.Errorf("gocv.MatProfile.Count() = %d after the tests, %d before: %d Mat(s) leaked\n%s", n, start, n-start, b.String())
	}
	return nil
}
