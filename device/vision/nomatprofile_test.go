//go:build !matprofile

package vision

// Without -tags matprofile gocv does not count Mats; see matprofile_test.go.
func matCount() int            { return 0 }
func matLeaks(start int) error { return nil }
