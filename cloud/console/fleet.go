package console

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// Console states of a mirror. Silent is the console's own: the mirror's status says online
// or degraded, but no telemetry came for Options.SilentAfter (a half-open connection, a hung
// agent, a broker that has not noticed).
const (
	StateOnline   = wire.StateOnline
	StateDegraded = wire.StateDegraded
	StateOffline  = wire.StateOffline
	StateSilent   = "silent"
)

// stateRank orders the fleet: problems first.
var stateRank = map[string]int{StateOffline: 0, StateSilent: 1, StateDegraded: 2, StateOnline: 3}

// maxResults is how many command results the console keeps per mirror.
const maxResults = 10

// Fleet is what the hub hears of the mirrors over MQTT: the retained status, the latest
// telemetry and the command results of each. Handle takes the messages; Mirrors reports.
// Everything a mirror sends is kept as data, never interpreted as markup.
type Fleet struct {
	prefix string
	now    func() time.Time

	mu      sync.Mutex
	mirrors map[string]*mirror
	waiters map[string]waiter // command request ID → who waits for its result
	// configWaiters wait for a mirror's report of a desired configuration version.
	configWaiters map[string]configWaiter
}

// waiter waits for the result of one command request to one mirror.
type waiter struct {
	mirror string
	ch     chan Result
}

type mirror struct {
	status     wire.Status
	hasStatus  bool
	statusAt   time.Time // when the hub got the status
	tele       *wire.Telemetry
	teleAt     time.Time
	results    []Result
	badPayload string         // the last message that did not parse
	history    history        // per-minute telemetry of the last 24 h
	stored     int32          // the newest minute of history written to the database
	desired    *wire.Desired  // the retained config/desired
	reported   *wire.Reported // the retained config/reported
	reportedAt time.Time
}

