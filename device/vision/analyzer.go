package vision

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/session"
)

// Options are the vision tunables. Zero values take the defaults noted; all of them can change
// while the pipeline runs (Pipeline.SetOptions).
type Options struct {
	Detector DetectorOptions
	Motion   MotionOptions
	// Presence is the hysteresis of the one presence tracker: the analyser decides, the session
	// engine follows (session.Observation.Change). Zero = DefaultPresence.
	Presence PresenceConfig
	// IdleFPS is the analysed frame rate while nobody is there and nothing moves; 0 = 5.
	IdleFPS float64
	// EngagedFPS is the analysed frame rate while something moves or a shopper is there
	// (the camera's rate caps it); 0 = 15.
	EngagedFPS float64
	// FullEvery: while a face is tracked, every FullEvery-th analysed frame searches the whole
	// frame (zone) instead of only around the face, to notice a better-placed shopper; 0 = 8.
	FullEvery int
	// SearchFPS: the detector runs at most this often — while nobody is there, on motion (a
	// curtain, people passing far away); while a shopper arrives or stands there, with the
	// faces found standing for the frames in between and the body evidence holding the
	// session; 0 = 5.
	SearchFPS float64
	// Buttons are the air buttons, in camera-frame pixels; none by default.
	Buttons []Button
	// Gestures with no Buttons places the air buttons ("photo", "next") by ButtonPlacement.
	Gestures bool
	// ButtonPlacement says where Gestures places them: PlaceFace (the default, "") beside the
	// tracked face (AnchoredButtons), PlaceFixed at fixed regions of the frame size the camera
	// actually delivers (DefaultButtons). Buttons given explicitly are always fixed.
	ButtonPlacement string
	// ArmGestures counts air-button holds even while no session is open (replay's evaluation
	// of clips where the shopper is in view from the first frame); off in the agent.
	ArmGestures bool
}

func (o Options) withDefaults() Options {
	if o.Presence == (PresenceConfig{}) {
		o.Presence = DefaultPresence
	}
	if o.IdleFPS <= 0 {
		o.IdleFPS = 5
	}
	if o.EngagedFPS <= 0 {
		o.EngagedFPS = 15
	}
	if o.FullEvery <= 0 {
		o.FullEvery = 8
	}
	if o.SearchFPS <= 0 {
		o.SearchFPS = 5
	}
	o.Motion = o.Motion.withDefaults()
	return o
}

// Validate reports nonsense values with an error naming the field.
func (o Options) Validate() error {
	if err := o.Detector.Validate(); err != nil {
		return err
	}
	switch {
	case o.IdleFPS < 0 || o.IdleFPS > 120:
		return fmt.Errorf("vision: idle fps %g: must be between 0 and 120", o.IdleFPS)
	case o.EngagedFPS < 0 || o.EngagedFPS > 120:
		return fmt.Errorf("vision: engaged fps %g: must be between 0 and 120", o.EngagedFPS)
	case o.SearchFPS < 0 || o.SearchFPS > 120:
		return fmt.Errorf("vision: search fps %g: must be between 0 and 120", o.SearchFPS)
	case o.Motion.Threshold < 0 || o.Motion.Threshold > 255:
		return fmt.Errorf("vision: motion threshold %d: must be between 0 and 255", o.Motion.Threshold)
	case o.Motion.MinArea < 0 || o.Motion.MinArea >= 1:
		return fmt.Errorf("vision: motion min area %g: must be a fraction of the frame between 0 and 1", o.Motion.MinArea)
	case o.Motion.Width < 0 || (o.Motion.Width > 0 && o.Motion.Width < 32):
		return fmt.Errorf("vision: motion width %d: must be at least 32 pixels", o.Motion.Width)
	case o.Presence.EnterDwell < 0 || o.Presence.ExitGrace < 0 || o.Presence.BodyHold < 0:
		return fmt.Errorf("vision: presence durations must not be negative")
	}
	if p := o.ButtonPlacement; p != "" && p != PlaceFace && p != PlaceFixed {
		return fmt.Errorf("vision: button placement %q: want %q or %q", p, PlaceFace, PlaceFixed)
	}
	for _, b := range o.Buttons {
		if b.Action == "" || b.Region.Empty() || b.Hold < 0 {
			return fmt.Errorf("vision: button %q at %v: want an action, a non-empty region and a hold ≥ 0", b.Action, b.Region)
		}
	}
	return nil
}

