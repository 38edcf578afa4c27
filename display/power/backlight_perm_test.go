package power

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fitmirror/fitmirror/internal/testexec"
)

// helperEnv makes this test binary, started again by TestBacklightNotWritable, run
// backlightHelper instead of the tests: its value is the fake /sys tree.
const helperEnv = "FITMIRROR_POWER_BACKLIGHT_HELPER"

// TestBacklightNotWritable: the agent's unit mounts /sys read-only and runs as the mirror
// user, to whom bl_power (root's, 0644) is not writable unless the installer adds the udev
// rule and the ReadWritePaths= drop-in (docs/hardware.md). auto must then pass the backlight
// over, saying why, rather than choose a control that cannot switch the panel. The test binary
// is started again as the agent would be: in a mount namespace of its own where the /sys tree
// is read-only (as root), and as an unprivileged user (tests run as root, and root may write
// any file of a writable file system); and, as a control, as root on a writable tree.
func TestBacklightNotWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test starts its helper in a mount namespace and as another user: run it as root (CI does)")
	}
	// A tree the unprivileged user can reach: a world-readable directory, not t.TempDir's 0700.
	top, err := os.MkdirTemp("", "backlight-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	sys, _ := backlightTreeIn(t, top)
	bin := filepath.Join(top, "power.test")
	copyFile(t, os.Args[0], bin)
	for _, tc := range []struct {
		name      string
		attr      *syscall.SysProcAttr
		readOnly  bool
		want      string
		wantWhy   string
		wantOther string
	}{
		{"root, writable", nil, false, "chosen=backlight", "", ""},
		{"read-only /sys", &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, true, "chosen=none", "is not writable", "read-only file system"},
		{"unprivileged user", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}, false, "chosen=none", "is not writable", "permission denied"},
	} {
		if tc.attr != nil && tc.attr.Credential != nil && testexec.Emulated() {
			// Under make test-arm64 the helper would run through qemu with the arm64 sysroot,
			// which lives in root's 0700 home: user nobody cannot load it. make test runs this case.
			t.Logf("%s: not run under the emulator (the arm64 sysroot is not readable by nobody)", tc.name)
			continue
		}
		cmd := testexec.Command(bin, "-test.run=^TestBacklightHelper$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+sys, fmt.Sprintf("FITMIRROR_POWER_READONLY=%v", tc.readOnly))
		cmd.SysProcAttr = tc.attr
		out, err := cmd.CombinedOutput()
		got := string(out)
		if err != nil || !strings.Contains(got, tc.want) || !strings.Contains(got, tc.wantWhy) || !strings.Contains(got, tc.wantOther) {
			t.Errorf("%s: helper = %v:\n%s\nwant %q, the backlight skipped with %q (%q)", tc.name, err, got, tc.want, tc.wantWhy, tc.wantOther)
		}
	}
}

// TestBacklightHelper is TestBacklightNotWritable's helper process: with helperEnv set, it
// makes the tree read-only if asked (in its own mount namespace) and prints what auto chose
// on that tree and why it passed the backlight over. Run as a test, it does nothing.
func TestBacklightHelper(t *testing.T) {
	sys := os.Getenv(helperEnv)
	if sys == "" {
		return
	}
	if os.Getenv("FITMIRROR_POWER_READONLY") == "true" {
		if err := syscall.Mount("", "/", "", syscall.MS_PRIVATE|syscall.MS_REC, ""); err != nil {
			t.Fatalf("mount --make-rprivate /: %v", err)
		}
		if err := syscall.Mount(sys, sys, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			t.Fatalf("bind %s: %v", sys, err)
		}
		if err := syscall.Mount("", sys, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount %s read-only: %v", sys, err)
		}
	}
	t.Setenv("PATH", t.TempDir()) // no cec-client, wlopm, xset or ddcutil: only the backlight can answer
	var why error
	p, err := DetectWith(t.Context(), "auto", DetectOptions{Session: &Session{}, Sys: sys,
		Skipped: func(m string, err error) {
			if m == "backlight" {
				why = err
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("chosen=%s\nbacklight skipped: %v\n", Name(p), why)
}

// copyFile copies the file src to dst, executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
