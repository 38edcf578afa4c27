//go:build !linux

package main

import "os"

// terminal reports whether f is a character device (a terminal, or /dev/null: top then redraws
// into it until interrupted).
func terminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
