package update_test

import (
	"os"
	"os/exec"
	"testing"
)

// mountTiny mounts a 64 KiB tmpfs on dir (the machine is root: CI and the dev machine both).
func mountTiny(t *testing.T, dir string) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a 64 KiB tmpfs (the disk-full test needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
}
