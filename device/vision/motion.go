package vision

import (
	"image"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// reduction is the largest of 1, 2, 4 and 8 by which a frame full pixels wide can be shrunk
// and stay at least want pixels wide: the scale a stage asks a Picture to decode at.
func reduction(full, want int) int {
	k := 1
	for k < 8 && want > 0 && full/(2*k) >= want {
		k *= 2
	}
	return k
}

// MotionOptions tune the motion gate. Zero values take the defaults noted.
type MotionOptions struct {
	Width     int     // the gate works on a grey copy this wide; 0 = 160
	Threshold int     // per-pixel grey difference that counts as change, 1..255; 0 = 25
	MinArea   float64 // smallest changed blob that counts, as a fraction of the frame; 0 = 0.002
}

func (o MotionOptions) withDefaults() MotionOptions {
	if o.Width <= 0 {
		o.Width = 160
	}
	if o.Threshold <= 0 {
		o.Threshold = 25
	}
	if o.MinArea <= 0 {
		o.MinArea = 0.002
	}
	return o
}

// Motion is what changed between two analysed frames.
type Motion struct {
	Fraction float64           // changed area (blobs that count) over the frame area, 0..1
	Boxes    []image.Rectangle // the blobs, in full-frame coordinates
}

// motionGate is the cheap first stage: a small blurred grey frame differenced with the
// previous one, thresholded, dilated, and cut into blobs. It costs a fraction of a
// millisecond, so it runs on every analysed frame; the face detector runs only behind it.
type motionGate struct {
	opts MotionOptions
	grey gocv.Mat // current small grey frame (blurred)
	prev gocv.Mat
	mask gocv.Mat // changed pixels of the last Update (0/255)
	// plain is the small grey frame before the blur: the background model's input.
	plain gocv.Mat
	// small is the frame in colour at the gate's size, made only while colour is set (the air
	// buttons' skin cue needs it); full is the full-size grey frame the small ones come from.
	small, full gocv.Mat
	colour      bool
	kernel      gocv.Mat
	have        bool
	scale       float64 // full-frame pixels per gate pixel
}

func newMotionGate(o MotionOptions) *motionGate {
	return &motionGate{opts: o.withDefaults(), grey: gocv.NewMat(), prev: gocv.NewMat(), mask: gocv.NewMat(),
		plain: gocv.NewMat(), small: gocv.NewMat(), full: gocv.NewMat(), kernel: gocv.GetStructuringElement(gocv.MorphRect, image.Pt(5, 5))}
}

// setOptions changes the thresholds; a new width restarts the difference.
func (g *motionGate) setOptions(o MotionOptions) {
	o = o.withDefaults()
	if o.Width != g.opts.Width {
		g.have = false
	}
	g.opts = o
}

// Update takes the next frame and reports what moved since the previous one. The first frame
// (and the first after a size change) reports no motion.
func (g *motionGate) Update(frame gocv.Mat) Motion {
	m, _ := g.update(camera.PictureOf(frame))
	return m
}

// update is Update on a picture, which the gate asks for in grey at the smallest size that is
// still as wide as the gate's frame (an MJPG frame is then decoded at 1/4 of 640 pixels, not
// decoded in full and shrunk).
func (g *motionGate) update(pic *camera.Picture) (Motion, error) {
	size := pic.Size()
	w, h := size.X, size.Y
	if w == 0 || h == 0 {
		return Motion{}, nil
	}
	gw := min(g.opts.Width, w)
	gh := max(1, int(float64(h)*float64(gw)/float64(w)+0.5))
	g.scale = float64(w) / float64(gw)
	k := reduction(w, gw)
	frame, err := pic.Reduced(k, true)
	if err != nil || frame.Empty() {
		return Motion{}, err
	}
	// Grey first, then shrunk: the area filter then runs on one channel instead of three.
	src := frame
	if frame.Channels() != 1 {
		gocv.CvtColor(frame, &g.full, gocv.ColorBGRToGray)
		src = g.full
	}
	gocv.Resize(src, &g.plain, image.Pt(gw, gh), 0, 0, gocv.InterpolationArea)
	if g.colour {
		if col, err := pic.Reduced(k, false); err == nil {
			gocv.Resize(col, &g.small, image.Pt(gw, gh), 0, 0, gocv.InterpolationArea)
		}
	}
	g.prev, g.grey = g.grey, g.prev // the last frame becomes prev; grey is overwritten
	gocv.GaussianBlur(g.plain, &g.grey, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
	if !g.have || g.prev.Cols() != gw || g.prev.Rows() != gh {
		g.have = true
		g.mask.Close()
		g.mask = gocv.NewMatWithSize(gh, gw, gocv.MatTypeCV8U)
		return Motion{}, nil
	}
	gocv.AbsDiff(g.grey, g.prev, &g.mask)
	gocv.Threshold(g.mask, &g.mask, float32(g.opts.Threshold), 255, gocv.ThresholdBinary)
	gocv.Dilate(g.mask, &g.mask, g.kernel)
	if gocv.CountNonZero(g.mask) == 0 {
		return Motion{}, nil
	}
	contours := gocv.FindContours(g.mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	total := float64(gw * gh)
	var m Motion
	for i := 0; i < contours.Size(); i++ {
		c := contours.At(i)
		a := gocv.ContourArea(c)
		if a/total < g.opts.MinArea {
			continue
		}
		m.Fraction += a / total
		m.Boxes = append(m.Boxes, g.toFrame(gocv.BoundingRect(c)))
	}
	m.Fraction = min(m.Fraction, 1)
	return m, nil
}

// toFrame maps a gate rectangle to full-frame coordinates.
func (g *motionGate) toFrame(r image.Rectangle) image.Rectangle {
	return image.Rect(int(float64(r.Min.X)*g.scale), int(float64(r.Min.Y)*g.scale),
		int(float64(r.Max.X)*g.scale+0.5), int(float64(r.Max.Y)*g.scale+0.5))
}

// toGate maps a full-frame rectangle to gate coordinates, clipped to the gate frame.
func (g *motionGate) toGate(r image.Rectangle) image.Rectangle {
	if g.scale == 0 {
		return image.Rectangle{}
	}
	gr := image.Rect(int(float64(r.Min.X)/g.scale), int(float64(r.Min.Y)/g.scale),
		int(float64(r.Max.X)/g.scale+0.5), int(float64(r.Max.Y)/g.scale+0.5))
	return gr.Intersect(image.Rect(0, 0, g.grey.Cols(), g.grey.Rows()))
}

func (g *motionGate) Close() error {
	for _, m := range []*gocv.Mat{&g.grey, &g.prev, &g.mask, &g.plain, &g.small, &g.full, &g.kernel} {
		m.Close()
	}
	return nil
}
