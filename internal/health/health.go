// Package health is the agent's one account of itself, in the spirit of tailscale's
// health.Tracker: each part of the mirror (camera, display, storage, broker, hub, detector,
// clock, and the two loops) sets itself healthy or names what is wrong, and everything that
// reports health — /healthz, the retained MQTT status, telemetry, the status screen, the
// metrics, the systemd watchdog — reads the same [Tracker].
//
// A part weighs [Degraded] (the mirror still serves shoppers: a lost display is the
// exception that the installer must see, a full disk, a broker that is down) or [Unhealthy]
// (it cannot: no camera, a stalled loop). The overall status is the worst of the parts.
package health

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Level is how much a part that is not healthy weighs on the overall status.
type Level int

const (
	// Degraded parts make the status "degraded": the mirror still serves a shopper.
	Degraded Level = iota + 1
	// Unhealthy parts make the status "unhealthy": the mirror cannot serve a shopper.
	Unhealthy
)

// Tracker holds each part's state. It is safe for concurrent use.
type Tracker struct {
	now     func() time.Time
	started time.Time

	mu    sync.Mutex
	parts map[string]*part
	subs  []func(Report)
	gen   uint64 // bumped on every change; subscribers are told the newest report only
	sent  uint64
	tell  sync.Mutex // one notification round at a time, in order
}

type part struct {
	level         Level
	state, reason string
	since         time.Time
}

// New returns a Tracker with no parts; now is its clock (nil: time.Now).
func New(now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, started: now(), parts: map[string]*part{}}
}

// Register adds a part in its first state (wire.HealthOK, or wire.HealthStarting while it
// has not yet had a chance to work). Registering again changes only the level.
func (t *Tracker) Register(name string, level Level, state string) {
	t.mu.Lock()
	if p, ok := t.parts[name]; ok {
		p.level = level
		t.mu.Unlock()
		return
	}
	t.parts[name] = &part{level: level, state: state, since: t.now()}
	t.gen++
	t.mu.Unlock()
	t.notify()
}

// SetOK marks a registered part healthy.
func (t *Tracker) SetOK(name string) { t.Set(name, wire.HealthOK, "") }

// Set gives a registered part a state and a reason; wire.HealthOK and wire.HealthStarting
// are healthy, any other state is a problem. Setting an unregistered part does nothing, so
// parts that are not fitted (no broker without mqtt.url) never appear.
func (t *Tracker) Set(name, state, reason string) {
	t.mu.Lock()
	p, ok := t.parts[name]
	if !ok || (p.state == state && p.reason == reason) {
		t.mu.Unlock()
		return
	}
	if p.state != state {
		p.since = t.now()
	}
	p.state, p.reason = state, reason
	t.gen++
	t.mu.Unlock()
	t.notify()
}

// State returns a part's state and reason ("" if it is not registered).
func (t *Tracker) State(name string) (state, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.parts[name]; ok {
		return p.state, p.reason
	}
	return "", ""
}

// OnChange adds f to what is told the report after each change, in order, on the goroutine
// that made the change (f must not block; it may read the tracker). Add subscribers before
// the parts start changing.
func (t *Tracker) OnChange(f func(Report)) {
	t.mu.Lock()
	t.subs = append(t.subs, f)
	t.mu.Unlock()
}

func (t *Tracker) notify() {
	t.tell.Lock()
	defer t.tell.Unlock()
	t.mu.Lock()
	if t.sent == t.gen {
		t.mu.Unlock()
		return
	}
	t.sent = t.gen
	subs := t.subs
	t.mu.Unlock()
	r := t.Report()
	for _, f := range subs {
		f(r)
	}
}

// Report is the tracker at one moment.
type Report struct {
	Status   string            // wire.HealthOK, wire.HealthDegraded or wire.HealthUnhealthy
	Parts    map[string]string // part → state
	Problems []wire.Problem    // the parts that are not healthy, in name order
	Uptime   time.Duration
	levels   map[string]Level
}

// levelOf is the status a broken part gives.
func (r Report) levelOf(part string) string {
	if r.levels[part] == Unhealthy {
		return wire.HealthUnhealthy
	}
	return wire.HealthDegraded
}

// Healthy reports whether no part is broken.
func healthy(state string) bool { return state == wire.HealthOK || state == wire.HealthStarting }

// Report returns every part's state and the overall status.
func (t *Tracker) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{Status: wire.HealthOK, Parts: make(map[string]string, len(t.parts)), Uptime: t.now().Sub(t.started),
		levels: make(map[string]Level, len(t.parts))}
	worst := Level(0)
	for name, p := range t.parts {
		r.Parts[name] = p.state
		r.levels[name] = p.level
		if healthy(p.state) {
			continue
		}
		r.Problems = append(r.Problems, wire.Problem{Part: name, State: p.state, Reason: p.reason, Since: wire.Time{Time: p.since}})
		worst = max(worst, p.level)
	}
	sort.Slice(r.Problems, func(i, j int) bool { return r.Problems[i].Part < r.Problems[j].Part })
	switch worst {
	case Degraded:
		r.Status = wire.HealthDegraded
	case Unhealthy:
		r.Status = wire.HealthUnhealthy
	}
	return r
}

// Without returns the report as if part were not tracked (the fleet's status leaves out the
// broker it is published on: by the time it arrives, the broker is back).
func (r Report) Without(part string) Report {
	out := Report{Status: wire.HealthOK, Parts: make(map[string]string, len(r.Parts)), Uptime: r.Uptime}
	for name, state := range r.Parts {
		if name != part {
			out.Parts[name] = state
		}
	}
	for _, p := range r.Problems {
		if p.Part == part {
			continue
		}
		out.Problems = append(out.Problems, p)
		if out.Status != wire.HealthUnhealthy {
			out.Status = r.levelOf(p.Part)
		}
	}
	return out
}

// OK reports whether every part is healthy.
func (r Report) OK() bool { return r.Status == wire.HealthOK }

// Reason says in one line what is wrong ("display lost: no kiosk page…; storage failing: …"),
// or "" when nothing is.
func (r Report) Reason() string {
	var b []string
	for _, p := range r.Problems {
		s := p.Part + " " + p.State
		if p.Reason != "" {
			s += ": " + p.Reason
		}
		b = append(b, s)
	}
	return strings.Join(b, "; ")
}

// Wire is the report as the body of /healthz.
func (r Report) Wire() wire.Health {
	return wire.Health{Status: r.Status, Parts: r.Parts, Problems: r.Problems, UptimeS: int64(r.Uptime / time.Second)}
}

// ServeHTTP serves the report as JSON: 200 when ok, 503 otherwise (degraded included, so a
// load balancer or a probe sees that something is wrong).
func (t *Tracker) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := t.Report()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !r.OK() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(r.Wire())
}

// LogChanges returns a subscriber that logs each change of what is wrong: a warning naming
// the parts and reasons when something breaks or changes, one line when all is well again.
func LogChanges(log *slog.Logger) func(Report) {
	var last string
	return func(r Report) {
		reason := r.Reason()
		if reason == last {
			return
		}
		last = reason
		if r.OK() {
			log.Info("health: every part is ok again")
			return
		}
		log.Warn("health: "+r.Status, "problems", reason)
	}
}
