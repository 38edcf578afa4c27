package fitmirror_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestStructureMakeDemoPort: make demo PORT=… runs the kiosk on that port and prints the URL
// that follows it; the default stays 8080 (issue #24). make -n prints the recipe and runs
// nothing.
func TestStructureMakeDemoPort(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed: the demo needs it")
	}
	for _, tt := range []struct {
		args       []string
		port, foto string
	}{{nil, "8080", "8081"}, {[]string{"PORT=18123", "PHOTO_PORT=18124"}, "18123", "18124"}} {
		out, err := exec.Command("make", append([]string{"-n", "demo"}, tt.args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n demo %v: %v\n%s", tt.args, err, out)
		}
		s := string(out)
		if !strings.Contains(s, "open http://127.0.0.1:"+tt.port+"/ in a browser") {
			t.Errorf("make demo %v does not print the kiosk URL on port %s:\n%s", tt.args, tt.port, s)
		}
		run := regexp.MustCompile(`(?m)^\S*mirror-agent run .*$`).FindString(s)
		if !strings.Contains(run, "display.listen=127.0.0.1:"+tt.port) || !strings.Contains(run, "cloud.local.listen=:"+tt.foto) {
			t.Errorf("make demo %v runs %q, want display.listen on %s and cloud.local.listen on %s", tt.args, run, tt.port, tt.foto)
		}
	}
}
