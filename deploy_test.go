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
