package fitmirror_test

import (
	"os"
	"os/exec"
	"path/filepath"
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

// TestStructureDocsNameServiceUsers: every `usermod … USER` in the docs adds a user the
// packaged units run as (docs/hardware.md once named mirror-agent, a user nothing creates),
// and the postinst that makes those users has a postrm that removes them on purge.
func TestStructureDocsNameServiceUsers(t *testing.T) {
	users := map[string]bool{}
	units, _ := filepath.Glob("systemd/*.service")
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^User=(\S+)$`).FindAllStringSubmatch(string(b), -1) {
			users[m[1]] = true
		}
	}
	if !users["mirror"] || !users["kiosk"] {
		t.Fatalf("units run as %v, want mirror and kiosk", users)
	}
	docs, _ := filepath.Glob("docs/*.md")
	usermod := regexp.MustCompile(`usermod -aG \S+\s+([a-z_][a-z0-9_-]*)`)
	found := 0
	for _, d := range append(docs, "README.md") {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usermod.FindAllStringSubmatch(string(b), -1) {
			found++
			if !users[m[1]] {
				t.Errorf("%s: %q adds the user %s, but the units run as %v", d, m[0], m[1], users)
			}
		}
	}
	if found == 0 {
		t.Error("no usermod example in the docs: update this test if docs/hardware.md changed")
	}
	postinst, _ := os.ReadFile("scripts/deb/postinst")
	postrm, _ := os.ReadFile("scripts/deb/postrm")
	for u := range users {
		if strings.Contains(string(postinst), "adduser --system --group --home /var/lib/"+u) || strings.Contains(string(postinst), "passwd "+u) {
			if !strings.Contains(string(postrm), "deluser --system "+u) {
				t.Errorf("postinst makes the user %s; postrm does not remove it on purge", u)
			}
		}
	}
}
