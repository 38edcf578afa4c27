package kiosk

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLauncherSessionFile: kiosk.sh tells the agent which session the panel shows, in
// $RUNTIME_DIRECTORY/session.env: Wayland as the socket's absolute path (before X, which under
// cage is only Xwayland), X when there is no Wayland, nothing when there is neither.
func TestLauncherSessionFile(t *testing.T) {
	for _, tt := range []struct{ wayland, runtimeDir, display, want string }{
		{"wayland-0", "/run/mirror-kiosk", ":0", "WAYLAND_DISPLAY=/run/mirror-kiosk/wayland-0\n"},
		{"/run/user/1000/wayland-1", "", "", "WAYLAND_DISPLAY=/run/user/1000/wayland-1\n"},
		{"", "", ":0", "DISPLAY=:0\n"},
		{"", "", "", ""},
	} {
		dir := t.TempDir()
		cmd := exec.Command("bash", "../../scripts/kiosk.sh")
		cmd.Env = append(os.Environ(), "KIOSK_DRY_RUN=1", "CHROMIUM="+chromium, "RUNTIME_DIRECTORY="+dir,
			"WAYLAND_DISPLAY="+tt.wayland, "XDG_RUNTIME_DIR="+tt.runtimeDir, "DISPLAY="+tt.display)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kiosk.sh: %v: %s", err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "session.env"))
		if tt.want == "" {
			if !os.IsNotExist(err) {
				t.Errorf("no session: session.env = %q, %v; want none", got, err)
			}
			continue
		}
		if string(got) != tt.want {
			t.Errorf("WAYLAND_DISPLAY=%q XDG_RUNTIME_DIR=%q DISPLAY=%q: session.env = %q, want %q",
				tt.wayland, tt.runtimeDir, tt.display, got, tt.want)
		}
	}
}
