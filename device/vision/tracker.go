package vision

import (
	"image"

	"gocv.io/x/gocv"
)

// faceTracker is the cheap check between detector runs while a present shopper moves
// (talks, sways, lifts a hand): their face, as the motion gate's grey frame showed it at the
// last detection, is looked for again around the same place on the gate's current frame. A
// face found where it was, looking the same, stands for the frame like a still shopper's
// (stillDetect); one that moved, turned or left sends the detector looking. The match costs
// some microseconds on the gate's 160-pixel frame; a BlazeFace run about 4 ms.
type faceTracker struct {
	tmpl, res gocv.Mat
	box       image.Rectangle // the face on the gate's frame at the last detection
	have      bool
}

const (
	// trackScore is the smallest normalised correlation (TM_CCOEFF_NORMED) of the face with
	// its look at the last detection that counts as the same face.
	trackScore = 0.85
	// trackMinSide is the smallest face, in gate pixels, the tracker follows.
	trackMinSide = 10
)

func newFaceTracker() *faceTracker {
	return &faceTracker{tmpl: gocv.NewMat(), res: gocv.NewMat()}
}

// remember keeps face (full-frame pixels; empty = none) as the gate's frame shows it now.
func (t *faceTracker) remember(g *motionGate, face image.Rectangle) {
	t.have = false
	if face.Empty() || g.plain.Empty() {
		return
	}
	box := g.toGate(face)
	if box.Dx() < trackMinSide || box.Dy() < trackMinSide {
		return
	}
	reg := g.plain.Region(box)
	reg.CopyTo(&t.tmpl)
	reg.Close()
	t.box, t.have = box, true
}

// still says whether the face remembered is on the gate's current frame where it was: within
// an eighth of its width (at least a pixel) and at least trackScore alike.
func (t *faceTracker) still(g *motionGate) bool {
	if !t.have || g.plain.Empty() {
		return false
	}
	m := max(1, t.box.Dx()/8)
	win := image.Rect(t.box.Min.X-m, t.box.Min.Y-m, t.box.Max.X+m, t.box.Max.Y+m).Intersect(image.Rect(0, 0, g.plain.Cols(), g.plain.Rows()))
	if win.Dx() < t.tmpl.Cols() || win.Dy() < t.tmpl.Rows() {
		return false
	}
	reg := g.plain.Region(win)
	defer reg.Close()
	noMask := gocv.NewMat()
	defer noMask.Close()
	gocv.MatchTemplate(reg, t.tmpl, &t.res, gocv.TmCcoeffNormed, noMask)
	_, best, _, _ := gocv.MinMaxLoc(t.res)
	return best >= trackScore
}

func (t *faceTracker) Close() error {
	t.tmpl.Close()
	return t.res.Close()
}