// Result is what the analysis of one frame decided.
type Result struct {
	Observation session.Observation // what the session engine gets, with the decision
	Transition  session.Transition  // the presence decision (= Observation.Change)
	Present     bool                // a shopper is at the mirror (after this frame)
	Arriving    bool                // a face is being watched through the enter dwell
	Faces       []image.Rectangle   // faces of people (scenery left out)
	// Static are faces found where the room has no foreground: posters, photos, mannequins.
	// They neither open nor hold a session.
	Static []image.Rectangle
	// BodyBox is where the shopper stands (below and around their last face) while someone
	// is there; BodyCover the share of it the background model sees as not-the-room.
	BodyBox   image.Rectangle
	BodyCover float64
	Motion    Motion
	Detected  bool          // the face detector ran on this frame
	Tracked   bool          // … only around the last face
	Reused    bool          // nothing moved near the last faces: they stand for this frame
	Actions   []string      // air buttons that fired on this frame
	Buttons   []ButtonState // what each air button saw on this frame
	Elapsed   time.Duration // motion gate + detection
	// GestureElapsed is the part of Elapsed the air buttons took (0 with gestures off).
	GestureElapsed time.Duration
}

// Analyzer is the per-frame decision: the motion gate on a small grey frame, then the face
// detector only when something moved or a shopper is (or is arriving) at the mirror; around
// the last face while one is tracked; body evidence; air buttons; presence. It is not safe
// for concurrent use.
type Analyzer struct {
	opts     Options
	det      *Detector
	ownDet   bool
	gate     *motionGate
	gest     gestures
	presence *Presence
	bg       *background
	tracker  *faceTracker // follows a moving shopper's face between detector runs

	checked     image.Point // frame size the zone and buttons were checked against
	last        time.Time   // last analysed frame
	lastMotion  time.Time
	track       image.Rectangle // last primary face
	trackAt     time.Time       // when the detector found it
	lastFaces   []image.Rectangle
	lastSearch  time.Time // last detection while nobody was there
	searchDue   bool      // motion was seen since, while the detector was held back
	sinceFull   int
	body        image.Rectangle // the shopper's face where they stand, while present or arriving
	prevFace    image.Rectangle // the primary face of the last detection
	lastDetect  time.Time       // last detector run while someone was there
	static      []staticFace
	lives       []lifeCheck // unsupported faces under the life watch
	looked      bool        // the detector has looked at a frame
	firstAt     time.Time   // … first, then
	firstFaces  []image.Rectangle
	startPerson bool      // a face of the first look turned out to be a person's
	firstAlive  []bool    // … which of them
	startDone   bool      // the life watch after the first look is over
	stirred     bool      // something moved around the tracked face since the last detection
	movedSince  bool      // something moved anywhere since the last detection
	emptySince  time.Time // nobody present, arriving or watched since
	lifeSince   time.Time // a face just shown alive was first seen then (its dwell starts there)
	lifeSmall   gocv.Mat
	lifeGrey    gocv.Mat
	autoButtons bool // Gestures without Buttons, fixed: place DefaultButtons per frame size
}

// staticFace is a face seen with no foreground under it: scenery.
type staticFace struct {
	box        image.Rectangle
	first, ago time.Time
}

// NewAnalyzer loads the detector and returns an analyser.
func NewAnalyzer(opts Options) (*Analyzer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	det, err := NewDetector(opts.Detector)
	if err != nil {
		return nil, err
	}
	a := newAnalyzer(opts, det)
	a.ownDet = true
	return a, nil
}

// newAnalyzer uses det (not closed by the analyser unless ownDet is set).
func newAnalyzer(opts Options, det *Detector) *Analyzer {
	opts = opts.withDefaults()
	a := &Analyzer{opts: opts, det: det, gate: newMotionGate(opts.Motion), presence: NewPresence(opts.Presence), bg: newBackground(), tracker: newFaceTracker(),
		autoButtons: fixedAuto(opts), lifeSmall: gocv.NewMat(), lifeGrey: gocv.NewMat(),
		searchDue: true} // the first frame is looked at: someone may be in view already
	a.setButtons(opts)
	return a
}

// fixedAuto says whether opts asks for the fixed default buttons, placed per frame size.
func fixedAuto(opts Options) bool {
	return opts.Gestures && len(opts.Buttons) == 0 && opts.ButtonPlacement == PlaceFixed
}

