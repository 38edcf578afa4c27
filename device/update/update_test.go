package update_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/internal/window"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestUpdateCommits: a signed 2.0.0 is downloaded, verified, installed by real dpkg in the
// separate installer process, the new agent reports healthy and commits it; the backup goes
// and 2.0.0's .deb stays as the cache for the next update's backup.
func TestUpdateCommits(t *testing.T) {
	m := newMirror(t)
	u := m.agent()
	if u.Running() != "1.0.0" {
		t.Fatalf("running = %q, want 1.0.0 (from dpkg)", u.Running())
	}
	res, err := m.command(u, m.hub.args(m.v2))
	if err != nil || res != (wire.UpdateResult{Version: "2.0.0", State: "installing"}) {
		t.Fatalf("update = %+v, %v; want installing", res, err)
	}
	if j := m.journal(); j == nil || j.Step != update.StepVerified || j.From != "1.0.0" {
		t.Fatalf("journal after the command = %+v, want verified from 1.0.0", j)
	}
	if got := m.target.Load(); got != "2.0.0" {
		t.Errorf("target version while the update runs = %q, want 2.0.0", got)
	}
	u = m.drive(u)
	if v, audit := m.installed(); v != "2.0.0" || audit != "" || m.versionFile() != "2.0.0" {
		t.Errorf("installed %q (file %q), audit %q; want 2.0.0, fully configured", v, m.versionFile(), audit)
	}
	if got, want := m.ev.types(), "update.downloading update.verified update.installing update.committed"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if d := m.ev.last(); d != (wire.Update{Version: "2.0.0", From: "1.0.0"}) {
		t.Errorf("committed data = %+v", d)
	}
	if got := m.target.Load(); got != "" {
		t.Errorf("target version after the commit = %q, want none", got)
	}
	if n := u.Outcomes()[update.OutcomeCommitted]; n != 1 {
		t.Errorf("committed outcomes = %d, want 1", n)
	}
	left, _ := filepath.Glob(filepath.Join(m.dir, "*.deb"))
	if len(left) != 1 || filepath.Base(left[0]) != "current.deb" {
		t.Errorf("files left %v, want only current.deb (the cache)", left)
	}
	if m.launches.Load() != 1 {
		t.Errorf("installer started %d times, want 1", m.launches.Load())
	}
}

// TestUpdateRollsBackUnhealthy: a new version that never becomes healthy is rolled back by
// the installer after update.health_timeout; the old agent, started again, reports
// update.rolled_back with the reason. Once with a new agent that reports a broken part, once
// with one that is healthy only for moments (never for HealthyFor in a row), once with one that never starts (a build that exits at start).
func TestUpdateRollsBackUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		starts       bool
		flaps        bool // healthy at every other look only: never for long enough
	}{
		{"camera lost", "did not report healthy within 1.5s: camera lost: no frames", true, false},
		{"healthy only moments", "did not report healthy within 1.5s: camera lost: no frames", true, true},
		{"exits at start", "did not report healthy within 1.5s (it did not report at all)", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMirror(t)
			m.healthTimeout = 1500 * time.Millisecond
			u := m.agent()
			if _, err := m.command(u, m.hub.args(m.v2)); err != nil {
				t.Fatal(err)
			}
			var looks atomic.Int32
			m.healthy = func() (bool, string) { // asked of 2.0.0 only
				return tc.flaps && looks.Add(1)%2 == 0, "camera lost: no frames"
			}
			if !tc.starts {
				// The new version exits at start: nothing follows the journal until the old
				// version is back.
				must(t, u.Follow(context.Background()))
				for j := m.journal(); j == nil || j.Step != update.StepRolledBack; j = m.journal() {
					time.Sleep(20 * time.Millisecond)
				}
			}
			u = m.drive(u)
			if v, audit := m.installed(); v != "1.0.0" || audit != "" || m.versionFile() != "1.0.0" {
				t.Errorf("installed %q (file %q), audit %q; want 1.0.0 back", v, m.versionFile(), audit)
			}
			if got, want := m.ev.types(), "update.downloading update.verified update.installing update.rolled_back"; got != want {
				t.Errorf("events %q, want %q", got, want)
			}
			if d := m.ev.last(); d.Version != "2.0.0" || d.From != "1.0.0" || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("rolled_back data = %+v, want a reason with %q", d, tc.reason)
			}
			if n := u.Outcomes()[update.OutcomeRolledBack]; n != 1 || u.Running() != "1.0.0" {
				t.Errorf("rolled-back outcomes = %d on %s, want 1 on 1.0.0", n, u.Running())
			}
		})
	}
}

