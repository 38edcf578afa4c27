package vision

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"time"

	"gocv.io/x/gocv"
)

// Gesture actions the session engine understands.
const (
	ActionPhoto = "photo" // take a photo (like the GPIO button)
	ActionNext  = "next"  // next photo / compare
)

// Where the air buttons are when Options.Gestures places them (Options.ButtonPlacement).
const (
	// PlaceFace anchors the buttons to the tracked face: beside the head at shoulder height,
	// scaled with the face (AnchoredButtons). The default.
	PlaceFace = "face"
	// PlaceFixed puts them at fixed regions of the frame (DefaultButtons).
	PlaceFixed = "fixed"
)

// Button is an "air button": a region of the camera image that fires its Action when a hand
// is held still in it for Hold, apart from the shopper's face (see gestures.update for the
// rule). The region is in camera-frame pixels; it must lie inside the frame.
type Button struct {
	Action string
	Region image.Rectangle
	Hold   time.Duration // 0 = 800 ms
}

// ButtonState is what one air button saw on a frame, for the debug view and replay.
type ButtonState struct {
	Action   string
	Region   image.Rectangle // where it was on this frame (empty: off, no face to anchor to)
	Occupied float64         // share of the region that differs from the empty look
	Hand     image.Rectangle // the hand blob taken for a hand (empty: none)
	Skin     float64         // share of the region's foreground of the face's skin colour
	Holding  time.Duration   // how long the hand has been held (0: not holding)
	// Progress is how far the hold has come, 0..1: the time a hand was seen held as a share
	// of the button's hold time (1 from the moment it fires until the hand leaves): the
	// kiosk's ring.
	Progress float64
	Fired    bool
	// Abandoned is the length of a hold that ended on this frame without firing (0: none),
	// counted only from abandonMin: a hand raised too briefly, or that moved off.
	Abandoned time.Duration
}

// DefaultButtons places "photo" to the shopper's right of their head and "next" to their left
// (the camera sees them mirrored), at shoulder height, for a frame of the given size: the
// fixed regions of PlaceFixed.
func DefaultButtons(frame image.Point) []Button {
	w, h := frame.X, frame.Y
	return []Button{
		{Action: ActionPhoto, Region: image.Rect(0, h*15/100, w*18/100, h*50/100), Hold: 800 * time.Millisecond},
		{Action: ActionNext, Region: image.Rect(w*82/100, h*15/100, w, h*50/100), Hold: 800 * time.Millisecond},
	}
}

// AnchoredButtons are the buttons of PlaceFace for a shopper whose face is face: "photo" on
// the image's left of the head, "next" on its right, each a tenth of a face width out from
// the face, 1.3 face widths wide, from a quarter down the face to half a face height below
// the chin — where a hand raised beside the head at shoulder height is. They are clipped to
// the frame; a button with less than a third of its region left in the frame is off (empty
// region).
func AnchoredButtons(face image.Rectangle, frame image.Point) []Button {
	if face.Empty() {
		return []Button{{Action: ActionPhoto, Hold: 800 * time.Millisecond}, {Action: ActionNext, Hold: 800 * time.Millisecond}}
	}
	fw, fh := face.Dx(), face.Dy()
	gap, w := fw/10, fw*13/10
	top, bot := face.Min.Y+fh/4, face.Max.Y+fh/2
	in := func(r image.Rectangle) image.Rectangle {
		c := r.Intersect(image.Rectangle{Max: frame})
		if area(c)*3 < area(r) {
			return image.Rectangle{}
		}
		return c
	}
	return []Button{
		{Action: ActionPhoto, Region: in(image.Rect(face.Min.X-gap-w, top, face.Min.X-gap, bot)), Hold: 800 * time.Millisecond},
		{Action: ActionNext, Region: in(image.Rect(face.Max.X+gap, top, face.Max.X+gap+w, bot)), Hold: 800 * time.Millisecond},
	}
}

