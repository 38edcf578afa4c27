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

// A watched part starts "starting", is lost exactly After with no probe having worked (not a
// check earlier), ok while a probe works, and lost again exactly After the moment it stopped
// working, whenever the checks fall.
func TestWatchLostAfter(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	tr.Register(wire.PartDisplay, Degraded, wire.HealthStarting)
	var attachedAt, detachedAt time.Time // the kiosk's page
	page := func() time.Time {
		if !attachedAt.IsZero() && detachedAt.IsZero() {
			return c.t
		}
		return detachedAt
	}
	w := &Watch{Tracker: tr, Part: wire.PartDisplay, Probes: []func() time.Time{func() time.Time { return time.Time{} }, page},
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
	attachedAt = c.t
	step(time.Second)
	if state() != "ok" {
		t.Fatalf("page attached: %s, want ok", state())
	}
	c.add(700 * time.Millisecond) // the page leaves between two checks
	detachedAt = c.t
	step(300 * time.Millisecond)
	step(29 * time.Second)
	if state() != "ok" {
		t.Fatalf("29.3 s after the page left: %s, want still ok", state())
	}
	step(time.Second)
	if s, reason := tr.State(wire.PartDisplay); s != "lost" || reason != "no kiosk page" {
		t.Fatalf("30.3 s after the page left: %s %q, want lost", s, reason)
	}
}

// With After 0 (the clock), a probe that works now keeps the part ok; one that does not
// makes it lost at once.
func TestWatchWithoutGrace(t *testing.T) {
	c := newClock()
	tr := New(c.now)
	tr.Register(wire.PartClock, Degraded, wire.HealthOK)
	set := true
	w := &Watch{Tracker: tr, Part: wire.PartClock, Lost: "unset", Probes: []func() time.Time{func() time.Time {
		if set {
			return c.t
		}
		return time.Time{}
	}}}
	w.Check(c.t)
	if s, _ := tr.State(wire.PartClock); s != "ok" {
		t.Fatalf("clock set: %s, want ok", s)
	}
	set = false
	c.add(time.Second)
	w.Check(c.t)
	if s, _ := tr.State(wire.PartClock); s != "unset" {
		t.Fatalf("clock not set: %s, want unset", s)
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

func TestReportWithout(t *testing.T) {
	tr := New(nil)
	tr.Register(wire.PartBroker, Degraded, wire.HealthOK)
	tr.Register(wire.PartCamera, Unhealthy, wire.HealthOK)
	tr.Register(wire.PartDisplay, Degraded, wire.HealthOK)
	tr.Set(wire.PartBroker, "down", "x")
	if r := tr.Report().Without(wire.PartBroker); !r.OK() || len(r.Problems) != 0 {
		t.Errorf("only the broker down, without it: %+v, want ok", r)
	}
	tr.Set(wire.PartDisplay, "lost", "y")
	if r := tr.Report().Without(wire.PartBroker); r.Status != wire.HealthDegraded || r.Reason() != "display lost: y" {
		t.Errorf("broker and display, without the broker: %+v", r)
	}
	tr.Set(wire.PartCamera, "lost", "z")
	if r := tr.Report().Without(wire.PartBroker); r.Status != wire.HealthUnhealthy || len(r.Problems) != 2 {
		t.Errorf("camera lost too: %+v, want unhealthy", r)
	}
}
