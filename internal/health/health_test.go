package health

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time        { return c.t }
func (c *clock) add(d time.Duration)   { c.t = c.t.Add(d) }
func newClock() *clock                 { return &clock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }
func parts(r Report) map[string]string { return r.Parts }
func problems(r Report) []string {
	var s []string
	for _, p := range r.Problems {
		s = append(s, p.Part+"="+p.State)
	}
	return s
}

// The overall status is the worst part's level; starting is healthy; an unregistered part
// never appears; subscribers hear each change once, in order.
func TestTrackerLevels(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	var heard []string
	tr.OnChange(func(r Report) { heard = append(heard, r.Status) })
	tr.Register(wire.PartCamera, Unhealthy, wire.HealthStarting)
	tr.Register(wire.PartDisplay, Degraded, wire.HealthOK)
	tr.Set(wire.PartBroker, "down", "not fitted") // not registered: ignored
	if r := tr.Report(); r.Status != wire.HealthOK || len(r.Problems) != 0 || !reflect.DeepEqual(parts(r), map[string]string{"camera": "starting", "display": "ok"}) {
		t.Fatalf("fresh report = %+v", r)
	}
	tr.Set(wire.PartDisplay, "lost", "no page")
	tr.Set(wire.PartDisplay, "lost", "no page") // no change: no notification
	if r := tr.Report(); r.Status != wire.HealthDegraded || r.Reason() != "display lost: no page" {
		t.Errorf("display lost: %+v (%q)", r, r.Reason())
	}
	c.add(time.Second)
	tr.Set(wire.PartCamera, "lost", "unplugged")
	r := tr.Report()
	if r.Status != wire.HealthUnhealthy || !reflect.DeepEqual(problems(r), []string{"camera=lost", "display=lost"}) {
		t.Errorf("camera and display lost: %+v", r)
	}
	if got := r.Problems[0].Since.Time; !got.Equal(c.t) {
		t.Errorf("camera lost since %v, want %v", got, c.t)
	}
	tr.SetOK(wire.PartCamera)
	tr.SetOK(wire.PartDisplay)
	want := []string{"ok", "ok", "degraded", "unhealthy", "degraded", "ok"}
	if !reflect.DeepEqual(heard, want) {
		t.Errorf("subscribers heard %v, want %v", heard, want)
	}
}

func TestServeHTTP(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	tr.Register(wire.PartStorage, Degraded, wire.HealthOK)
	c.add(90 * time.Second)
	for _, tc := range []struct {
		set      func()
		code     int
		status   string
		problems int
	}{
		{func() {}, 200, "ok", 0},
		{func() { tr.Set(wire.PartStorage, "failing", "disk full") }, 503, "degraded", 1},
	} {
		tc.set()
		rec := httptest.NewRecorder()
		tr.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var h wire.Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		if rec.Code != tc.code || h.Status != tc.status || len(h.Problems) != tc.problems || h.UptimeS != 90 || h.Parts["storage"] == "" {
			t.Errorf("/healthz = %d %s, want %d %s with %d problems", rec.Code, rec.Body, tc.code, tc.status, tc.problems)
		}
	}
}

// A watched part stays ok while a probe succeeds, starts "starting", and is lost exactly
// After with no probe succeeding (not a tick earlier); one success makes it ok again.
func TestWatchLostAfter(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	tr.Register(wire.PartDisplay, Degraded, wire.HealthStarting)
	attached := false
	w := &Watch{Tracker: tr, Part: wire.PartDisplay, Probes: []func() bool{func() bool { return false }, func() bool { return attached }},
		After: 30 * time.Second, Lost: "lost", Reason: "no kiosk page"}
	state := func() string { s, _ := tr.State(wire.PartDisplay); return s }
	step := func(d time.Duration) { c.add(d); w.Check(c.t) }
	step(0)
	step(29 * time.Second)
	if state() != "starting" {
		t.Fatalf("29 s after start with no page: %s, want starting", state())
	}
	step(time.Second)
	if state() != "lost" {
		t.Fatalf("30 s after start with no page: %s, want lost", state())
	}
	attached = true
	step(time.Second)
	if state() != "ok" {
		t.Fatalf("page attached: %s, want ok", state())
	}
	attached = false
	step(29 * time.Second)
	if state() != "ok" {
		t.Fatalf("29 s after the page left: %s, want still ok", state())
	}
	step(time.Second)
	if s, reason := tr.State(wire.PartDisplay); s != "lost" || reason != "no kiosk page" {
		t.Fatalf("30 s after the page left: %s %q, want lost", s, reason)
	}
}

func TestWatchdogCheck(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	w := NewWatchdog(tr, 2*time.Second, nil)
	beat := w.Loop(wire.PartPipeline)
	c.add(time.Second)
	beat()
	c.add(2 * time.Second)
	if !w.Check(c.t) || tr.Report().Status != wire.HealthOK {
		t.Fatalf("2 s after a beat: %+v, want alive", tr.Report())
	}
	c.add(time.Second)
	if w.Check(c.t) {
		t.Fatal("3 s after a beat with stall_after 2 s: alive, want stalled")
	}
	if s, _ := tr.State(wire.PartPipeline); s != "stalled" || tr.Report().Status != wire.HealthUnhealthy {
		t.Fatalf("pipeline %s, status %s: want stalled, unhealthy", s, tr.Report().Status)
	}
	beat()
	if !w.Check(c.t) {
		t.Fatal("a beat did not revive the loop")
	}
}