// setButtons follows opts' air buttons: the explicit ones, the anchored pair, or none until
// the frame size is known (fixed defaults).
func (a *Analyzer) setButtons(opts Options) {
	switch {
	case len(opts.Buttons) > 0:
		a.gest.set(opts.Buttons, false)
	case opts.Gestures && opts.ButtonPlacement != PlaceFixed:
		a.gest.set(AnchoredButtons(image.Rectangle{}, image.Point{}), true)
	default:
		a.gest.set(nil, false)
	}
}

// Options returns the options in force, defaults filled in.
func (a *Analyzer) Options() Options {
	o := a.opts
	o.Detector = a.det.Options()
	return o
}

// SetOptions changes the tunables from the next frame. A changed cascade or model is loaded
// first; when that fails the previous options stay in force.
func (a *Analyzer) SetOptions(opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	var det *Detector
	if detectorChanged(a.det.Options(), opts.Detector) {
		var err error
		if det, err = NewDetector(opts.Detector); err != nil {
			return err
		}
	}
	a.apply(opts, det)
	return nil
}

// detectorChanged says whether next needs a new Detector (another cascade or model file).
func detectorChanged(cur, next DetectorOptions) bool {
	next = next.withDefaults()
	return next.Cascade != cur.Cascade || next.Model != cur.Model || next.Kind != cur.Kind
}

// apply switches to validated opts; det, when not nil, replaces the detector.
func (a *Analyzer) apply(opts Options, det *Detector) {
	if det != nil {
		if a.ownDet {
			a.det.Close()
		}
		a.det, a.ownDet = det, true
	} else {
		a.det.opts = opts.Detector.withDefaults()
	}
	opts = opts.withDefaults()
	a.gate.setOptions(opts.Motion)
	a.presence.SetConfig(opts.Presence)
	a.setButtons(opts)
	a.opts = opts
	a.autoButtons = fixedAuto(opts)
	a.checked = image.Point{} // check the zone and buttons against the next frame
}

// Engaged reports whether frames are analysed at the engaged rate: a shopper is there or
// arriving, or something moved in the last second.
func (a *Analyzer) Engaged(at time.Time) bool {
	return a.presence.Present() || a.presence.Arriving() || (!a.lastMotion.IsZero() && at.Sub(a.lastMotion) < time.Second)
}

// Due reports whether a frame taken at time at should be analysed, or skipped to keep to the
// idle or engaged frame rate.
func (a *Analyzer) Due(at time.Time) bool {
	if a.last.IsZero() {
		return true
	}
	fps := a.opts.IdleFPS
	if a.Engaged(at) {
		fps = a.opts.EngagedFPS
	}
	period := time.Duration(float64(time.Second) / fps)
	return at.Sub(a.last) >= period-period/8
}

// Present reports whether the analyser's presence tracker has a shopper at the mirror.
func (a *Analyzer) Present() bool { return a.presence.Present() }

// Analyze analyses one BGR frame taken at time at. A zone or button outside the frame is
// reported once as an error (and no result), and then left out — the zone becomes the whole
// frame, the buttons are switched off — so a live mirror keeps working without it.
func (a *Analyzer) Analyze(frame gocv.Mat, at time.Time) (Result, error) {
	return a.AnalyzePicture(camera.PictureOf(frame), at)
}