// TestUpdateRefused: what is refused changes nothing: no journal, no download left, 1.0.0
// still installed, and update.refused for a release that was looked at.
func TestUpdateRefused(t *testing.T) {
	m := newMirror(t)
	other := newKey(t)
	build := t.TempDir()
	foreign := "arm64"
	if hostArch == "arm64" {
		foreign = "amd64"
	}
	m.hub.releases["3.0.0/"+foreign] = newRelease(t, m.key, build, "3.0.0", foreign, 0)
	v3 := newRelease(t, other, build, "3.0.0", hostArch, 0)
	m.hub.releases["3.0.0/"+hostArch] = v3
	good := m.hub.args(m.v2)
	with := func(f func(a *wire.UpdateArgs)) wire.UpdateArgs { a := good; f(&a); return a }
	for _, tc := range []struct {
		name    string
		args    wire.UpdateArgs
		code    string
		message string
		refused bool
	}{
		{"no version", with(func(a *wire.UpdateArgs) { a.Version = "" }), wire.CodeBadArgs, "version: required", false},
		{"no url", with(func(a *wire.UpdateArgs) { a.URL = "" }), wire.CodeBadArgs, "url: required", false},
		{"no sha256", with(func(a *wire.UpdateArgs) { a.SHA256 = "" }), wire.CodeBadArgs, "sha256: required", false},
		{"no size", with(func(a *wire.UpdateArgs) { a.Size = 0 }), wire.CodeBadArgs, "size: required", false},
		{"no signature", with(func(a *wire.UpdateArgs) { a.Signature = "" }), wire.CodeBadArgs, "signature: required", false},
		{"sha256 not hex", with(func(a *wire.UpdateArgs) { a.SHA256 = "xyz" }), wire.CodeBadArgs, "sha256: \"xyz\" is not 64 hex digits", false},
		{"url of another host", with(func(a *wire.UpdateArgs) { a.URL = "https://evil.example/v1/releases/2.0.0/amd64" }), wire.CodeBadArgs, "is not a release of the configured hub", false},
		{"url outside releases", with(func(a *wire.UpdateArgs) { a.URL = "/v1/releases/../photos/x" }), wire.CodeBadArgs, "is not a release of the configured hub", false},
		{"unknown version", with(func(a *wire.UpdateArgs) { a.Version, a.URL = "9.9.9", "/v1/releases/9.9.9/amd64" }), wire.CodeBadArgs, "url: the hub has no such release", true},
		{"same version", m.hub.args(m.v1), wire.CodeBadArgs, "version: 1.0.0 is already running", true},
		{"downgrade", with(func(a *wire.UpdateArgs) { a.Version = "0.9" }), wire.CodeBadArgs, "version: 0.9 is older than the running 1.0.0", true},
		{"wrong sha256", with(func(a *wire.UpdateArgs) { a.SHA256 = strings.Repeat("ab", 32) }), wire.CodeBadChecksum, "sha256: the release's is " + good.SHA256, true},
		{"wrong size", with(func(a *wire.UpdateArgs) { a.Size-- }), wire.CodeBadChecksum, "size: the release is larger than", true},
		{"signature of another release", with(func(a *wire.UpdateArgs) { a.Signature = m.v1.signature }), wire.CodeBadSignature, "does not match the file", true},
		{"signed by an unknown key", m.hub.args(v3), wire.CodeBadSignature, "which is not one of the configured public keys", true},
		{"garbled signature", with(func(a *wire.UpdateArgs) { a.Signature = "hello" }), wire.CodeBadSignature, "signature: not a minisign signature", true},
		{"another architecture", m.hub.args(m.hub.releases["3.0.0/"+foreign]), wire.CodeBadArgs, "url: the release is for " + foreign + ", this mirror is " + hostArch, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(strings.Fields(m.ev.types()))
			_, err := m.command(m.agent(), tc.args)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tc.code || !strings.Contains(we.Message, tc.message) {
				t.Fatalf("update = %v; want %s with %q", err, tc.code, tc.message)
			}
			evs := strings.Fields(m.ev.types())[before:]
			if tc.refused && (len(evs) == 0 || evs[len(evs)-1] != wire.EventUpdateRefused || !strings.Contains(m.ev.last().Reason, tc.message)) {
				t.Errorf("events %v (last %+v), want update.refused with the reason", evs, m.ev.last())
			}
			if !tc.refused && len(evs) != 0 {
				t.Errorf("events %v for bad arguments, want none", evs)
			}
			m.nothingChanged(t)
		})
	}
}

// nothingChanged: 1.0.0 installed, no journal, no download.
func (m *mirror) nothingChanged(t *testing.T) {
	t.Helper()
	if v, audit := m.installed(); v != "1.0.0" || audit != "" {
		t.Errorf("installed %q, audit %q; want 1.0.0 untouched", v, audit)
	}
	left, _ := os.ReadDir(m.dir)
	for _, e := range left {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("%s left in the update directory", e.Name())
		}
	}
	if m.launches.Load() != 0 {
		t.Errorf("the installer was started")
	}
}

