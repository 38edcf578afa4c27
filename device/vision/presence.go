package vision

import (
	"time"

	"github.com/fitmirror/fitmirror/session"
)

// PresenceConfig is the hysteresis that keeps passers-by out and twirls in.
type PresenceConfig struct {
	// EnterDwell is how long a face must stay before a session opens.
	EnterDwell time.Duration
	// ExitGrace is how long nobody may be seen (no face, no body) before the session closes.
	ExitGrace time.Duration
	// BodyHold is how long after the last face the shopper's body alone keeps the session
	// (turned away to see the back of a dress); the exit grace starts after the last face or
	// the last body evidence, whichever is later. 0 = faces only.
	BodyHold time.Duration
}

// DefaultPresence is the embedded default: enter after 1 s, leave after 3 s, the body keeps a
// session for up to 10 s without a face.
var DefaultPresence = PresenceConfig{EnterDwell: time.Second, ExitGrace: 3 * time.Second, BodyHold: 10 * time.Second}

// dwellGap is the longest run of frames without a face that still counts as one continuous
// arrival: detectors miss a face in single frames, and a blink of a miss must not restart the dwell.
const dwellGap = 500 * time.Millisecond

// newcomerGap: when the shopper has been gone (no face, no body where they stood) for this
// long and a face arrives, it is someone else — the session closes at once and the newcomer
// gets a session of their own after the dwell. One shopper, one session: merging two would
// hand the second shopper the first one's photos.
const newcomerGap = time.Second

// Sighting is what the analyser made of one frame for the presence tracker.
type Sighting struct {
	At   time.Time
	Face bool // a person's face (not scenery) was seen
	Body bool // the shopper's body is where they stood
}

// Presence turns sightings into Entered/Left transitions. It is a pure function of the
// sightings and their times, so replay on media time and live runs on wall time agree. The
// vision Analyzer runs the only one: the session engine follows its decisions
// (session.Observation.Change). It is not safe for concurrent use.
type Presence struct {
	cfg      PresenceConfig
	present  bool
	haveCand bool
	since    time.Time // start of the current arrival
	lastSeen time.Time // last face
	lastBody time.Time // last body evidence while present
	gone     time.Time // first sighting of nothing while present; zero while someone is seen
}

// NewPresence returns a tracker with cfg.
func NewPresence(cfg PresenceConfig) *Presence { return &Presence{cfg: cfg} }

// SetConfig changes the thresholds; it takes effect from the next sighting.
func (p *Presence) SetConfig(cfg PresenceConfig) { p.cfg = cfg }

// Config returns the thresholds in force.
func (p *Presence) Config() PresenceConfig { return p.cfg }

// Present reports whether a shopper is at the mirror.
func (p *Presence) Present() bool { return p.present }

// Arriving reports whether a face is being watched through its dwell (not yet present).
func (p *Presence) Arriving() bool { return !p.present && p.haveCand }

// LastSeen is the time of the last face (zero before any).
func (p *Presence) LastSeen() time.Time { return p.lastSeen }

// Backdate says that the face seen at time at was first seen at since (a face that had to show
// life before it counted): its dwell counts from since. No change while someone is present.
func (p *Presence) Backdate(since, at time.Time) {
	if p.present || since.After(at) {
		return
	}
	if !p.haveCand || since.Before(p.since) {
		p.haveCand, p.since = true, since
	}
	p.lastSeen = at
}

// Observe feeds one sighting and says whether presence changed with it.
func (p *Presence) Observe(s Sighting) session.Transition {
	if s.Face {
		if p.present && !p.gone.IsZero() && s.At.Sub(p.gone) >= newcomerGap {
			// The shopper was gone and a face arrives: a newcomer. Close now; their own
			// dwell starts with this face.
			p.present, p.gone = false, time.Time{}
			p.haveCand, p.since, p.lastSeen = true, s.At, s.At
			return session.Left
		}
		if !p.present && (!p.haveCand || s.At.Sub(p.lastSeen) > dwellGap) {
			p.haveCand, p.since = true, s.At
		}
		p.lastSeen, p.gone = s.At, time.Time{}
		if !p.present && s.At.Sub(p.since) >= p.cfg.EnterDwell {
			p.present, p.haveCand = true, false
			p.lastBody = time.Time{}
			return session.Entered
		}
		return session.NoChange
	}
	if p.present {
		// Body evidence back after the shopper was gone for newcomerGap is someone coming in
		// (as a face would be: see newcomerGap), not the shopper: it does not hold the session.
		back := !p.gone.IsZero() && s.At.Sub(p.gone) >= newcomerGap
		if s.Body && p.cfg.BodyHold > 0 && s.At.Sub(p.lastSeen) <= p.cfg.BodyHold && !back {
			p.lastBody, p.gone = s.At, time.Time{}
		} else if p.gone.IsZero() {
			p.gone = s.At
		}
		last := p.lastSeen
		if p.lastBody.After(last) {
			last = p.lastBody
		}
		if s.At.Sub(last) >= p.cfg.ExitGrace {
			p.present, p.gone = false, time.Time{}
			return session.Left
		}
		return session.NoChange
	}
	if p.haveCand && s.At.Sub(p.lastSeen) > dwellGap {
		p.haveCand = false
	}
	return session.NoChange
}
