//go:build packaging

package fitmirror_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDebPackage checks the mirror's .deb as dpkg sees it: the control fields, the files, the
// conffile, and maintainer scripts that parse and do their job. `make test-package` builds the
// package (make deb) and runs it; plain `go test` neither builds packages nor writes into the
// tree, so this test has its own build tag.
func TestDebPackage(t *testing.T) {
	debs, _ := filepath.Glob("dist/fitmirror-agent_*.deb")
	if len(debs) == 0 {
		t.Fatal("no dist/fitmirror-agent_*.deb: run make test-package (it runs make deb first)")
	}
	deb := debs[len(debs)-1]

	field := func(name string) string {
		b, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := field("Package"); got != "fitmirror-agent" {
		t.Errorf("Package = %q", got)
	}
	for _, dep := range []string{"libopencv-objdetect406", "libopencv-videoio406", "opencv-data", "adduser"} {
		if !strings.Contains(field("Depends"), dep) {
			t.Errorf("Depends %q lacks %s", field("Depends"), dep)
		}
	}

	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"./usr/bin/mirror-agent", "./lib/systemd/system/mirror-agent.service",
		"./etc/fitmirror/mirror-agent.yaml", "./usr/share/doc/fitmirror/operations.md",
		"./usr/share/fitmirror/models/blazeface/face_detection_front_128x128_barracuda.onnx", "./usr/share/fitmirror/models/blazeface/LICENSE"} {
		if !strings.Contains(string(list), " "+f+"\n") {
			t.Errorf("package lacks %s", f)
		}
	}
	checkManPages(t, deb, "mirror-agent", "mirrorctl")
	if clouds, _ := filepath.Glob("dist/fitmirror-cloud_*.deb"); len(clouds) == 0 {
		t.Error("no dist/fitmirror-cloud_*.deb: make deb builds both packages")
	} else {
		checkManPages(t, clouds[len(clouds)-1], "mirror-cloud")
	}
	if !regexp.MustCompile(`-rwxr-xr-x root/root +\d+ .* ./usr/bin/mirror-agent`).Match(list) {
		t.Errorf("/usr/bin/mirror-agent is not an executable owned by root:\n%s", list)
	}

	ctl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/fitmirror/mirror-agent.yaml" {
		t.Errorf("conffiles = %q, want the config (kept on upgrade)", conffiles)
	}
	scripts := map[string][]string{
		"postinst": {"adduser --system", "systemctl enable mirror-agent.service"},
		"prerm":    {"systemctl disable --now mirror-agent.service"},
		"postrm":   {"purge", "rm -rf /var/lib/mirror-agent", "deluser --system mirror", "deluser --system kiosk", "rm -rf /var/lib/kiosk"},
	}
	for name, wants := range scripts {
		path := filepath.Join(ctl, name)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s missing or not executable: %v", name, err)
			continue
		}
		if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
		body, _ := os.ReadFile(path)
		for _, w := range wants {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s does not %q", name, w)
			}
		}
	}
}

// checkManPages: the package deb ships the manual page of each program, and it is the page
// the built program (bin/, what make deb packs) prints with help --man.
func checkManPages(t *testing.T, deb string, programs ...string) {
	t.Helper()
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	for _, p := range programs {
		page := filepath.Join(root, "usr/share/man/man1", p+".1.gz") // gzipped, as Debian ships them
		shipped, err := gunzip(page)
		if err != nil {
			t.Errorf("%s lacks the gzipped manual page of %s: %v", deb, p, err)
			continue
		}
		want, err := exec.Command(filepath.Join("bin", p), "help", "--man").Output()
		if err != nil {
			t.Fatalf("bin/%s help --man: %v", p, err)
		}
		if string(shipped) != string(want) {
			t.Errorf("%s ships a %s.1 that is not what bin/%s help --man prints: run make man", deb, p, p)
		}
		// man renders it without a warning (bold is overstruck off a terminal: dropped here).
		man := exec.Command("man", "--warnings", "-l", page)
		var warnings strings.Builder
		man.Stderr = &warnings
		out, err := man.Output()
		text := regexp.MustCompile(".\x08").ReplaceAllString(string(out), "")
		if err != nil || warnings.Len() != 0 || !strings.Contains(text, "NAME\n       "+p+" - ") {
			t.Errorf("man -l %s.1: %v, warnings %q\n%s", p, err, warnings.String(), text)
		}
	}
}

// gunzip reads a gzipped file.
func gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return io.ReadAll(z)
}
