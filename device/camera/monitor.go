package camera

import (
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Status is the health of a camera feed, as reported in telemetry (docs/contracts.md §1).
type Status string

const (
	StatusOK     Status = "ok"
	StatusLost   Status = "lost"   // cannot open, read errors, or no frame for FrozenAfter
	StatusFrozen Status = "frozen" // frames keep coming but are identical
)

// MonitorOptions configure a Monitor.
type MonitorOptions struct {
	// FrozenAfter is how long a feed may deliver no frame, or only identical frames,
	// before it is reported lost or frozen. 0 = 5 s.
	FrozenAfter time.Duration
	// OnChange is called (from the goroutine that fed the monitor) each time the status
	// changes, with a one-line reason. The agent turns a change away from ok into
	// camera.lost and a change back to ok into camera.restored.
	OnChange func(s Status, reason string)
}

// Monitor watches a camera feed for the ways live cameras fail: unplugged (read errors),
// stalled (no frames), frozen (a driver or stream repeating its last frame). It is a pure
// function of the times and fingerprints it is fed, and safe for concurrent use: the frame
// loop calls Frame and Failed, a ticker calls Check.
type Monitor struct {
	opts MonitorOptions

	mu        sync.Mutex
	status    Status
	started   bool
	lastFrame time.Time // last frame of any kind
	lastFP    uint64
	sameSince time.Time // first frame of the current run of identical frames
}

// NewMonitor returns a monitor in the ok state.
func NewMonitor(opts MonitorOptions) *Monitor {
	if opts.FrozenAfter <= 0 {
		opts.FrozenAfter = 5 * time.Second
	}
	return &Monitor{opts: opts, status: StatusOK}
}

// Status is the current status.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Opened records that the camera opened at t: the no-frame clock starts from here.
func (m *Monitor) Opened(t time.Time) {
	m.mu.Lock()
	m.started, m.lastFrame, m.sameSince, m.lastFP = true, t, time.Time{}, 0
	m.mu.Unlock()
}

// Frame records a frame read at t with fingerprint fp (see Fingerprint).
func (m *Monitor) Frame(t time.Time, fp uint64) {
	m.mu.Lock()
	m.started = true
	if m.sameSince.IsZero() || fp != m.lastFP {
		m.sameSince, m.lastFP = t, fp
	}
	m.lastFrame = t
	var s Status
	var why string
	if t.Sub(m.sameSince) >= m.opts.FrozenAfter {
		s, why = StatusFrozen, fmt.Sprintf("identical frames for %v", t.Sub(m.sameSince).Round(100*time.Millisecond))
	} else {
		s, why = StatusOK, "frames arriving"
	}
	m.set(s, why)
}

// Failed records that opening or reading the camera failed.
func (m *Monitor) Failed(t time.Time, err error) {
	m.mu.Lock()
	m.set(StatusLost, err.Error())
}

// Check notices a feed that stopped delivering: no frame for FrozenAfter means lost.
func (m *Monitor) Check(now time.Time) {
	m.mu.Lock()
	if m.started && m.status == StatusOK && now.Sub(m.lastFrame) >= m.opts.FrozenAfter {
		m.set(StatusLost, fmt.Sprintf("no frame for %v", now.Sub(m.lastFrame).Round(100*time.Millisecond)))
		return
	}
	m.mu.Unlock()
}

// set changes the status and unlocks m.mu before calling OnChange.
func (m *Monitor) set(s Status, why string) {
	changed := s != m.status
	m.status = s
	m.mu.Unlock()
	if changed && m.opts.OnChange != nil {
		m.opts.OnChange(s, why)
	}
}

// Fingerprint is a cheap hash of a frame's pixels (a sample of about 16k bytes): two frames
// of a live sensor differ by noise, so equal fingerprints mean a repeated frame.
func Fingerprint(frame gocv.Mat) uint64 {
	if frame.Empty() || !frame.IsContinuous() {
		return 0
	}
	b, err := frame.DataPtrUint8()
	if err != nil || len(b) == 0 {
		return 0
	}
	step := max(1, len(b)/16384)
	h := fnv.New64a()
	var buf [512]byte
	n := 0
	for i := 0; i < len(b); i += step {
		buf[n] = b[i]
		n++
		if n == len(buf) {
			h.Write(buf[:])
			n = 0
		}
	}
	h.Write(buf[:n])
	return h.Sum64()
}
