package session

import (
	"image"
	"time"
)

// Observation is what the vision pipeline saw in one frame, and what it decided.
type Observation struct {
	At      time.Time       // when the frame was taken (media time in replay)
	Faces   int             // faces counted (big enough, inside the zone, not scenery)
	Primary image.Rectangle // the shopper's face, in frame coordinates; empty when none
	Frame   image.Point     // frame size
	// Motion is the fraction of the frame (of the zone, when one is set) that changed since
	// the previous analysed frame, 0..1.
	Motion float64
	// Body: the shopper's body is where they stood (a person-sized foreground region of the
	// background model), the evidence that they are still there while the face is hidden.
	Body bool
	// Change is the presence decision made with this frame by the vision pipeline, the one
	// owner of presence: Entered opens a session, Left closes it.
	Change Transition
}

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
