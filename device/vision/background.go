package vision

import (
	"image"
	"math"
	"time"

	"gocv.io/x/gocv"
)

// background is the body evidence: a per-pixel running Gaussian model of the empty room on a
// tiny grey copy of the frame (bgWidth px wide), written for what a fitting room needs:
//
//   - Light changes are not events. Before comparing, each frame is mapped onto the model
//     with a global gain and offset (I ≈ g·μ + o) fitted on the pixels that were background
//     in the previous frame (medians of the darker and the brighter half), so the mirror's
//     own lighting scenes, which fade the whole room, leave the foreground empty.
//   - A shopper who stands still is not learnt away: background pixels follow the room with
//     a time constant of bgTau, foreground pixels only with fgTau (a moved chair is absorbed
//     within a minute or two), and the pixels where the shopper stands while a session is
//     open with holdTau.
//   - A poster, a photo or a mannequin is part of the model from the first frame, so its
//     face has no foreground under it: that is how static faces are told from people.
//
// OpenCV's MOG2 and KNN subtractors were the alternatives; they have one learning rate for
// every pixel (a shopper standing still fades into the background while turned away) and treat
// a global light fade as foreground over the whole frame (docs/benchmarks/vision.md measures
// both on the evaluation set). At 80×60 this model costs a few microseconds per frame.
type background struct {
	small, grey gocv.Mat
	mean, vari  []float32
	fg          []bool
	// occupied pixels were under a person when the model learnt them (someone in view at
	// start): their mean is that person, not the room. They count as foreground while they
	// match it, are left alone by learning, and become room again once they have differed
	// from it for revealAfter (the room behind was revealed) or when released.
	occupied []bool
	differ   []float32 // seconds an occupied pixel has differed from its person
	nOcc     int
	release  bool
	// revealed counts the occupied pixels that became room by differing from their person.
	// Once a share revealShare of the occupied ones has, with no face seen, the person has
	// gone: the rest still look as they did only because the room there looked like them or
	// was never covered (the place is a rectangle, the person is not), and is released.
	revealed int
	// ghosts: until the room has been seen empty (Release), the places someone in view at start
	// stood on when the model began show as foreground once they move on. While no face is
	// seen, foreground that has been still (within ghostStill of its recent mean) for
	// ghostAfter is taken for such a ghost and learnt at once. fast is that recent mean,
	// still how long each pixel has kept to it.
	ghosts      bool
	faceless    bool
	fast, still []float32
	w, h        int
	scale       float64 // full-frame pixels per model pixel
	last        time.Time
	frames      int
	Gain        float64 // of the last frame, for the debug view
	Offset      float64
}

const (
	bgWidth = 80
	bgTau   = 2 * time.Second
	fgTau   = 60 * time.Second
	holdTau = 5 * time.Minute
	// A pixel is foreground when it differs from the model by more than bgSigmas standard
	// deviations and by more than bgMinDiff grey levels plus bgRelDiff of the model's level
	// (so dim rooms, where everything is darker, keep the same sensitivity in relative terms).
	bgSigmas  = 3.0
	bgMinDiff = 6.0
	bgRelDiff = 0.10
	bgMinVar  = 4.0
)

func newBackground() *background {
	// Until the room has been seen empty, whoever is in view may have been learnt as the room.
	return &background{small: gocv.NewMat(), grey: gocv.NewMat(), ghosts: true}
}

// Update takes the next frame, taken at time at, and returns the foreground mask (true =
// not the room) of the model's size. hold, in full-frame pixels, is where the shopper stands
// while a session is open (learnt with holdTau); empty = nowhere.
//
// faceless says that no face was seen on the last analysed frame (ghosts are learnt only then).
func (b *background) Update(frame gocv.Mat, at time.Time, hold image.Rectangle, faceless bool) {
	b.update(frame, image.Pt(frame.Cols(), frame.Rows()), at, hold, faceless)
}

