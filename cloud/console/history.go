package console

import (
	"encoding/json"
	"math"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Telemetry history: each mirror's telemetry of the last 24 h, one averaged point a minute.
// Each replica keeps what it heard in memory, and writes each minute once it is over to the
// database (Options.Telemetry), a batch a minute for the whole fleet (Console.Run); the
// charts are the database's minutes with those in memory, so that a replica that restarts,
// and every replica on the database, show the same history. A minute is 24 bytes in memory:
// a full day is about 40 KiB a mirror with the rest of what the fleet keeps of it
// (BenchmarkMirrorPage), 40 MB for a fleet of 1,000.

// historyLen is how many minutes a mirror's history keeps.
const historyLen = 24 * 60

// bucket is one minute's telemetry: sums and counts of what came in it.
type bucket struct {
	minute int32 // Unix minutes
	n, tn  uint16
	fps    float32
	cpu    float32
	temp   float32 // sum of the readings that had a temperature (tn of them)
	disk   float32
}

// history is a ring of minutes, grown as telemetry comes (a mirror heard for an hour holds
// 60 buckets, not 1,440).
type history struct {
	b    []bucket
	next int // where the next new minute goes once the ring is full
}

// add takes one telemetry message heard at now.
func (h *history) add(now time.Time, t *wire.Telemetry) {
	minute := int32(now.Unix() / 60)
	var cur *bucket
	if n := len(h.b); n > 0 {
		i := n - 1
		if n == historyLen {
			i = (h.next + historyLen - 1) % historyLen
		}
		switch {
		case h.b[i].minute == minute:
			cur = &h.b[i]
		case h.b[i].minute > minute: // the clock went back: keep the ring in order
			return
		}
	}
	if cur == nil {
		if len(h.b) < historyLen {
			if len(h.b) == cap(h.b) { // grow to at most a day, not append's next size
				nb := make([]bucket, len(h.b), min(max(2*cap(h.b), 16), historyLen))
				copy(nb, h.b)
				h.b = nb
			}
			h.b = append(h.b, bucket{minute: minute})
			cur = &h.b[len(h.b)-1]
		} else {
			h.b[h.next] = bucket{minute: minute}
			cur = &h.b[h.next]
			h.next = (h.next + 1) % historyLen
		}
	}
	if cur.n == math.MaxUint16 {
		return
	}
	cur.n++
	cur.fps += float32(t.FPS)
	cur.cpu += float32(t.CPUPct)
	cur.disk += float32(t.DiskFreeMB)
	if t.TempC != nil {
		cur.tn++
		cur.temp += float32(*t.TempC)
	}
}

// Point is one minute of a mirror's telemetry, averaged: GET /api/mirrors/{id}/telemetry.
type Point struct {
	At   time.Time `json:"at"` // the minute's start, UTC
	FPS  float64   `json:"fps"`
	CPU  float64   `json:"cpu"`
	Temp *float64  `json:"temp"` // null when no reading in the minute had one
	Disk float64   `json:"disk"` // free MB
}

// minutes are the minutes of mirror id after minute after and before minute before, oldest
// first, appended to out as the store keeps them.
func (h *history) minutes(id string, after, before int32, out []hubstore.TelemetryMinute) []hubstore.TelemetryMinute {
	start := 0
	if len(h.b) == historyLen {
		start = h.next
	}
	for i := range h.b {
		b := h.b[(start+i)%len(h.b)]
		if b.minute <= after || b.minute >= before || b.n == 0 {
			continue
		}
		out = append(out, hubstore.TelemetryMinute{Device: id, Minute: int64(b.minute), N: int(b.n), FPS: float64(b.fps), CPU: float64(b.cpu),
			Disk: float64(b.disk), TN: int(b.tn), Temp: float64(b.temp)})
	}
	return out
}

// pointsOf are minutes as the charts take them: averages.
func pointsOf(ms []hubstore.TelemetryMinute) []Point {
	out := make([]Point, 0, len(ms))
	for _, b := range ms {
		if b.N <= 0 {
			continue
		}
		n := float64(b.N)
		p := Point{At: time.Unix(b.Minute*60, 0).UTC(), FPS: round2(b.FPS / n), CPU: round2(b.CPU / n), Disk: round2(b.Disk / n)}
		if b.TN > 0 {
			v := round2(b.Temp / float64(b.TN))
			p.Temp = &v
		}
		out = append(out, p)
	}
	return out
}

// mergeMinutes merges two lists of one mirror's minutes, each oldest first: of a minute in
// both, the one of more messages (a's on a tie).
func mergeMinutes(a, b []hubstore.TelemetryMinute) []hubstore.TelemetryMinute {
	out := make([]hubstore.TelemetryMinute, 0, max(len(a), len(b)))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].Minute < b[0].Minute):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].Minute < a[0].Minute:
			out, b = append(out, b[0]), b[1:]
		default:
			m := a[0]
			if b[0].N > m.N {
				m = b[0]
			}
			out, a, b = append(out, m), a[1:], b[1:]
		}
	}
	return out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Telemetry is the history this replica heard of a mirror in the last 24 h (false when the
// fleet has not heard of it). The console adds what the database keeps (Options.Telemetry).
func (f *Fleet) Telemetry(id string) ([]Point, bool) {
	ms, ok := f.recentMinutes(id)
	return pointsOf(ms), ok
}

// recentMinutes are the minutes of the last 24 h this replica heard of a mirror.
func (f *Fleet) recentMinutes(id string) ([]hubstore.TelemetryMinute, bool) {
	from := int32(f.now().Add(-24*time.Hour).Unix() / 60)
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mirrors[id]
	if m == nil {
		return nil, false
	}
	return m.history.minutes(id, from-1, math.MaxInt32, nil), true
}

// unstoredMinutes are the minutes before minute before not yet stored, of every mirror.
func (f *Fleet) unstoredMinutes(before int32) []hubstore.TelemetryMinute {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []hubstore.TelemetryMinute
	for id, m := range f.mirrors {
		out = m.history.minutes(id, m.stored, before, out)
	}
	return out
}

// markStored notes minutes as stored.
func (f *Fleet) markStored(ms []hubstore.TelemetryMinute) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range ms {
		if m := f.mirrors[x.Device]; m != nil && int32(x.Minute) > m.stored {
			m.stored = int32(x.Minute)
		}
	}
}

