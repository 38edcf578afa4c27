package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/internal/debpkg/debtest"
)

// TestReleaseCommands: the operator's path of docs/updates.md with the real minisign and
// dpkg-deb: release add with the signature beside the package, release ls; a second key
// (rotation) is accepted too; an unsigned package and a duplicate are refused with one line.
// releaseBench is a hub configuration (SQLite in a temporary state directory) that trusts two
// minisign keys, with a function running mirror-cloud commands on it.
func releaseBench(t *testing.T) (cmd func(args ...string) (string, error), sec string) {
	cmd, sec, _ = releaseBench2(t)
	return cmd, sec
}

func releaseBench2(t *testing.T) (cmd func(args ...string) (string, error), sec1, sec2 string) {
	t.Helper()
	dir := t.TempDir()
	pub1, sec1 := debtest.Keypair(t)
	pub2, sec2 := debtest.Keypair(t)
	conf := filepath.Join(dir, "mirror-cloud.yaml")
	yaml := "state_dir: " + filepath.Join(dir, "state") + "\nupdates:\n  public_keys:\n    - " +
		strings.Split(strings.TrimSpace(debtest.PublicKey(t, pub1)), "\n")[1] + "\n    - |\n" +
		indent(debtest.PublicKey(t, pub2), "      ")
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append(args, "--config", conf), &out, &errb)
		if err != nil { // main prints it
			errb.WriteString(err.Error())
		}
		return out.String() + errb.String(), err
	}
	return cmd, sec1, sec2
}

func TestReleaseCommands(t *testing.T) {
	cmd, sec1, sec2 := releaseBench2(t)
	deb1 := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1.4.0", Arch: "arm64", Payload: 50_000})
	debtest.Sign(t, sec1, deb1)
	deb2 := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1.4.0", Arch: "amd64", Payload: 50_000})
	sig2 := filepath.Join(t.TempDir(), "elsewhere.minisig")
	p, _ := debtest.Sign(t, sec2, deb2)
	os.Rename(p, sig2)
	out, err := cmd("release", "add", deb1)
	if err != nil || !strings.HasPrefix(out, "added fitmirror-agent 1.4.0 (arm64): ") || !strings.Contains(out, "/v1/releases/1.4.0/arm64") {
		t.Fatalf("release add: %v\n%s", err, out)
	}
	if out, err := cmd("release", "add", deb2, "--signature", sig2); err != nil || !strings.Contains(out, "(amd64)") {
		t.Fatalf("release add with the second key: %v\n%s", err, out)
	}
	out, err = cmd("release", "add", deb1)
	if err == nil || !strings.Contains(out, "is stored already") {
		t.Errorf("a duplicate: %v\n%s", err, out)
	}
	unsigned := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "1.5.0", Arch: "arm64", Payload: 1000})
	if out, err := cmd("release", "add", unsigned); err == nil || !strings.Contains(out, "minisign -Sm") {
		t.Errorf("an unsigned package: %v\n%s", err, out)
	}
	out, err = cmd("release", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "VERSION") || !strings.HasPrefix(lines[1], "1.4.0    amd64") {
		t.Errorf("release ls: %v\n%s", err, out)
	}
	out, err = cmd("release", "ls", "--json")
	var first struct{ Version, Arch, Path string }
	if err != nil || json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &first) != nil || first.Path != "/v1/releases/1.4.0/amd64" {
		t.Errorf("release ls --json: %v\n%s", err, out)
	}
	if out, err := cmd("release", "publish"); err == nil || !strings.Contains(out, `want "release add FILE.deb"`) {
		t.Errorf("an unknown release command: %v\n%s", err, out)
	}
}

func indent(s, by string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(by + l + "\n")
	}
	return b.String()
}
