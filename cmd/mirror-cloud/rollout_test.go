package main

import (
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/internal/debpkg/debtest"
)

// TestRolloutCommands: the operator starts a rollout of a stored release, sees it, stops it;
// pins a mirror and clears the pin; mistakes get one line naming them.
func TestRolloutCommands(t *testing.T) {
	cmd, sec := releaseBench(t)
	deb := debtest.Build(t, debtest.Package{Name: "fitmirror-agent", Version: "2.0", Arch: "arm64", Payload: 1000})
	debtest.Sign(t, sec, deb)
	if out, err := cmd("release", "add", deb); err != nil {
		t.Fatalf("release add: %v %s", err, out)
	}
	for _, id := range []string{"m1", "m2", "m3"} {
		if out, err := cmd("device", "add", id); err != nil {
			t.Fatalf("device add: %v %s", err, out)
		}
	}
	out, err := cmd("rollout", "start", "2.0", "--devices", "m1,m2,m3", "--canary", "1", "--batch", "2", "--max-failures", "1")
	if err != nil || !strings.HasPrefix(out, "rollout r-") {
		t.Fatalf("rollout start: %v\n%s", err, out)
	}
	id := strings.Fields(out)[1]
	out, err = cmd("rollout", "status")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "running") {
		t.Errorf("rollout status: %v\n%s", err, out)
	}
	out, err = cmd("rollout", "status", id)
	if err != nil || !strings.Contains(out, "MIRROR") {
		t.Errorf("rollout status ID: %v\n%s", err, out)
	}
	if out, err := cmd("rollout", "stop", id); err != nil || !strings.Contains(out, "stopped") {
		t.Errorf("rollout stop: %v\n%s", err, out)
	}
	if out, err := cmd("rollout", "stop", id); err == nil || !strings.Contains(out, "is stopped already") {
		t.Errorf("a second stop: %v\n%s", err, out)
	}
	if out, err := cmd("pin", "m1", "1.9"); err != nil || !strings.Contains(out, "m1 is pinned to 1.9") {
		t.Errorf("pin: %v\n%s", err, out)
	}
	if out, err := cmd("pin", "m1", "--clear"); err != nil || !strings.Contains(out, "not pinned") {
		t.Errorf("pin --clear: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "start", "3.0", "--all"}, "no release 3.0"},
		{[]string{"rollout", "start", "2.0"}, "exactly one of --devices, --group and --all"},
		{[]string{"rollout", "start", "2.0", "--all", "--window", "2am"}, "HH:MM-HH:MM"},
		{[]string{"rollout", "start", "2.0", "--devices", "m1,../x"}, "not a device ID"},
		{[]string{"rollout", "start", "2.0", "--devices", "m1,m9"}, "m9 is not a registered mirror"},
		{[]string{"rollout", "status", "r-nope"}, "no rollout r-nope"},
		{[]string{"rollout", "pause"}, `want "rollout start VERSION"`},
		{[]string{"pin", "m1"}, "want ID VERSION, or ID --clear"},
		{[]string{"pin", "m1", "latest"}, "must start with a digit"},
	} {
		if out, err := cmd(tt.args...); err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%v: %v\n%s; want %q", tt.args, err, out, tt.want)
		}
	}
}
