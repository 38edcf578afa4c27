package kiosk

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLauncher runs scripts/kiosk.sh (dry run): the browser gets the locked-down kiosk flags
// and the agent's page, and a page off loopback is refused with one line.
func TestLauncher(t *testing.T) {
	const script = "../../scripts/kiosk.sh"
	run := func(url string) (string, string, error) {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "KIOSK_DRY_RUN=1", "CHROMIUM="+chromium, "KIOSK_URL="+url,
			"RUNTIME_DIRECTORY="+t.TempDir(), "WAYLAND_DISPLAY=", "DISPLAY=")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}

	out, stderr, err := run("http://127.0.0.1:8080/")
	if err != nil {
		t.Fatalf("kiosk.sh: %v: %s", err, stderr)
	}
	args := strings.Split(strings.TrimSpace(out), "\n")
	if args[0] != chromium {
		t.Errorf("kiosk.sh runs %q, want %q", args[0], chromium)
	}
	for _, want := range []string{"--kiosk", "--app=http://127.0.0.1:8080/", "--incognito", "--noerrdialogs",
		"--disable-infobars", "--disable-session-crashed-bubble", "--disable-pinch", "--overscroll-history-navigation=0",
		"--no-first-run", "--disable-background-networking"} {
		if !slices.Contains(args, want) {
			t.Errorf("kiosk.sh flags %q lack %s", args[1:], want)
		}
	}

	for _, url := range []string{"http://192.168.1.20:8080/", "https://example.com/", "file:///etc/passwd"} {
		out, stderr, err := run(url)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || out != "" {
			t.Errorf("kiosk.sh with KIOSK_URL=%s = %v, stdout %q; want exit 2 and no browser", url, err, out)
		}
		if !strings.Contains(stderr, "KIOSK_URL must be the agent's loopback page") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("kiosk.sh with KIOSK_URL=%s: stderr %q, want one line naming KIOSK_URL", url, stderr)
		}
	}
}