func checkButtons(bs []Button, frame image.Point) error {
	for _, b := range bs {
		if b.Action == "" {
			return fmt.Errorf("vision: button at %v: no action", b.Region)
		}
		if b.Region.Empty() || !b.Region.In(image.Rectangle{Max: frame}) {
			return fmt.Errorf("vision: button %q region %v is outside the %d×%d camera frame", b.Action, b.Region, frame.X, frame.Y)
		}
		if b.Hold < 0 {
			return fmt.Errorf("vision: button %q: negative hold %v", b.Action, b.Hold)
		}
	}
	return nil
}

// The hold rule's thresholds (docs/gestures.md says how the real clips set them).
const (
	// A fixed button: a hand covers at least occupied of the region, and less than bodySized
	// (more is a body filling it: a passer-by).
	occupied  = 0.2
	bodySized = 0.85
	// An anchored button: the hand blob is hand-sized for this face, between handMin and
	// handMax of the face box's area (a fist or a palm beside the head measured 0.10–0.45 on
	// the real clips; an arm raised to touch the head 0.50–0.65).
	handMin = 0.1
	handMax = 0.5
	compact = 0.5 // the largest blob holds at least this share of the region's foreground
	// The blob's centre moves at most jitterMax face (or region) widths between frames.
	jitterMax = 0.4
	// A blob overlapping a face box by faceOverlap of its own box is a hand at the face.
	faceOverlap = 0.2
	// A hold starts only with a hand that entered: the region was seen empty (under half the
	// hand's minimum) at most enterWithin before. The shopper's own shoulder, foreground for a
	// few seconds after they walk in, never was.
	enterWithin = 2 * time.Second
	crossWidth  = 2.5 // a moving blob this many region widths wide through the region is a body crossing
	holdGap     = 300 * time.Millisecond
	// A hold is complete holdSlack short of the hold time: a live camera's frame times jitter
	// by a few milliseconds, and a 0.8 s hold seen on 12 frames at 15 fps (exactly 800 ms on
	// media time) must not come out at 799.4 ms and miss. Well under a frame period.
	holdSlack  = 20 * time.Millisecond
	abandonMin = 300 * time.Millisecond // shorter holds that end are not reported
	skinDist   = 12                     // chroma distance (Cr, Cb levels) from the face's that counts as its skin
	skinMin    = 0.6                    // a hand's foreground is at least this share of the face's skin colour
)

// buttonState follows one button.
type buttonState struct {
	Button
	since    time.Time // hold start (zero: not holding)
	emptyAt  time.Time // the region was last seen empty then
	lastOn   time.Time
	fired    bool
	centre   image.Point // the blob's centre on the last frame with a blob …
	centreAt time.Time   // … then
}

// gestures tracks all buttons on the motion gate's small grey frame against a reference of
// the frame's empty look: frame differencing alone loses a hand held still, so each pixel of
// the reference follows the frame quickly where nothing differs from it and slowly where
// something does (a hand held still stays foreground for seconds; a body that moved is
// learnt within a few seconds).
type gestures struct {
	buttons  []*buttonState
	anchored bool // regions follow the face (PlaceFace)
	ref      gocv.Mat
	diff     gocv.Mat
	fg       gocv.Mat
	bgMask   gocv.Mat
	blend    gocv.Mat
	ycc      gocv.Mat // the gate's colour frame in YCrCb
	skin     gocv.Mat // pixels of the face's own skin colour (0/255)
	and      gocv.Mat
	haveSkin bool        // skin holds this frame's mask (a colour frame and a face seen)
	skinLo   gocv.Scalar // the skin colour's bounds, from the last face seen
	skinHi   gocv.Scalar
	skinSet  bool
	haveRef  bool
	face     image.Rectangle // the face the anchored regions follow
	faceAt   time.Time
}

func (g *gestures) set(bs []Button, anchored bool) {
	g.closeMats()
	g.buttons, g.anchored, g.haveRef = nil, anchored, false
	if len(bs) == 0 {
		return
	}
	for _, b := range bs {
		if b.Hold == 0 {
			b.Hold = 800 * time.Millisecond
		}
		g.buttons = append(g.buttons, &buttonState{Button: b})
	}
	g.ref, g.diff, g.fg, g.bgMask, g.blend = gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	g.ycc, g.skin, g.and = gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
}

