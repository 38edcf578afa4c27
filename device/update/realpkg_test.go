//go:build updatepkg

package update_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/update"
)

// TestRealPackageUpdate updates the real package: make deb's fitmirror-agent (the agent,
// mirrorctl, the units, the maintainer scripts), rebuilt at three versions, installed by dpkg
// into a Debian bookworm root made with mmdebstrap, where its maintainer scripts run (postinst
// makes the mirror user). Only the Depends are dropped: the throwaway root has no OpenCV.
// 1.0.0 → 2.0.0 commits (its backup rebuilt with dpkg-repack); 2.0.0 → 3.0.0, never healthy,
// rolls back to 2.0.0 (its backup the .deb cached by the first update). `make test-update`
// runs it after make deb; the build tag keeps plain go test from needing dist/ and the network.
func TestRealPackageUpdate(t *testing.T) {
	debs, _ := filepath.Glob(filepath.Join("..", "..", "dist", "fitmirror-agent_*_"+hostArch+".deb"))
	if len(debs) == 0 {
		t.Fatal("no dist/fitmirror-agent_*_" + hostArch + ".deb: run make test-update (it runs make deb first)")
	}
	root := filepath.Join(t.TempDir(), "root")
	mirrorURL := os.Getenv("FITMIRROR_DEBIAN_MIRROR")
	if mirrorURL == "" {
		mirrorURL = "http://deb.debian.org/debian"
	}
	start := time.Now()
	run(t, "", "mmdebstrap", "--quiet", "--variant=essential", "--include=adduser", "bookworm", root, mirrorURL)
	t.Logf("mmdebstrap: a bookworm root in %s", time.Since(start).Round(time.Second))

	key := newKey(t)
	build := t.TempDir()
	rel := func(version string) release {
		deb := rebuild(t, debs[len(debs)-1], build, version)
		return releaseOf(t, key, deb, version)
	}
	v1, v2, v3 := rel("1.0.0+test"), rel("2.0.0+test"), rel("3.0.0+test")
	d := update.Dpkg{Root: root}
	ctx := context.Background()
	must(t, d.Unpack(ctx, v1.path))
	must(t, d.Configure(ctx, pkgName))
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !regexp.MustCompile(`(?m)^mirror:`).Match(b) {
		t.Fatal("the postinst did not make the mirror user in the chroot")
	}

	m := mirrorOn(t, key, d, v1, v2)
	m.hub.releases[v3.version+"/"+v3.arch] = v3
	u := m.agent()
	if res, err := m.command(u, m.hub.args(v2)); err != nil || res.State != "installing" {
		t.Fatalf("update to 2.0.0 = %+v, %v", res, err)
	}
	u = m.drive(u)
	if v, audit := m.installed(); v != "2.0.0+test" || audit != "" {
		t.Fatalf("after the update: %q, audit %q; want 2.0.0+test", v, audit)
	}
	if out, err := exec.Command(filepath.Join(root, "usr/bin/mirror-agent"), "version").CombinedOutput(); err != nil {
		t.Errorf("the installed mirror-agent does not run (with this machine's libraries): %v %s", err, out)
	}

	m.healthTimeout = 2 * time.Second
	m.healthy = func() (bool, string) { return false, "camera lost: no frames" }
	if res, err := m.command(u, m.hub.args(v3)); err != nil || res.State != "installing" {
		t.Fatalf("update to 3.0.0 = %+v, %v", res, err)
	}
	m.drive(u)
	if v, audit := m.installed(); v != "2.0.0+test" || audit != "" {
		t.Errorf("after the rollback: %q, audit %q; want 2.0.0+test back", v, audit)
	}
	want := "update.downloading update.verified update.installing update.committed " +
		"update.downloading update.verified update.installing update.rolled_back"
	if got := m.ev.types(); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if d := m.ev.last(); d.From != "2.0.0+test" || !strings.Contains(d.Reason, "camera lost") {
		t.Errorf("rolled_back = %+v", d)
	}
}

// rebuild makes deb again at version, without its Depends.
func rebuild(t *testing.T, deb, dir, version string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree-"+version)
	run(t, "", "dpkg-deb", "-R", deb, tree)
	ctl := filepath.Join(tree, "DEBIAN", "control")
	b, err := os.ReadFile(ctl)
	must(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "Version:"):
			l = "Version: " + version
		case strings.HasPrefix(l, "Depends:"), strings.HasPrefix(l, "Recommends:"):
			continue
		}
		out = append(out, l)
	}
	must(t, os.WriteFile(ctl, []byte(strings.Join(out, "\n")+"\n"), 0o644))
	dst := filepath.Join(dir, pkgName+"_"+version+"_"+hostArch+".deb")
	run(t, "", "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, dst)
	return dst
}