// Result is a command's result as the console shows it.
type Result struct {
	ID      string          `json:"id"`
	Command string          `json:"command"`
	OK      bool            `json:"ok"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   *wire.Error     `json:"error,omitempty"`
	At      time.Time       `json:"at"`
}

// NewFleet returns an empty fleet for topics under prefix ("" = "mirror").
func NewFleet(prefix string, now func() time.Time) *Fleet {
	if prefix == "" {
		prefix = wire.DefaultTopicPrefix
	}
	if now == nil {
		now = time.Now
	}
	return &Fleet{prefix: prefix, now: now, mirrors: map[string]*mirror{}, waiters: map[string]waiter{}, configWaiters: map[string]configWaiter{}}
}

// Filters are the topics Handle takes: subscribe to each.
func (f *Fleet) Filters() []string {
	return []string{f.prefix + "/+/status", f.prefix + "/+/telemetry", f.prefix + "/+/cmd/+/result",
		f.prefix + "/+/config/desired", f.prefix + "/+/config/reported"}
}

// Handle takes one message of a mirror's status, telemetry or command result topic. Topics
// of no valid device ID and payloads that do not parse are ignored (the latter noted on the
// mirror).
func (f *Fleet) Handle(topic string, payload []byte) {
	id, ok := wire.DeviceOf(f.prefix, topic)
	if !ok || !wire.ValidDeviceID(id) {
		return
	}
	rest := strings.TrimPrefix(topic, f.prefix+"/"+id+"/")
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mirrors[id]
	if m == nil {
		if len(payload) == 0 { // a cleared retained status of a mirror never seen
			return
		}
		m = &mirror{}
		f.mirrors[id] = m
	}
	switch {
	case rest == "status":
		if len(payload) == 0 {
			delete(f.mirrors, id) // the retained status was cleared: the mirror is gone
			return
		}
		var st wire.Status
		if err := json.Unmarshal(payload, &st); err != nil || st.State == "" {
			m.badPayload = "status: " + truncate(string(payload), 80)
			return
		}
		m.status, m.hasStatus, m.statusAt = st, true, now
	case rest == "telemetry":
		var t wire.Telemetry
		if err := json.Unmarshal(payload, &t); err != nil {
			m.badPayload = "telemetry: " + truncate(string(payload), 80)
			return
		}
		m.tele, m.teleAt = &t, now
		m.history.add(now, &t)
	case rest == "config/desired" || rest == "config/reported":
		f.handleConfig(id, m, rest, payload, now)
	case strings.HasPrefix(rest, "cmd/") && strings.HasSuffix(rest, "/result"):
		var r wire.CommandResult
		if err := json.Unmarshal(payload, &r); err != nil {
			return
		}
		res := Result{ID: r.ID, Command: strings.TrimSuffix(strings.TrimPrefix(rest, "cmd/"), "/result"), OK: r.OK, Data: r.Data, Error: r.Error, At: now}
		m.results = append(m.results, res)
		if len(m.results) > maxResults {
			m.results = slices.Delete(m.results, 0, len(m.results)-maxResults)
		}
		if w, ok := f.waiters[r.ID]; ok && w.mirror == id { // another mirror cannot answer for it
			delete(f.waiters, r.ID)
			w.ch <- res
		}
	}
}

// wait registers for the result of command request id to mirror.
func (f *Fleet) wait(mirror, id string) (<-chan Result, func()) {
	ch := make(chan Result, 1)
	f.mu.Lock()
	f.waiters[id] = waiter{mirror: mirror, ch: ch}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.waiters, id)
		f.mu.Unlock()
	}
}

// Mirror is one mirror as GET /api/mirrors lists it.
type Mirror struct {
	ID            string          `json:"id"`
	State         string          `json:"state"`
	Reason        string          `json:"reason,omitempty"`
	LastSeen      *time.Time      `json:"last_seen"`
	Version       string          `json:"version"`
	TargetVersion string          `json:"target_version,omitempty"`
	Arch          string          `json:"arch,omitempty"` // the mirror's Debian architecture, from its status
	Store         string          `json:"store"`
	Problems      []wire.Problem  `json:"problems"`
	CPU           *float64        `json:"cpu"`
	Temp          *float64        `json:"temp"`
	DiskFreeMB    *float64        `json:"disk"`
	FPS           *float64        `json:"fps"`
	Camera        string          `json:"camera,omitempty"`
	Throttled     *wire.Throttled `json:"throttled,omitempty"`
	Results       []Result        `json:"results"`
}

// CameraLost reports whether the mirror's camera is lost or frozen.
func (m Mirror) CameraLost() bool {
	if m.Camera == "lost" || m.Camera == "frozen" {
		return true
	}
	for _, p := range m.Problems {
		if p.Part == wire.PartCamera && (p.State == "lost" || p.State == "frozen") {
			return true
		}
	}
	return false
}

// Mirrors lists the fleet, problems first (offline, silent, degraded, online), then by ID;
// silentAfter is how long without telemetry makes a mirror silent; stores maps mirrors to
// their stores.
func (f *Fleet) Mirrors(silentAfter time.Duration, stores map[string]string) []Mirror {
	now := f.now()
	f.mu.Lock()
	out := make([]Mirror, 0, len(f.mirrors))
	for id, m := range f.mirrors {
		out = append(out, m.view(id, now, silentAfter, stores[id]))
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b Mirror) int {
		if d := stateRank[a.State] - stateRank[b.State]; d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (m *mirror) view(id string, now time.Time, silentAfter time.Duration, store string) Mirror {
	v := Mirror{ID: id, Store: store, Version: visible(m.status.Version), TargetVersion: visible(m.status.TargetVersion), Arch: visible(m.status.Arch),
		State: m.status.State, Reason: visible(m.status.Reason), Problems: []wire.Problem{}, Results: make([]Result, len(m.results))}
	for i, r := range m.results {
		if r.Error != nil {
			r.Error = &wire.Error{Code: visible(r.Error.Code), Message: visible(r.Error.Message)}
		}
		v.Results[i] = r
	}
	seen := m.statusAt
	if t := m.tele; t != nil {
		seen = m.teleAt
		v.CPU, v.Temp, v.DiskFreeMB, v.FPS = ptr(t.CPUPct), t.TempC, ptr(t.DiskFreeMB), ptr(t.FPS)
		v.Camera, v.Throttled = visible(t.Camera), t.Throttled
		for _, p := range t.Problems {
			v.Problems = append(v.Problems, wire.Problem{Part: visible(p.Part), State: visible(p.State), Reason: visible(p.Reason), Since: p.Since})
		}
	}
	if !seen.IsZero() {
		utc := seen.UTC()
		v.LastSeen = &utc
	}
	switch {
	case !m.hasStatus:
		v.State, v.Reason = StateOffline, "no status yet"
		if m.badPayload != "" {
			v.Reason = "unreadable " + visible(m.badPayload)
		}
	case v.State == StateOffline:
	case now.Sub(seen) >= silentAfter:
		v.State, v.Reason = StateSilent, "no telemetry for "+now.Sub(seen).Truncate(time.Second).String()
	case v.State != StateOnline && v.State != StateDegraded:
		v.Reason = "unknown state " + visible(truncate(v.State, 40))
		v.State = StateDegraded
	case len(v.Problems) > 0 && v.State == StateOnline:
		v.State, v.Reason = StateDegraded, problemText(v.Problems[0])
	}
	return v
}

func problemText(p wire.Problem) string {
	s := p.Part + " " + p.State
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

func ptr(v float64) *float64 { return &v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

// LastResult is the newest command result as a line of text ("" when none).
func (m Mirror) LastResult() string {
	if len(m.Results) == 0 {
		return ""
	}
	r := m.Results[len(m.Results)-1]
	return r.Command + ": " + visible(resultText(r))
}