// AnalyzePicture is Analyze on a camera picture: each stage takes the frame at the size it
// works at (an MJPG frame decoded at reduced scale), the full size only when it needs it.
func (a *Analyzer) AnalyzePicture(frame *camera.Picture, at time.Time) (Result, error) {
	start := time.Now()
	size := frame.Size()
	if size != a.checked {
		a.checked = size
		if a.autoButtons {
			a.opts.Buttons = DefaultButtons(size)
			a.gest.set(a.opts.Buttons, false)
		}
		var errs []string
		if err := a.det.opts.CheckZone(size); err != nil {
			errs = append(errs, "presence.zone: "+err.Error())
			a.det.opts.Zone, a.opts.Detector.Zone = image.Rectangle{}, image.Rectangle{}
		}
		if err := checkButtons(a.opts.Buttons, size); err != nil {
			errs = append(errs, err.Error())
			a.opts.Buttons = nil
			a.gest.set(nil, false)
		}
		if len(errs) > 0 {
			return Result{}, errors.New(strings.Join(errs, "; "))
		}
	}
	a.last = at
	var r Result
	a.gate.colour = len(a.gest.buttons) > 0 // the skin cue needs the gate's frame in colour
	var err error
	if r.Motion, err = a.gate.update(frame); err != nil {
		return Result{}, fmt.Errorf("vision: %w", err)
	}
	if zone := a.det.opts.Zone; zone != (image.Rectangle{}) {
		r.Motion = clipMotion(r.Motion, zone)
	}
	if len(r.Motion.Boxes) > 0 {
		a.lastMotion = at
	}
	someone := a.presence.Present() || a.presence.Arriving()
	var hold image.Rectangle
	if a.presence.Present() && !a.body.Empty() {
		hold = bodyBox(a.body, size)
	}
	a.bg.update(a.gate.plain, size, at, hold, len(a.lastFaces) == 0)

	// Motion sends the detector looking only when a blob could hold a face that counts (at
	// least MinFace of the frame's width on both sides): a light fade's specks, a swinging
	// curtain's edge or a far pedestrian's legs do not.
	moved := faceSized(r.Motion.Boxes, int(a.det.opts.MinFace*float64(size.X)))
	a.stirred = a.stirred || movedNear(r.Motion.Boxes, a.track, size)
	a.movedSince = a.movedSince || len(r.Motion.Boxes) > 0
	period := time.Duration(float64(time.Second) / a.opts.SearchFPS)
	throttled := !a.lastSearch.IsZero() && at.Sub(a.lastSearch) < period*7/8
	switch {
	case !someone && !moved && !a.searchDue && len(a.lives) == 0:
		// Nothing moved and nobody is there: the gate alone decides.
	case !someone && throttled:
		// Motion, nobody yet: the detector looked a moment ago; look again when it may
		// (even if the motion has stopped by then: someone may have stopped in front).
		a.searchDue = a.searchDue || moved
	case someone && !a.lastDetect.IsZero() && at.Sub(a.lastDetect) < period*7/8,
		a.standsStill(at), a.followedStill(at), a.nothingNew(someone, at):
		// Someone is there and the detector looked a moment ago, or the shopper's face was
		// found and nothing has moved around them since: its faces stand for this frame (the
		// body evidence carries presence in between).
		r.Faces, r.Reused = a.lastFaces, true
	default:
		a.detect(frame, at, someone, size, &r)
	}
	r.Static = a.staticFaces(at)
	a.forgetLives(at)
	if !a.lifeSince.IsZero() {
		a.presence.Backdate(a.lifeSince, at)
		a.lifeSince = time.Time{}
	}

	o := session.Observation{At: at, Faces: len(r.Faces), Primary: Primary(r.Faces, size), Frame: size, Motion: r.Motion.Fraction}
	if !a.body.Empty() && (a.presence.Present() || a.presence.Arriving()) {
		r.BodyBox = bodyBox(a.body, size)
		r.BodyCover = a.bg.Coverage(r.BodyBox)
		o.Body = o.Faces == 0 && r.BodyCover >= bodyCover
	}
	r.Transition = a.presence.Observe(Sighting{At: at, Face: o.Faces > 0, Body: o.Body})
	o.Change = r.Transition
	r.Observation = o
	r.Present, r.Arriving = a.presence.Present(), a.presence.Arriving()
	switch {
	case !r.Present && !r.Arriving:
		a.body, a.prevFace = image.Rectangle{}, image.Rectangle{}
		if len(a.lives) > 0 || len(r.Faces) > 0 {
			a.emptySince = time.Time{}
		} else if a.emptySince.IsZero() {
			a.emptySince = at
		} else if at.Sub(a.emptySince) >= roomEmpty && a.bg.Fraction() < roomEmptyFg {
			a.bg.Release()
		}
	case !o.Primary.Empty() && r.Detected:
		// The body box is where the shopper stands: it follows the face while it is steady
		// (under a quarter of its width since the last detection), not while they walk out,
		// so it empties as soon as they have left the place where they stood.
		if a.body.Empty() || steady(a.prevFace, o.Primary) {
			a.body = o.Primary
		}
		a.prevFace = o.Primary
	}
	if r.Transition == session.Left {
		a.track, a.lastFaces = image.Rectangle{}, nil // whoever comes next is looked for afresh
	}
	if len(a.gest.buttons) > 0 {
		cue := frameCue{at: at, faces: r.Faces, motion: r.Motion.Boxes, armed: r.Present || a.opts.ArmGestures, size: size}
		gstart := time.Now()
		r.Actions, r.Buttons = a.gest.update(a.gate, cue, o.Primary, a.opts.Motion.Threshold)
		r.GestureElapsed = time.Since(gstart)
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// detect runs the face detector on frame: around the face tracked a moment ago when there is
// one, else on the whole frame (zone); it keeps the faces that are people's in r.
func (a *Analyzer) detect(frame *camera.Picture, at time.Time, someone bool, size image.Point, r *Result) {
	r.Detected, a.lastDetect, a.stirred, a.movedSince = true, at, false, false
	if !someone {
		a.searchDue = false
		if a.looked { // the first look does not hold the next search back
			a.lastSearch = at
		}
	}
	var d Detection
	if !a.track.Empty() && at.Sub(a.trackAt) <= 500*time.Millisecond && a.sinceFull < a.opts.FullEvery-1 {
		d = a.det.detectNear(frame, a.track)
		r.Tracked = true
		a.sinceFull++
	}
	if len(d.Faces) == 0 {
		if !r.Tracked || a.det.net == nil { // BlazeFace's DetectNear has looked at the whole frame
			d = a.det.detect(frame)
		}
		r.Tracked = false
		a.sinceFull = 0
	}
	if !a.looked {
		// The first look. With no face in view the room's model may still hold someone with
		// their back to the camera: checkStart decides when the life watch is over.
		a.looked, a.firstAt, a.firstFaces = true, at, d.Faces
	}
	r.Faces = a.people(frame, d.Faces, at)
	a.checkStart(r.Faces, at)
	a.lastFaces = r.Faces
	p := Primary(r.Faces, size)
	if !p.Empty() {
		a.track, a.trackAt = p, at
	}
	a.tracker.remember(a.gate, p)
}

// faceSized says whether a box is at least side pixels wide and high.
func faceSized(boxes []image.Rectangle, side int) bool {
	for _, b := range boxes {
		if b.Dx() >= side && b.Dy() >= side {
			return true
		}
	}
	return false
}

// stillDetect is how long the detector may rest while a present shopper's face was found and
// nothing has moved around them: a still shopper is the same shopper, and anything that
// changes (they turn, leave, someone joins) moves first.
const stillDetect = time.Second

// standsStill says whether the last detection's faces may stand for the frame at at without
// running the detector: a shopper is present, their face was found then, nothing has moved
// around them since (stirred), no face is under the life watch, and the detector looked
// within stillDetect.
func (a *Analyzer) standsStill(at time.Time) bool {
	return a.presence.Present() && len(a.lastFaces) > 0 && !a.track.Empty() && !a.stirred && len(a.lives) == 0 &&
		!a.lastDetect.IsZero() && at.Sub(a.lastDetect) < stillDetect
}

// followedStill is standsStill for a shopper who moves a little (talks, sways, lifts a hand):
// something moved around them, but the one face of the last detection is still where it was,
// looking the same, on this frame (faceTracker).
func (a *Analyzer) followedStill(at time.Time) bool {
	return a.presence.Present() && len(a.lastFaces) == 1 && !a.track.Empty() && len(a.lives) == 0 &&
		!a.lastDetect.IsZero() && at.Sub(a.lastDetect) < stillDetect && a.tracker.still(a.gate)
}

// nothingNew says whether the detector would look at the frame the last detection saw: while
// someone is there (in the exit grace, turned away), that detection found no face and nothing
// has moved anywhere since, within stillDetect.
func (a *Analyzer) nothingNew(someone bool, at time.Time) bool {
	return someone && len(a.lastFaces) == 0 && !a.movedSince && len(a.lives) == 0 &&
		!a.lastDetect.IsZero() && at.Sub(a.lastDetect) < stillDetect
}

// movedNear says whether a motion box touches the place of the shopper whose face is face:
// their body box widened by a face width on each side and above.
func movedNear(boxes []image.Rectangle, face image.Rectangle, frame image.Point) bool {
	if face.Empty() || len(boxes) == 0 {
		return false
	}
	near := bodyBox(face, frame)
	near = image.Rect(near.Min.X-face.Dx(), near.Min.Y-face.Dy(), near.Max.X+face.Dx(), near.Max.Y)
	for _, b := range boxes {
		if b.Overlaps(near) {
			return true
		}
	}
	return false
}

// Absent tells the presence tracker that nobody is seen at time at (no frames: the camera is
// lost or the file ended), so an open session closes after its grace.
func (a *Analyzer) Absent(at time.Time) session.Observation {
	tr := a.presence.Observe(Sighting{At: at})
	if tr == session.Left {
		a.body, a.prevFace, a.track, a.lastFaces = image.Rectangle{}, image.Rectangle{}, image.Rectangle{}, nil
	}
	return session.Observation{At: at, Change: tr}
}

// steady says whether the face moved less than a quarter of its width between two detections.
func steady(prev, cur image.Rectangle) bool {
	if prev.Empty() {
		return false
	}
	d := prev.Min.Add(prev.Max).Div(2).Sub(cur.Min.Add(cur.Max).Div(2))
	lim := cur.Dx() / 4
	return d.X*d.X+d.Y*d.Y <= lim*lim
}

// checkStart decides, over the life watch after the first look, whether someone was in view
// at start: a face of the first look that is a person's. Unless one is, the room's model is
// the room's and no ghosts are learnt away. When the watch is over, the faces of the first look
// that showed no life are scenery (a poster seen at start is not watched again, with a new
// chance to pass for alive, each time the detector finds it after looking elsewhere).
func (a *Analyzer) checkStart(faces []image.Rectangle, at time.Time) {
	if a.startDone || !a.looked {
		return
	}
	if len(a.firstAlive) != len(a.firstFaces) {
		a.firstAlive = make([]bool, len(a.firstFaces))
	}
	for _, f := range faces {
		for i, s := range a.firstFaces {
			if iou(f, s) > 0.3 {
				a.firstAlive[i], a.startPerson = true, true
			}
		}
	}
	if at.Sub(a.firstAt) <= lifeWatch+500*time.Millisecond {
		return
	}
	a.startDone = true
	for i, s := range a.firstFaces {
		if !a.firstAlive[i] {
			a.noteStatic(s, at)
		}
	}
	if !a.startPerson {
		a.bg.Release()
	}
}

// atStart says whether f is where a face of the detector's first look was: a person learnt
// into the room's model there (one walking out of that place is not: the room's model where
// they walk is the room's).
func (a *Analyzer) atStart(f image.Rectangle) bool {
	for _, s := range a.firstFaces {
		if iou(f, s) > 0.3 {
			return true
		}
	}
	return false
}

// bodyAtStart: a face with foreground under it seen during the life watch after the first look,
// before anyone is present, whose body is not foreground, is someone who was in view at start turned away (the face, where
// the back of the head was, differs from the model; the body does not): their body is learnt
// into the room's model, and is occupied (below the face) like a living face's place.
func (a *Analyzer) bodyAtStart(f image.Rectangle, frame image.Point) {
	if a.startDone || !a.looked || !a.bg.ghosts || a.presence.Present() {
		return
	}
	if body := bodyBox(f, frame); a.bg.Support(body) < bodyCover {
		// Below the face only: the face itself is foreground of its own.
		a.bg.Occupy(image.Rect(body.Min.X, f.Max.Y, body.Max.X, body.Max.Y))
		a.startPerson = true
	}
}

// roomEmpty is how long nobody must be seen (no face, none watched) for the room to count as
// empty (with little foreground left, roomEmptyFg): its model is then the room's, and what
// was learnt with a person on it is released.
const roomEmpty = 2 * time.Second

// roomEmptyFg is the share of the frame that may be foreground when the room counts as empty:
// more is the ghost of someone who stood there at start, still being learnt away.
const roomEmptyFg = 0.05

// bodyCover is the share of the body box that must be foreground for the shopper's body to
// count as there: a person standing covers most of it, a curtain's edge or someone passing
// far behind a small part.
const bodyCover = 0.35

// faceSupport is the share of a face's box and the area just below it that must be foreground
// for a face to be a person's rather than the room's (a poster, a photo, a mannequin).
const faceSupport = 0.2

// bodyBox is where a shopper whose face is face stands: 1.2 face widths either side of the
// face's centre, from the top of the face to three face heights below it.
func bodyBox(face image.Rectangle, frame image.Point) image.Rectangle {
	fw, fh := face.Dx(), face.Dy()
	cx := (face.Min.X + face.Max.X) / 2
	return image.Rect(cx-fw*6/5, face.Min.Y, cx+fw*6/5, face.Max.Y+3*fh).Intersect(image.Rectangle{Max: frame})
}

// people keeps the faces that are people's: the shopper's (close to the face followed a
// moment ago), faces with foreground under them, and faces without that show life (someone
// in view since the room's model began: the place where they stand is then kept out of the
// room). The others are scenery: remembered as static faces, and left out.
func (a *Analyzer) people(frame *camera.Picture, faces []image.Rectangle, at time.Time) []image.Rectangle {
	var out []image.Rectangle
	for _, f := range faces {
		if a.follows(f, at) {
			out = append(out, f)
			continue
		}
		fw, fh := f.Dx(), f.Dy()
		support := image.Rect(f.Min.X-fw/4, f.Min.Y, f.Max.X+fw/4, f.Max.Y+fh)
		if a.isStatic(f) {
			a.noteStatic(f, at)
			continue
		}
		if a.bg.Support(support) >= faceSupport {
			a.bodyAtStart(f, frame.Size())
			out = append(out, f)
			continue
		}
		if !a.bg.ghosts {
			// The room has been seen empty: its model is the room, the face is scenery.
			a.noteStatic(f, at)
			continue
		}
		full, err := frame.Full() // the life watch compares the face at full detail
		if err != nil {
			continue
		}
		switch alive, dead, since := a.watchLife(full, f, at); {
		case alive:
			if a.atStart(f) {
				a.bg.Occupy(support.Union(bodyBox(f, frame.Size())))
			}
			if a.lifeSince.IsZero() || since.Before(a.lifeSince) {
				a.lifeSince = since
			}
			out = append(out, f)
		case dead:
			a.noteStatic(f, at)
		}
	}
	return out
}

// follows says whether f is the face of the shopper at the mirror, followed from a moment ago
// (they may stand so still that the room's model no longer tells them apart). While someone
// arrives, every detection of their face must have foreground under it.
func (a *Analyzer) follows(f image.Rectangle, at time.Time) bool {
	t := a.track
	if !a.presence.Present() || t.Empty() || at.Sub(a.trackAt) > 1500*time.Millisecond {
		return false
	}
	c1, c2 := f.Min.Add(f.Max).Div(2), t.Min.Add(t.Max).Div(2)
	d := c1.Sub(c2)
	lim := t.Dx() / 2
	return d.X*d.X+d.Y*d.Y <= lim*lim && f.Dx()*5 >= t.Dx()*3 && f.Dx()*3 <= t.Dx()*5
}

// isStatic says whether f is where a static face was seen: once scenery, a face stays scenery
// (a moment of foreground around a poster — someone passing in front — does not bring it to life).
func (a *Analyzer) isStatic(f image.Rectangle) bool {
	for _, s := range a.static {
		if iou(s.box, f) > 0.5 {
			return true
		}
	}
	return false
}

func (a *Analyzer) noteStatic(f image.Rectangle, at time.Time) {
	for i := range a.static {
		if iou(a.static[i].box, f) > 0.5 {
			a.static[i].box, a.static[i].ago = f, at
			return
		}
	}
	a.static = append(a.static, staticFace{box: f, first: at, ago: at})
}

// staticFaces are the static faces seen in the last 10 s.
func (a *Analyzer) staticFaces(at time.Time) []image.Rectangle {
	keep := a.static[:0]
	var out []image.Rectangle
	for _, s := range a.static {
		if at.Sub(s.ago) <= 10*time.Second {
			keep = append(keep, s)
			out = append(out, s.box)
		}
	}
	a.static = keep
	return out
}

func iou(a, b image.Rectangle) float64 {
	in := area(a.Intersect(b))
	u := area(a) + area(b) - in
	if u <= 0 {
		return 0
	}
	return float64(in) / float64(u)
}

// clipMotion keeps the motion inside zone.
func clipMotion(m Motion, zone image.Rectangle) Motion {
	var out Motion
	var moved int
	for _, b := range m.Boxes {
		if in := b.Intersect(zone); !in.Empty() {
			out.Boxes = append(out.Boxes, in)
			moved += area(in)
		}
	}
	if len(out.Boxes) > 0 {
		out.Fraction = min(m.Fraction, float64(moved)/float64(area(zone)))
	}
	return out
}

// Close releases OpenCV memory.
func (a *Analyzer) Close() error {
	a.gate.Close()
	a.gest.Close()
	a.bg.Close()
	a.tracker.Close()
	a.lifeSmall.Close()
	a.lifeGrey.Close()
	if a.ownDet {
		return a.det.Close()
	}
	return nil
}