// frameCue is what the whole frame says to every button on one analysed frame.
type frameCue struct {
	at     time.Time
	faces  []image.Rectangle // faces of people on this frame
	motion []image.Rectangle // the motion gate's blobs (full-frame pixels)
	armed  bool              // a shopper is at the mirror: presses count
	size   image.Point
}

// update measures every button on the gate's current grey frame and returns the actions that
// fire now and what each button saw. primary is the shopper's face on this frame (empty: none
// seen; the anchored buttons stay where the last face put them for 1.5 s).
func (g *gestures) update(gate *motionGate, c frameCue, primary image.Rectangle, threshold int) ([]string, []ButtonState) {
	if len(g.buttons) == 0 || gate.grey.Empty() {
		return nil, nil
	}
	if !g.haveRef || g.ref.Cols() != gate.grey.Cols() || g.ref.Rows() != gate.grey.Rows() {
		gate.grey.CopyTo(&g.ref)
		g.haveRef = true
	}
	gocv.AbsDiff(gate.grey, g.ref, &g.diff)
	gocv.Threshold(g.diff, &g.fg, float32(threshold), 255, gocv.ThresholdBinary)
	switch {
	case !primary.Empty():
		g.face, g.faceAt = primary, c.at
	case c.at.Sub(g.faceAt) > 1500*time.Millisecond:
		g.face = image.Rectangle{}
	}
	g.skinMask(gate, primary)
	if g.anchored && !primary.Empty() {
		// The head moving (a nod, a lean towards the raised hand) is not hand evidence.
		gocv.Rectangle(&g.fg, gate.toGate(primary), color.RGBA{}, -1)
	}
	var anchors []Button
	if g.anchored {
		anchors = AnchoredButtons(g.face, c.size)
	}
	var fired []string
	states := make([]ButtonState, 0, len(g.buttons))
	for i, b := range g.buttons {
		region := b.Region
		if g.anchored {
			region = anchors[i%len(anchors)].Region
		}
		st := g.press(gate, b, region, c)
		if st.Fired {
			fired = append(fired, b.Action)
		}
		states = append(states, st)
	}
	g.learn(gate, states)
	return fired, states
}

// press applies the hold rule to one button on this frame (docs/gestures.md). A frame counts
// when the region holds a hand: hand-sized (handSize), one compact blob (compact), of the
// shopper's skin colour (skinMin), entered into an empty region (enterWithin), apart from every
// face (faceOverlap), with no body crossing (crossWidth). A hold is a run of such frames with
// gaps under holdGap and no jump of the blob (jitterMax); held for Hold it fires once, if armed.
func (g *gestures) press(gate *motionGate, b *buttonState, region image.Rectangle, c frameCue) ButtonState {
	st := ButtonState{Action: b.Action, Region: region}
	r := gate.toGate(region)
	if region.Empty() || r.Empty() {
		st.Abandoned = b.end(c.at)
		return st
	}
	ev := g.measure(gate, r)
	st.Occupied, st.Skin = ev.occupied, ev.skin
	scale := region.Dx()
	if !g.face.Empty() {
		scale = g.face.Dx()
	}
	size := handSize(ev, g.anchored, g.face)
	if size < 0.5 {
		b.emptyAt = c.at
	}
	holding := !b.since.IsZero() && c.at.Sub(b.lastOn) <= holdGap
	entered := holding || (!b.emptyAt.IsZero() && c.at.Sub(b.emptyAt) <= enterWithin)
	on := size >= 1 && size <= handMax/handMin && ev.share >= compact && ev.skin >= skinMin && entered &&
		!touchesFace(ev.box, c.faces, g.face) && !crossing(region, c.motion)
	// A jump of the blob between this frame and the last one with a blob, on or not.
	jump := !ev.box.Empty() && !b.centreAt.IsZero() && c.at.Sub(b.centreAt) <= holdGap &&
		dist(ev.centre, b.centre) > jitterMax*float64(scale)
	if !ev.box.Empty() {
		b.centre, b.centreAt = ev.centre, c.at
	}
	if !on && jump {
		st.Abandoned = b.end(c.at) // the hand moved off
	}
	if on {
		st.Hand = ev.box
		if !holding || jump {
			st.Abandoned = b.end(c.at)
			b.since, b.fired = c.at, false
		}
		b.lastOn = c.at
		if c.armed && !b.fired && c.at.Sub(b.since) >= b.Hold-holdSlack {
			b.fired, st.Fired = true, true
		}
	}
	if !on && c.at.Sub(b.lastOn) > holdGap {
		st.Abandoned = max(st.Abandoned, b.end(c.at))
	}
	if !b.since.IsZero() {
		st.Holding = c.at.Sub(b.since)
		// The ring follows the time a hand was seen held, not the gap after it.
		st.Progress = min(1, float64(b.lastOn.Sub(b.since))/float64(b.Hold-holdSlack))
		if b.fired {
			st.Progress = 1
		}
	}
	return st
}

