package main

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// checkOut runs check in-process on the defaults plus sets, on free ports and a temporary
// state directory, on a machine with or without a camera.
func checkOut(t *testing.T, camera bool, sets ...string) (string, error) {
	t.Helper()
	old := hasCamera
	hasCamera = func() bool { return camera }
	t.Cleanup(func() { hasCamera = old })
	c := defaultConfig()
	base := []string{"state_dir=" + t.TempDir(), "display.listen=127.0.0.1:0", "cloud.local.listen=127.0.0.1:0"}
	if err := config.Load(&c, "", append(base, sets...)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err := check(t.Context(), &c, &b, io.Discard)
	return b.String(), err
}

func checkLine(out, part string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == part {
			return l
		}
	}
	return ""
}

// TestCheckDemoClipOnBench: with no camera configured and none plugged in, run demos on the
// built-in clip, so check says so and passes (issue #24); a named clip that is missing is
// still a failure.
func TestCheckDemoClipOnBench(t *testing.T) {
	out, err := checkOut(t, false)
	if err != nil {
		t.Errorf("check on a bench = %v, want exit 0:\n%s", err, out)
	}
	if l := checkLine(out, "camera"); !strings.HasPrefix(l, "ok ") || !strings.Contains(l, "demo clip (no camera configured)") {
		t.Errorf("camera line = %q, want ok … demo clip (no camera configured)", l)
	}
	missing := filepath.Join(t.TempDir(), "mine.avi")
	out, err = checkOut(t, false, "camera.demo_clip="+missing)
	if l := checkLine(out, "camera"); err == nil || !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, missing) {
		t.Errorf("check with a missing camera.demo_clip = %v, camera line %q; want FAIL naming %s", err, l, missing)
	}
}

// TestCheckListenHint: only a port in use suggests another mirror-agent.
func TestCheckListenHint(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out, _ := checkOut(t, false, "display.listen="+busy.Addr().String())
	if l := checkLine(out, "display"); !strings.HasPrefix(l, "FAIL ") || !strings.Contains(l, "another mirror-agent running?") {
		t.Errorf("display line with the port taken = %q, want the another-mirror-agent hint", l)
	}
	out, _ = checkOut(t, false, "display.listen=192.0.2.1:0") // TEST-NET-1: not this machine's
	if l := checkLine(out, "display"); !strings.HasPrefix(l, "FAIL ") || strings.Contains(l, "another mirror-agent") || !strings.Contains(l, "not an address of this machine") {
		t.Errorf("display line for a foreign address = %q, want the address hint, not another mirror-agent", l)
	}
}
