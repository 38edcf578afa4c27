package fitmirror_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDebPackage builds the mirror's .deb (make deb, nfpm) and checks what dpkg sees: the
// control fields, the files, the conffile, and maintainer scripts that parse and do their job.
func TestDebPackage(t *testing.T) {
	out, err := exec.Command("make", "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob("dist/fitmirror-agent_*.deb")
	if len(debs) == 0 {
		t.Fatalf("make deb made no dist/fitmirror-agent_*.deb:\n%s", out)
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
		"postrm":   {"purge", "rm -rf /var/lib/mirror-agent"},
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

// TestSystemdUnits runs systemd-analyze verify on every unit (with ExecStart pointed at a
// binary that exists here) and keeps the agent's security exposure low.
func TestSystemdUnits(t *testing.T) {
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) == 0 {
		t.Fatal("no units in systemd/")
	}
	dir := t.TempDir()
	exe := regexp.MustCompile(`(?m)^(Exec\w+=)(\S+)`)
	for _, u := range units {
		body, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		fixed := exe.ReplaceAllStringFunc(string(body), func(line string) string {
			m := exe.FindStringSubmatch(line)
			bin := strings.TrimLeft(m[2], "-@+!:")
			if _, err := os.Stat(bin); err != nil {
				return m[1] + "/bin/true"
			}
			return line
		})
		path := filepath.Join(dir, filepath.Base(u))
		os.WriteFile(path, []byte(fixed), 0o644)
		out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}

	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", filepath.Join(dir, "mirror-agent.service")).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", lastLines(string(out), 5))
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.5 {
		t.Errorf("mirror-agent.service exposure %.1f, want ≤ 2.5 (docs/operations.md says 1.6)", level)
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