// end ends b's hold, if any, and returns how long it was held when it ends unfired and lasted
// abandonMin or more (0 otherwise).
func (b *buttonState) end(at time.Time) time.Duration {
	if b.since.IsZero() {
		return 0
	}
	held := b.lastOn.Sub(b.since)
	fired := b.fired
	b.since = time.Time{}
	if fired || held < abandonMin {
		return 0
	}
	return held
}

// handEvidence is what the foreground in a region looks like.
type handEvidence struct {
	occupied float64         // share of the region that is foreground
	area     float64         // the largest blob's area (full-frame pixels)
	skin     float64         // share of the foreground of the face's skin colour
	share    float64         // share of that foreground in the largest blob
	box      image.Rectangle // the largest blob (full-frame pixels)
	centre   image.Point     // … its centroid
}

// skinMask marks the gate pixels of the colour of the shopper's skin: within skinDist of the
// chroma (Cr, Cb) of the middle of their face box, whatever the brightness, so a hand is told
// from a shirt, a wall or a poster by the shopper's own colour rather than by a fixed skin
// model. On a frame without a face the last face's colour stands.
func (g *gestures) skinMask(gate *motionGate, face image.Rectangle) {
	g.haveSkin = false
	if gate.small.Channels() != 3 {
		return
	}
	gocv.CvtColor(gate.small, &g.ycc, gocv.ColorBGRToYCrCb)
	if fr := gate.toGate(face.Inset(face.Dx() / 4)); !face.Empty() && !fr.Empty() {
		mid := g.ycc.Region(fr)
		m := mid.Mean()
		mid.Close()
		g.skinLo = gocv.NewScalar(0, m.Val2-skinDist, m.Val3-skinDist, 0)
		g.skinHi = gocv.NewScalar(255, m.Val2+skinDist, m.Val3+skinDist, 0)
		g.skinSet = true
	}
	if g.skinSet {
		gocv.InRangeWithScalar(g.ycc, g.skinLo, g.skinHi, &g.skin)
		g.haveSkin = true
	}
}

// skinShare is the share of the foreground in gate rectangle r that has the shopper's skin
// colour (1 when there is no colour, or no face has been seen to compare with).
func (g *gestures) skinShare(r image.Rectangle, n int) float64 {
	if !g.haveSkin || n == 0 {
		return 1
	}
	fg, sk := g.fg.Region(r), g.skin.Region(r)
	defer fg.Close()
	defer sk.Close()
	gocv.BitwiseAnd(fg, sk, &g.and)
	return float64(gocv.CountNonZero(g.and)) / float64(n)
}

// measure finds the foreground of gate rectangle r and its largest blob.
func (g *gestures) measure(gate *motionGate, r image.Rectangle) handEvidence {
	patch := g.fg.Region(r)
	defer patch.Close()
	n := gocv.CountNonZero(patch)
	ev := handEvidence{occupied: float64(n) / float64(r.Dx()*r.Dy())}
	if n == 0 {
		return ev
	}
	ev.skin = g.skinShare(r, n)
	labels, stats, cents := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer labels.Close()
	defer stats.Close()
	defer cents.Close()
	k := gocv.ConnectedComponentsWithStats(patch, &labels, &stats, &cents)
	best, bestArea := 0, 0
	for i := 1; i < k; i++ {
		if a := int(stats.GetIntAt(i, int(gocv.CC_STAT_AREA))); a > bestArea {
			best, bestArea = i, a
		}
	}
	if best == 0 {
		return ev
	}
	ev.share = float64(bestArea) / float64(n)
	ev.area = float64(bestArea) * gate.scale * gate.scale
	x, y := int(stats.GetIntAt(best, 0)), int(stats.GetIntAt(best, 1))
	w, h := int(stats.GetIntAt(best, 2)), int(stats.GetIntAt(best, 3))
	ev.box = gate.toFrame(image.Rect(r.Min.X+x, r.Min.Y+y, r.Min.X+x+w, r.Min.Y+y+h))
	cx, cy := cents.GetDoubleAt(best, 0)+float64(r.Min.X), cents.GetDoubleAt(best, 1)+float64(r.Min.Y)
	ev.centre = image.Pt(int(cx*gate.scale), int(cy*gate.scale))
	return ev
}