// update is Update from src, the frame (of full's size) or a smaller copy of it: the motion
// gate's grey frame, so the full frame is shrunk once for both.
func (b *background) update(src gocv.Mat, full image.Point, at time.Time, hold image.Rectangle, faceless bool) {
	b.faceless = faceless
	fw, fh := full.X, full.Y
	if fw == 0 || fh == 0 || src.Empty() {
		return
	}
	w := min(bgWidth, fw)
	h := max(1, int(float64(fh)*float64(w)/float64(fw)+0.5))
	gocv.Resize(src, &b.small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	if b.small.Channels() == 1 {
		b.small.CopyTo(&b.grey)
	} else {
		gocv.CvtColor(b.small, &b.grey, gocv.ColorBGRToGray)
	}
	px, err := b.grey.DataPtrUint8()
	if err != nil {
		return
	}
	if w != b.w || h != b.h || b.mean == nil || len(px) != w*h {
		b.w, b.h, b.scale = w, h, float64(fw)/float64(w)
		b.mean, b.vari, b.fg = make([]float32, w*h), make([]float32, w*h), make([]bool, w*h)
		b.occupied, b.differ, b.nOcc = make([]bool, w*h), make([]float32, w*h), 0
		for i, v := range px {
			b.mean[i], b.vari[i] = float32(v), 16
		}
		b.last, b.frames, b.Gain, b.Offset = at, 1, 1, 0
		return
	}
	dt := at.Sub(b.last)
	if dt <= 0 {
		dt = time.Second / 15
	}
	b.last = at
	b.frames++
	defer func() {
		if b.nOcc <= 0 {
			b.release, b.revealed = false, 0
		} else if b.faceless && float64(b.revealed) >= revealShare*float64(b.revealed+b.nOcc) {
			b.release = true
		}
	}()
	hr := b.toModel(hold)
	g, o := b.fitLight(px, hr)
	b.Gain, b.Offset = g, o
	aBg := float32(1 - math.Exp(-dt.Seconds()/bgTau.Seconds()))
	aFg := float32(1 - math.Exp(-dt.Seconds()/fgTau.Seconds()))
	aHold := float32(1 - math.Exp(-dt.Seconds()/holdTau.Seconds()))
	aFast := float32(1 - math.Exp(-dt.Seconds()/ghostTau.Seconds()))
	ig, io := float32(1/g), float32(o)
	for i, v := range px {
		x := (float32(v) - io) * ig // the frame in the model's lighting
		m := b.mean[i]
		d := x - m
		thr := max(float32(bgSigmas)*sqrt32(b.vari[i]), float32(bgMinDiff)+float32(bgRelDiff)*m)
		fg := d > thr || d < -thr
		if b.nOcc > 0 && b.occupied[i] {
			b.updateOccupied(i, x, fg, dt)
			continue
		}
		b.fg[i] = fg
		if b.ghosts && b.ghost(i, x, fg, dt, aFast) {
			continue
		}
		a := aBg
		if fg {
			a = aFg
			if !hr.Empty() {
				if p := image.Pt(i%b.w, i/b.w); p.In(hr) {
					a = aHold
				}
			}
		}
		b.mean[i] = m + a*d
		if !fg {
			b.vari[i] = max(bgMinVar, b.vari[i]+a*(d*d-b.vari[i]))
		}
	}
}

const (
	ghostAfter = 1500 * time.Millisecond
	ghostStill = 6.0
	ghostTau   = 500 * time.Millisecond
)

// ghost follows pixel i's recent mean (aFast: the frame's share in it, for ghostTau) and
// learns it at once when it is a ghost (see background.ghosts); it says whether it did.
func (b *background) ghost(i int, x float32, fg bool, dt time.Duration, aFast float32) bool {
	if len(b.fast) != len(b.mean) {
		b.fast, b.still = make([]float32, len(b.mean)), make([]float32, len(b.mean))
		copy(b.fast, b.mean)
	}
	d := x - b.fast[i]
	b.fast[i] += aFast * d
	if d > ghostStill || d < -ghostStill {
		b.still[i] = 0
	} else {
		b.still[i] += float32(dt.Seconds())
	}
	if fg && b.faceless && b.still[i] >= float32(ghostAfter.Seconds()) {
		b.mean[i], b.vari[i], b.fg[i] = x, 16, false
		return true
	}
	return false
}

// revealShare is the share of the occupied pixels that must have been revealed (with no face
// seen) for the person learnt there to count as gone. Turned away, a person reveals the place of
// their face (about a tenth of the place); walking out, the half or more they covered.
const revealShare = 0.3

// revealAfter is how long an occupied pixel must differ from the person it learnt before it
// is taken for the room revealed behind them.
const revealAfter = 700 * time.Millisecond

// updateOccupied is Update for a pixel learnt with a person on it: foreground while it still
// looks like them (differs = false) and while it has just changed (the person moving there, or
// the room being revealed behind them), room again once it has differed for revealAfter.
func (b *background) updateOccupied(i int, x float32, differs bool, dt time.Duration) {
	b.fg[i] = true
	if differs {
		b.differ[i] += float32(dt.Seconds())
	} else {
		b.differ[i] = 0
	}
	// Released, a pixel that still looks like its person is room; one that has just changed
	// (someone crossing it) is learnt once it has differed for revealAfter, like the others.
	if b.release && !differs || b.differ[i] >= float32(revealAfter.Seconds()) {
		if differs {
			b.revealed++
		}
		b.occupied[i], b.differ[i] = false, 0
		b.mean[i], b.vari[i] = x, 16
		b.fg[i] = false
		b.nOcc--
	}
}

// Occupy marks r (full-frame pixels) as learnt with a person on it: a person in view since
// the model began, whose face shows life. Those pixels stay out of the room until the room
// behind them is seen, or Release.
func (b *background) Occupy(r image.Rectangle) {
	m := b.toModel(r)
	for y := m.Min.Y; y < m.Max.Y; y++ {
		for x := m.Min.X; x < m.Max.X; x++ {
			if i := y*b.w + x; !b.occupied[i] {
				// The variance learnt while the person moved would let the room behind
				// them pass for them: start it afresh.
				b.occupied[i], b.differ[i], b.vari[i] = true, 0, 16
				b.nOcc++
			}
		}
	}
	b.release, b.ghosts = false, true
}

// Release gives the occupied pixels back to the room with the next frame and stops the ghost
// rule: the room has been seen empty.
func (b *background) Release() {
	if b.nOcc > 0 {
		b.release = true
	}
	b.ghosts = false
}

// fitLight fits the frame's lighting against the model, I ≈ g·μ + o, on the pixels outside
// where the shopper stands: a robust least-squares line (Tukey's biweight, three reweighted
// rounds) started from the last frame's fit, since light changes smoothly. Pixels that differ
// by more than lightTukey grey levels from the line — a person walking in — get no weight, so
// however much of the frame they cover, the fit follows the room. The gain stays within
// 0.5..2; with too little contrast in the room for a gain, only the offset moves.
func (b *background) fitLight(px []uint8, hold image.Rectangle) (g, o float64) {
	g, o = b.Gain, b.Offset
	if g == 0 {
		g = 1
	}
	for round := 0; round < 3; round++ {
		var sw, sx, sy, sxx, sxy float64
		for i, v := range px {
			if !hold.Empty() && image.Pt(i%b.w, i/b.w).In(hold) {
				continue
			}
			x, y := float64(b.mean[i]), float64(v)
			r := (y - (g*x + o)) / lightTukey
			if r <= -1 || r >= 1 {
				continue
			}
			w := (1 - r*r) * (1 - r*r)
			sw += w
			sx += w * x
			sy += w * y
			sxx += w * x * x
			sxy += w * x * y
		}
		if sw < float64(len(px))/10 {
			return b.Gain, b.Offset // too few pixels agree: keep the last fit for this frame
		}
		mx, my := sx/sw, sy/sw
		vx := sxx/sw - mx*mx
		if vx >= 100 { // a standard deviation of 10 grey levels: enough contrast for a gain
			g = math.Max(0.5, math.Min(2, (sxy/sw-mx*my)/vx))
		}
		o = my - g*mx
	}
	return g, o
}

// lightTukey is the residual, in grey levels, beyond which a pixel has no say in the light fit.
const lightTukey = 30

func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// toModel maps a full-frame rectangle to model pixels, clipped.
func (b *background) toModel(r image.Rectangle) image.Rectangle {
	if r.Empty() || b.scale == 0 {
		return image.Rectangle{}
	}
	m := image.Rect(int(float64(r.Min.X)/b.scale), int(float64(r.Min.Y)/b.scale),
		int(math.Ceil(float64(r.Max.X)/b.scale)), int(math.Ceil(float64(r.Max.Y)/b.scale)))
	return m.Intersect(image.Rect(0, 0, b.w, b.h))
}

// Coverage is the share of r (full-frame pixels) that is foreground, 0..1.
func (b *background) Coverage(r image.Rectangle) float64 { return b.coverage(r, true) }

// Support is Coverage without the occupied pixels: the foreground that something in view
// has of its own, not what a person in view at start lent to the place they stand on.
func (b *background) Support(r image.Rectangle) float64 { return b.coverage(r, false) }

func (b *background) coverage(r image.Rectangle, occupied bool) float64 {
	m := b.toModel(r)
	if m.Empty() || b.frames < 2 {
		return 0
	}
	n := 0
	for y := m.Min.Y; y < m.Max.Y; y++ {
		for x := m.Min.X; x < m.Max.X; x++ {
			if i := y*b.w + x; b.fg[i] && (occupied || b.nOcc == 0 || !b.occupied[i]) {
				n++
			}
		}
	}
	return float64(n) / float64(m.Dx()*m.Dy())
}

// Fraction is the share of the whole frame that is foreground.
func (b *background) Fraction() float64 {
	if b.frames < 2 || len(b.fg) == 0 {
		return 0
	}
	n := 0
	for _, f := range b.fg {
		if f {
			n++
		}
	}
	return float64(n) / float64(len(b.fg))
}

// Mask draws the foreground into dst (8-bit, the model's size) for the debug view.
func (b *background) Mask(dst *gocv.Mat) {
	if b.w == 0 {
		return
	}
	buf := make([]byte, len(b.fg))
	for i, f := range b.fg {
		if f {
			buf[i] = 255
		}
	}
	m, err := gocv.NewMatFromBytes(b.h, b.w, gocv.MatTypeCV8U, buf)
	if err != nil {
		return
	}
	m.CopyTo(dst)
	m.Close()
}

func (b *background) Close() error {
	b.small.Close()
	return b.grey.Close()
}