// TestUpdateResumesDownload: the first download is cut halfway; the next request asks for
// the rest (Range) and the update goes on.
func TestUpdateResumesDownload(t *testing.T) {
	m := newMirror(t)
	big := newRelease(t, m.key, t.TempDir(), "2.1.0", hostArch, 300<<10)
	m.hub.releases["2.1.0/"+big.arch] = big
	m.hub.cut.Store(big.size / 2)
	u := m.agent()
	if res, err := m.command(u, m.hub.args(big)); err != nil || res.State != "installing" {
		t.Fatalf("update = %+v, %v", res, err)
	}
	m.hub.mu.Lock()
	ranges := m.hub.ranges
	m.hub.mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
		t.Fatalf("requests' Range headers %q, want none then the rest", ranges)
	}
	m.drive(u)
	if v, _ := m.installed(); v != "2.1.0" {
		t.Errorf("installed %q, want 2.1.0", v)
	}
}

// TestUpdateResumesAcrossCommands: every download is cut until the command gives up (the
// store's link is down); the bytes it got stay, and the next command for the same release
// resumes from them instead of starting again.
func TestUpdateResumesAcrossCommands(t *testing.T) {
	m := newMirror(t)
	big := newRelease(t, m.key, t.TempDir(), "2.1.0", hostArch, 400<<10)
	m.hub.releases["2.1.0/"+big.arch] = big
	m.hub.cut.Store(big.size / 3)
	m.hub.cuts.Store(3) // the agent's 3 attempts
	u := m.agent()
	_, err := m.command(u, m.hub.args(big))
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts; the next update command for this release resumes it") {
		t.Fatalf("update over a failing link = %v, want a failure after 3 attempts", err)
	}
	part, err := os.Stat(filepath.Join(m.dir, "release-"+big.sha256+".part"))
	if err != nil || part.Size() <= big.size/3 {
		t.Fatalf("partial download %v, %v: want more than the first cut", part, err)
	}
	if got := m.ev.types(); got != "update.downloading update.refused" {
		t.Errorf("events %q", got)
	}
	m.hub.mu.Lock()
	m.hub.ranges = nil
	m.hub.mu.Unlock()
	if res, err := m.command(u, m.hub.args(big)); err != nil || res.State != "installing" {
		t.Fatalf("update once the link is back = %+v, %v", res, err)
	}
	m.hub.mu.Lock()
	ranges := m.hub.ranges
	m.hub.mu.Unlock()
	if want := fmt.Sprintf("bytes=%d-", part.Size()); len(ranges) != 1 || ranges[0] != want {
		t.Errorf("the second command's requests %q, want one %s", ranges, want)
	}
	m.drive(u)
	if v, _ := m.installed(); v != "2.1.0" {
		t.Errorf("installed %q, want 2.1.0", v)
	}
}

// TestUpdateDiskFull: the update directory on a 64 KiB tmpfs, a 300 KiB release: the
// command fails naming the full disk, the partial file is removed, nothing is installed.
func TestUpdateDiskFull(t *testing.T) {
	m := newMirror(t)
	big := newRelease(t, m.key, t.TempDir(), "2.1.0", hostArch, 300<<10)
	m.hub.releases["2.1.0/"+big.arch] = big
	mountTiny(t, m.dir)
	_, err := m.command(m.agent(), m.hub.args(big))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeFailed || !strings.Contains(we.Message, "disk full in "+m.dir) {
		t.Fatalf("update = %v, want failed: disk full in %s", err, m.dir)
	}
	if got := m.ev.types(); got != "update.downloading update.refused" {
		t.Errorf("events %q", got)
	}
	m.nothingChanged(t)
}

// TestUpdateWaitsForSessionAndWindow: while a shopper is at the mirror, and outside the
// maintenance window, the update is downloaded and verified but waits; the installer starts
// when the session ends inside the window.
func TestUpdateWaitsForSessionAndWindow(t *testing.T) {
	m := newMirror(t)
	now := time.Now()
	w, err := window.Parse(now.Add(2*time.Hour).Format("15:04") + "-" + now.Add(3*time.Hour).Format("15:04"))
	must(t, err)
	m.window = w
	m.busy.Store(true)
	u := m.agent()
	if res, err := m.command(u, m.hub.args(m.v2)); err != nil || res.State != "waiting" {
		t.Fatalf("update during a session = %+v, %v; want waiting", res, err)
	}
	for range 5 {
		must(t, u.Follow(context.Background()))
	}
	if m.launches.Load() != 0 {
		t.Fatal("the installer started during a session")
	}
	m.busy.Store(false)
	for range 5 {
		must(t, u.Follow(context.Background()))
	}
	if m.launches.Load() != 0 {
		t.Fatal("the installer started outside the window")
	}
	m.window = window.Window{}
	u = m.agent() // the agent restarted meanwhile (a new window from its config): the update still waits in the journal
	m.busy.Store(true)
	must(t, u.Follow(context.Background()))
	if m.launches.Load() != 0 {
		t.Fatal("the installer started during a session")
	}
	m.busy.Store(false)
	m.drive(u)
	if v, _ := m.installed(); v != "2.0.0" {
		t.Errorf("installed %q, want 2.0.0", v)
	}
}