// learn moves the reference towards the frame: quickly where nothing differs from it, more
// slowly where something does (a shopper's shoulder, foreground when they walk in, is learnt
// within about two seconds), and not at all in a region where a hand is being held (for up to
// protectHold), so the hand is not learnt away during its hold.
func (g *gestures) learn(gate *motionGate, states []ButtonState) {
	var kept []gocv.Mat
	var at []image.Rectangle
	for _, st := range states {
		if r := gate.toGate(st.Region); st.Holding > 0 && st.Holding < protectHold && !r.Empty() {
			patch := g.ref.Region(r)
			kept, at = append(kept, patch.Clone()), append(at, r)
			patch.Close()
		}
	}
	gocv.AddWeighted(g.ref, 1-fgLearn, gate.grey, fgLearn, 0, &g.ref)
	gocv.AddWeighted(g.ref, 0.9, gate.grey, 0.1, 0, &g.blend)
	gocv.BitwiseNot(g.fg, &g.bgMask)
	g.blend.CopyToWithMask(&g.ref, g.bgMask)
	for i, m := range kept {
		patch := g.ref.Region(at[i])
		m.CopyTo(&patch)
		patch.Close()
		m.Close()
	}
}

// fgLearn is the share of the frame a foreground pixel of the reference takes per analysed
// frame; protectHold how long a hold keeps its region from being learnt (something left in it,
// a bag on a hook, is learnt after that).
const (
	fgLearn     = 0.05
	protectHold = 10 * time.Second
)

// handSize is the foreground's size in units of the smallest hand: for an anchored button the
// largest blob over handMin of the face's area (a hand is 1 to handMax/handMin), for a fixed
// one the share of the region over occupied (a hand is 1 to bodySized/occupied).
func handSize(ev handEvidence, anchored bool, face image.Rectangle) float64 {
	if anchored && !face.Empty() {
		return ev.area / float64(area(face)) / handMin
	}
	if ev.occupied >= bodySized {
		return math.Inf(1)
	}
	return ev.occupied / occupied
}

// touchesFace says whether blob box lies over one of faces or the anchor face (by faceOverlap
// of its box): a hand at the face, touching it or adjusting hair, not a press.
func touchesFace(box image.Rectangle, faces []image.Rectangle, anchor image.Rectangle) bool {
	if box.Empty() {
		return false
	}
	for _, f := range append([]image.Rectangle{anchor}, faces...) {
		if in := box.Intersect(f); !in.Empty() && float64(area(in)) >= faceOverlap*float64(area(box)) {
			return true
		}
	}
	return false
}

// crossing says whether a moving blob through region is crossWidth times as wide as it: a
// body walking across, not a hand.
func crossing(region image.Rectangle, motion []image.Rectangle) bool {
	for _, m := range motion {
		if m.Overlaps(region) && float64(m.Dx()) >= crossWidth*float64(region.Dx()) {
			return true
		}
	}
	return false
}

func dist(a, b image.Point) float64 {
	d := a.Sub(b)
	return math.Hypot(float64(d.X), float64(d.Y))
}

func (g *gestures) closeMats() {
	if len(g.buttons) == 0 {
		return
	}
	for _, m := range []*gocv.Mat{&g.ref, &g.diff, &g.fg, &g.bgMask, &g.blend, &g.ycc, &g.skin, &g.and} {
		m.Close()
	}
}

func (g *gestures) Close() error {
	g.closeMats()
	g.buttons = nil
	return nil
}
