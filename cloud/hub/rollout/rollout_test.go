package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/hub/rollout"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// sent records the update commands, as the broker would carry them.
type sent struct {
	mu   sync.Mutex
	cmds []string // device IDs, in order
	args map[string]wire.UpdateArgs
}

func (s *sent) Publish(_ context.Context, topic string, payload []byte) error {
	var req struct {
		ID   string          `json:"id"`
		Args wire.UpdateArgs `json:"args"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return err
	}
	dev := strings.Split(topic, "/")[1]
	if topic != "mirror/"+dev+"/cmd/update" || !strings.HasSuffix(req.ID, "-"+dev) {
		return fmt.Errorf("bad topic %s or id %s", topic, req.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmds = append(s.cmds, dev)
	if s.args == nil {
		s.args = map[string]wire.UpdateArgs{}
	}
	s.args[dev] = req.Args
	return nil
}

func (s *sent) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.cmds
	s.cmds = nil
	return out
}

// fleet is what the hub has heard from the mirrors.
type fleet struct {
	mu      sync.Mutex
	mirrors map[string]rollout.Mirror
	groups  map[string]string
}

func (f *fleet) Mirrors(context.Context) (map[string]rollout.Mirror, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]rollout.Mirror{}
	for k, v := range f.mirrors {
		out[k] = v
	}
	return out, nil
}

func (f *fleet) Groups(context.Context) (map[string]string, error) { return f.groups, nil }

type bench struct {
	t      *testing.T
	path   string
	st     *sqlite.Store
	pub    *sent
	fleet  *fleet
	now    time.Time
	engine *rollout.Engine
}

func newBench(t *testing.T, n int) *bench {
	t.Helper()
	b := &bench{t: t, path: filepath.Join(t.TempDir(), "hub.db"), pub: &sent{}, now: time.Date(2026, 12, 7, 3, 0, 0, 0, time.Local),
		fleet: &fleet{mirrors: map[string]rollout.Mirror{}, groups: map[string]string{}}}
	for i := 1; i <= n; i++ {
		b.fleet.mirrors[fmt.Sprintf("m%d", i)] = rollout.Mirror{State: "online", Version: "1.0", Arch: "arm64"}
	}
	b.open()
	for _, arch := range []string{"arm64", "amd64"} {
		if err := b.st.AddRelease(t.Context(), hubstore.Release{Version: "1.1", Arch: arch, Package: "fitmirror-agent", SHA256: strings.Repeat("a", 64),
			Size: 1000, Signature: "sig", KeyID: "K", CreatedAt: b.now}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// open (re)opens the database and makes a new engine on it: a hub (re)start.
func (b *bench) open() {
	st, err := sqlite.Open(b.path)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { st.Close() })
	b.st = st
	b.engine = b.newEngine(st)
}

func (b *bench) newEngine(st *sqlite.Store) *rollout.Engine {
	return &rollout.Engine{Store: st, Releases: st, Publisher: b.pub, Fleet: b.fleet, Now: func() time.Time { return b.now }}
}

func (b *bench) step() []string {
	b.t.Helper()
	if err := b.engine.Step(b.t.Context()); err != nil {
		b.t.Fatal(err)
	}
	return b.pub.take()
}

func (b *bench) outcome(device, typ, reason string) {
	data, _ := json.Marshal(wire.Update{Version: "1.1", From: "1.0", Reason: reason})
	b.engine.Observe(b.t.Context(), device, wire.Event{Type: typ, Data: data})
}

func (b *bench) state(id string) *rollout.Rollout {
	b.t.Helper()
	r, err := b.engine.Get(b.t.Context(), id)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

func eq(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestCanaryThenBatches: the canary alone, then batches of two, each only once the one before
// it finished (by an event, or by the status showing the new version); a hub restart in the
// middle goes on where it was.
func TestCanaryThenBatches(t *testing.T) {
	b := newBench(t, 5)
	r, err := b.engine.Start(t.Context(), rollout.Spec{Version: "1.1", All: true, Canary: 1, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.step(); !eq(got, []string{"m1"}) {
		t.Fatalf("first step sent %v, want the canary m1", got)
	}
	if a := b.pub.args["m1"]; a.URL != "/v1/releases/1.1/arm64" || a.SHA256 != strings.Repeat("a", 64) || a.Size != 1000 || a.Signature != "sig" {
		t.Errorf("update args %+v", a)
	}
	if got := b.step(); len(got) != 0 {
		t.Fatalf("a step while the canary updates sent %v", got)
	}
	b.outcome("m1", wire.EventUpdateCommitted, "")
	if got := b.step(); !eq(got, []string{"m2", "m3"}) {
		t.Fatalf("after the canary: sent %v, want m2 m3", got)
	}
	b.outcome("m2", wire.EventUpdateCommitted, "")
	b.fleet.mirrors["m3"] = rollout.Mirror{State: "online", Version: "1.1", Arch: "arm64"} // its event was lost
	b.open()                                                                               // the hub restarts
	if got := b.step(); !eq(got, []string{"m4", "m5"}) {
		t.Fatalf("after the restart: sent %v, want m4 m5", got)
	}
	b.outcome("m4", wire.EventUpdateCommitted, "")
	b.outcome("m5", wire.EventUpdateCommitted, "")
	b.step()
	if s := b.state(r.ID); s.State != rollout.StateDone || s.Counts()[rollout.TargetCommitted] != 5 {
		t.Errorf("rollout %s (%s), counts %v; want done with 5 committed", s.State, s.Reason, s.Counts())
	}
}

// TestStopsPastThreshold: with --max-failures 1 the second failure stops the rollout by
// itself, and no further batch goes out; a mirror that never answers counts as failed.
func TestStopsPastThreshold(t *testing.T) {
	b := newBench(t, 6)
	r, err := b.engine.Start(t.Context(), rollout.Spec{Version: "1.1", All: true, Canary: 1, Batch: 2, MaxFailures: 1, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b.step()
	b.outcome("m1", wire.EventUpdateRolledBack, "not healthy within 2m0s: camera lost")
	if got := b.step(); !eq(got, []string{"m2", "m3"}) {
		t.Fatalf("one failure (allowed): sent %v, want m2 m3", got)
	}
	b.outcome("m2", wire.EventUpdateCommitted, "")
	b.now = b.now.Add(61 * time.Minute) // m3 never answers
	if got := b.step(); len(got) != 0 {
		t.Fatalf("past the threshold: sent %v", got)
	}
	s := b.state(r.ID)
	if s.State != rollout.StateFailed || !strings.Contains(s.Reason, "2 mirrors failed, more than the 1 allowed") {
		t.Errorf("rollout %s: %s", s.State, s.Reason)
	}
	for _, tg := range s.Targets {
		if tg.Device == "m1" && tg.Reason != "not healthy within 2m0s: camera lost" || tg.Device == "m3" && !strings.Contains(tg.Reason, "no outcome within 1h0m0s") {
			t.Errorf("target %+v", tg)
		}
	}
	if _, err := b.engine.Stop(t.Context(), r.ID, "operator"); err == nil {
		t.Error("Stop of a failed rollout succeeded")
	}
}

// TestStopPinsWindowGroup: an operator's stop sends nothing more; a pinned mirror is skipped;
// outside the window nothing goes out; --group picks the store's mirrors.
func TestStopPinsWindowGroup(t *testing.T) {
	b := newBench(t, 4)
	b.fleet.groups = map[string]string{"m1": "shanghai", "m2": "shanghai", "m3": "beijing"}
	if err := b.st.SetPin(t.Context(), "m2", "1.0"); err != nil {
		t.Fatal(err)
	}
	r, err := b.engine.Start(t.Context(), rollout.Spec{Version: "1.1", Group: "shanghai", Window: "02:00-05:00"})
	if err != nil {
		t.Fatal(err)
	}
	b.now = b.now.Add(3 * time.Hour) // 06:00
	if got := b.step(); len(got) != 0 {
		t.Fatalf("outside the window: sent %v", got)
	}
	b.now = b.now.Add(-4 * time.Hour) // 02:00
	if got := b.step(); !eq(got, []string{"m1"}) {
		t.Fatalf("in the window: sent %v, want m1 (m2 pinned, m3 and m4 elsewhere)", got)
	}
	s := b.state(r.ID)
	if len(s.Targets) != 2 || s.Targets[1].State != rollout.TargetSkipped || s.Targets[1].Reason != "pinned to 1.0" {
		t.Errorf("targets %+v", s.Targets)
	}
	r2, err := b.engine.Start(t.Context(), rollout.Spec{Version: "1.1", Devices: []string{"m3", "m4"}, Canary: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.step(); !eq(got, []string{"m3"}) {
		t.Fatalf("second rollout: sent %v", got)
	}
	if _, err := b.engine.Stop(t.Context(), r2.ID, "stopped by ops"); err != nil {
		t.Fatal(err)
	}
	b.outcome("m3", wire.EventUpdateCommitted, "")
	if got := b.step(); len(got) != 0 {
		t.Fatalf("after the stop: sent %v", got)
	}
	if s := b.state(r2.ID); s.State != rollout.StateStopped || s.Reason != "stopped by ops" {
		t.Errorf("stopped rollout %s %s", s.State, s.Reason)
	}
}

// TestReplicasSendOnce: two hubs on one database step the same rollout at once; every mirror
// gets its command once.
func TestReplicasSendOnce(t *testing.T) {
	b := newBench(t, 40)
	if _, err := b.engine.Start(t.Context(), rollout.Spec{Version: "1.1", All: true, Batch: 10}); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(b.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	engines := []*rollout.Engine{b.engine, b.newEngine(other)}
	seen := map[string]int{}
	for round := 0; round < 8; round++ {
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Add(1)
			go func() { defer wg.Done(); e.Step(t.Context()) }()
		}
		wg.Wait()
		for _, d := range b.pub.take() {
			seen[d]++
			b.outcome(d, wire.EventUpdateCommitted, "")
		}
	}
	if len(seen) != 40 {
		t.Errorf("%d mirrors got a command, want 40", len(seen))
	}
	for d, n := range seen {
		if n != 1 {
			t.Errorf("%s got %d commands", d, n)
		}
	}
}

func TestSpecChecked(t *testing.T) {
	b := newBench(t, 1)
	for _, tt := range []struct {
		s    rollout.Spec
		want string
	}{
		{rollout.Spec{Version: "1.1"}, "exactly one of --devices, --group and --all"},
		{rollout.Spec{Version: "1.1", All: true, Group: "x"}, "exactly one of"},
		{rollout.Spec{Version: "1.1", All: true, Window: "2-5"}, "HH:MM-HH:MM"},
		{rollout.Spec{Version: "1.1", All: true, MaxFailurePct: 120}, "want 0 to 100"},
		{rollout.Spec{Version: "1.1", Devices: []string{"m1", "m1"}}, "named twice"},
		{rollout.Spec{Version: "9.9", All: true}, "no release 9.9"},
		{rollout.Spec{Version: "v1", All: true}, "must start with a digit"},
	} {
		if _, err := b.engine.Start(t.Context(), tt.s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.s, err, tt.want)
		}
	}
}
