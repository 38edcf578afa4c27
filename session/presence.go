package session

import (
	"image"
	"time"
)

// Observation is what the vision pipeline saw in one frame.
type Observation struct {
	At      time.Time       // when the frame was taken (media time in replay)
	Faces   int             // faces counted (big enough, inside the zone)
	Primary image.Rectangle // the shopper's face, in frame coordinates; empty when none
	Frame   image.Point     // frame size
	// Motion is the fraction of the frame (of the zone, when one is set) that changed since
	// the previous analysed frame, 0..1.
	Motion float64
	// Body is motion where the shopper stood: around and below their last face. It is the
	// evidence that someone is still there while the face is hidden (a twirl, a look at the
	// back of a dress).
	Body bool
}

// PresenceConfig is the hysteresis that keeps passers-by out and twirls in.
type PresenceConfig struct {
	// EnterDwell is how long a face must stay before a session opens.
	EnterDwell time.Duration
	// ExitGrace is how long nobody may be seen before the session closes.
	ExitGrace time.Duration
	// BodyHold is how long after the last face body evidence alone (Observation.Body) keeps
	// an open session alive; the exit grace starts after the last face or the last body
	// evidence, whichever is later. 0 = faces only.
	BodyHold time.Duration
}

// DefaultPresence is the embedded default: enter after 1 s, leave after 3 s, body evidence
// holds a session for up to 10 s without a face.
var DefaultPresence = PresenceConfig{EnterDwell: time.Second, ExitGrace: 3 * time.Second, BodyHold: 10 * time.Second}

// dwellGap is the longest run of frames without a face that still counts as one continuous
// arrival: cascades miss a face in single frames, and a blink of a miss must not restart the dwell.
const dwellGap = 500 * time.Millisecond

// Transition is a change of presence.
type Transition int

const (
	NoChange Transition = iota
	Entered
	Left
)

func (t Transition) String() string {
	switch t {
	case Entered:
		return "entered"
	case Left:
		return "left"
	}
	return "none"
}

// Presence turns observations into Entered/Left transitions. It is a pure function of the
// observations and their times, so replay on media time and live runs on wall time agree, and
// two trackers fed the same observations (the vision pipeline's and the engine's) agree too.
// It is not safe for concurrent use.
type Presence struct {
	cfg      PresenceConfig
	present  bool
	haveCand bool
	since    time.Time // start of the current arrival
	lastSeen time.Time // last face
	lastBody time.Time // last body evidence while present
}

// NewPresence returns a tracker with cfg.
func NewPresence(cfg PresenceConfig) *Presence { return &Presence{cfg: cfg} }

// SetConfig changes the thresholds; it takes effect from the next observation.
func (p *Presence) SetConfig(cfg PresenceConfig) { p.cfg = cfg }

// Config returns the thresholds in force.
func (p *Presence) Config() PresenceConfig { return p.cfg }

// Present reports whether a shopper is at the mirror.
func (p *Presence) Present() bool { return p.present }

// Arriving reports whether a face is being watched through its dwell (not yet present).
func (p *Presence) Arriving() bool { return !p.present && p.haveCand }

// LastSeen is the time of the last face (zero before any).
func (p *Presence) LastSeen() time.Time { return p.lastSeen }

// Observe feeds one observation and says whether presence changed with it.
func (p *Presence) Observe(o Observation) Transition {
	if o.Faces > 0 {
		if !p.present && (!p.haveCand || o.At.Sub(p.lastSeen) > dwellGap) {
			p.haveCand, p.since = true, o.At
		}
		p.lastSeen = o.At
		if !p.present && o.At.Sub(p.since) >= p.cfg.EnterDwell {
			p.present, p.haveCand = true, false
			p.lastBody = time.Time{}
			return Entered
		}
		return NoChange
	}
	if p.present {
		if o.Body && p.cfg.BodyHold > 0 && o.At.Sub(p.lastSeen) <= p.cfg.BodyHold {
			p.lastBody = o.At
		}
		last := p.lastSeen
		if p.lastBody.After(last) {
			last = p.lastBody
		}
		if o.At.Sub(last) >= p.cfg.ExitGrace {
			p.present = false
			return Left
		}
		return NoChange
	}
	if p.haveCand && o.At.Sub(p.lastSeen) > dwellGap {
		p.haveCand = false
	}
	return NoChange
}
