package update_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/update"
)

// TestUpdateKilledAtEachStep: the installer is killed with SIGKILL as it starts, right after
// each journal step, and between dpkg's unpack and configure (a half-installed package); the
// next start
// ("boot": a fresh agent on whatever dpkg has) runs dpkg --configure -a and finishes the
// commit or the rollback. The mirror ends on 2.0.0 healthy or on 1.0.0, never in between.
func TestUpdateKilledAtEachStep(t *testing.T) {
	for _, tc := range []struct {
		at      string
		healthy bool
		want    string
		events  string
	}{
		{"started", true, "2.0.0", "committed"},
		{update.StepBackupKept, true, "2.0.0", "committed"},
		{update.StepInstalling, true, "2.0.0", "committed"},
		{"unpacked", true, "2.0.0", "committed"},
		{update.StepInstalled, true, "2.0.0", "committed"},
		{update.StepRollingBack, false, "1.0.0", "rolled_back"},
		{"backup_unpacked", false, "1.0.0", "rolled_back"},
		{update.StepRolledBack, false, "1.0.0", "rolled_back"},
	} {
		t.Run(tc.at, func(t *testing.T) {
			m := newMirror(t)
			if !tc.healthy {
				m.healthTimeout = time.Second
				m.healthy = func() (bool, string) { return false, "display lost" }
			}
			m.killAt.Store(tc.at)
			u := m.agent()
			if _, err := m.command(u, m.hub.args(m.v2)); err != nil {
				t.Fatal(err)
			}
			must(t, u.Follow(context.Background())) // starts the installer, which dies at tc.at
			m.procs.Wait()
			j := m.journal()
			if j == nil || j.Step != stepAfterKill(tc.at) {
				t.Fatalf("journal after the kill at %s = %+v", tc.at, j)
			}
			if strings.HasSuffix(tc.at, "unpacked") {
				if st := dpkgStatus(t, m); st != "half-installed" && st != "unpacked" {
					t.Fatalf("dpkg status after the kill = %q, want a package left unpacked", st)
				}
			}
			// The boot: a new agent on what dpkg has (a half-installed package is no version),
			// with a shopper at the mirror: before the backup nothing is installed, so the
			// update waits for them again; past it the installer must finish what it began.
			launches := m.launches.Load()
			m.busy.Store(true)
			boot := m.agent()
			must(t, boot.Follow(context.Background()))
			if tc.at == "started" {
				if m.launches.Load() != launches {
					t.Fatal("the boot started the installer during a session")
				}
				m.busy.Store(false)
				must(t, boot.Follow(context.Background()))
			}
			m.busy.Store(false)
			if tc.at != update.StepRolledBack && m.launches.Load() != launches+1 {
				t.Errorf("the boot did not start the installer again")
			}
			m.drive(boot)
			if v, audit := m.installed(); v != tc.want || audit != "" || m.versionFile() != tc.want {
				t.Errorf("installed %q (file %q), audit %q; want %s, fully configured", v, m.versionFile(), audit, tc.want)
			}
			if got := m.ev.types(); !strings.HasSuffix(got, "update.installing update."+tc.events) || strings.Count(got, "update.") != 4 {
				t.Errorf("events %q, want one outcome: update.%s", got, tc.events)
			}
		})
	}
}

// stepAfterKill is the journal step the installer stood at when killed at a hook point.
func stepAfterKill(at string) string {
	switch at {
	case "started":
		return update.StepVerified
	case "unpacked":
		return update.StepInstalling
	case "backup_unpacked":
		return update.StepRollingBack
	}
	return at
}

func dpkgStatus(t *testing.T, m *mirror) string {
	out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(m.dpkg.Root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Status}", pkgName).Output()
	return strings.TrimSpace(string(out))
}

// TestAgentKilledBeforeVerified: an agent that stopped while a release was downloaded but
// not yet verified starts again, refuses it (update.refused) and removes it.
func TestAgentKilledBeforeVerified(t *testing.T) {
	m := newMirror(t)
	must(t, os.MkdirAll(m.dir, 0o700))
	must(t, os.WriteFile(filepath.Join(m.dir, "new.deb"), []byte("half"), 0o600))
	must(t, os.WriteFile(filepath.Join(m.dir, "journal.json"), []byte(`{"step":"downloaded","version":"2.0.0","from":"1.0.0","package":"fitmirror-agent"}`), 0o600))
	u := m.agent()
	must(t, u.Follow(context.Background()))
	if got := m.ev.types(); got != "update.refused" || !strings.Contains(m.ev.last().Reason, "before the release was verified") {
		t.Errorf("events %q %+v", got, m.ev.last())
	}
	m.nothingChanged(t)
}