// handleConfig keeps a mirror's retained config/desired or config/reported (an empty payload
// clears it). A payload that does not parse is noted on the mirror.
func (f *Fleet) handleConfig(id string, m *mirror, rest string, payload []byte, now time.Time) {
	if rest == "config/desired" {
		m.desired = nil
		if len(payload) == 0 {
			return
		}
		var d wire.Desired
		if err := json.Unmarshal(payload, &d); err != nil {
			m.badPayload = "config/desired: " + truncate(string(payload), 80)
			return
		}
		m.desired = &d
		return
	}
	m.reported = nil
	if len(payload) == 0 {
		return
	}
	var r wire.Reported
	if err := json.Unmarshal(payload, &r); err != nil {
		m.badPayload = "config/reported: " + truncate(string(payload), 80)
		return
	}
	m.reported, m.reportedAt = &r, now
	for key, w := range f.configWaiters {
		if w.mirror == id && w.version == r.Version {
			delete(f.configWaiters, key)
			w.ch <- r
		}
	}
}

// configWaiter waits for a mirror's report of one desired version.
type configWaiter struct {
	mirror  string
	version int64
	ch      chan wire.Reported
}

// waitConfig registers for the report of version of mirror's desired configuration.
func (f *Fleet) waitConfig(mirror string, version int64) (<-chan wire.Reported, func()) {
	ch := make(chan wire.Reported, 1)
	key := randToken()
	f.mu.Lock()
	f.configWaiters[key] = configWaiter{mirror: mirror, version: version, ch: ch}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.configWaiters, key)
		f.mu.Unlock()
	}
}

// ConfigState is a mirror's desired and reported configuration as the console shows them:
// GET /api/mirrors/{id}/config.
type ConfigState struct {
	DesiredVersion  int64           `json:"desired_version"`
	Desired         json.RawMessage `json:"desired"` // the partial configuration sent, null when none
	ReportedVersion int64           `json:"reported_version"`
	AppliedAt       *time.Time      `json:"applied_at,omitempty"`
	Reported        json.RawMessage `json:"reported"` // the mirror's effective configuration, null when none
	Error           *wire.Error     `json:"error,omitempty"`
}

// Config is a mirror's configuration state (false when the fleet has not heard of it).
func (f *Fleet) Config(id string) (ConfigState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.mirrors[id]
	if m == nil {
		return ConfigState{}, false
	}
	var s ConfigState
	if d := m.desired; d != nil {
		s.DesiredVersion, s.Desired = d.Version, validJSON(d.Config)
	}
	if r := m.reported; r != nil {
		s.ReportedVersion, s.Reported = r.Version, validJSON(r.Config)
		if !r.AppliedAt.IsZero() {
			t := r.AppliedAt.UTC()
			s.AppliedAt = &t
		}
		if r.Error != nil {
			s.Error = &wire.Error{Code: visible(r.Error.Code), Message: visible(r.Error.Message)}
		}
	}
	return s, true
}

// validJSON is raw when it is a JSON value, else null.
func validJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return raw
}
