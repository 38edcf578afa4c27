package vision

import (
	"encoding/xml"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// DefaultCascade is Debian's (opencv-data) frontal face Haar cascade.
const DefaultCascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

// DetectorOptions tune face detection. Zero values take the defaults noted.
type DetectorOptions struct {
	Cascade      string  // cascade XML (Haar or LBP); "" = DefaultCascade
	WorkWidth    int     // frames are downscaled to this width before detection; 0 = 320
	MinFace      float64 // smallest face counted, as a fraction of the frame width; 0 = 0.08
	ScaleFactor  float64 // detectMultiScale scale step; 0 = 1.1
	MinNeighbors int     // detectMultiScale neighbours; 0 = 4
	// Zone limits detection to a rectangle of the camera frame, in frame pixels (a fitting
	// room's standing area; the shop floor behind stays out). Empty = the whole frame.
	// A zone that is not inside the frame is an error when the first frame arrives.
	Zone image.Rectangle
	// Kind chooses the face detector: "auto" (or "") = BlazeFace, falling back to the
	// cascade with a warning when its model does not load; "haar" = the cascade only.
	Kind string
	// Model is the BlazeFace short-range ONNX model (ModelFile); "" = the first of ModelPaths
	// that exists (none: the cascade, Fallback naming every file tried).
	Model string
	// Confidence is the smallest BlazeFace score that counts; 0 = 0.75.
	Confidence float64
}

// Detector kinds.
const (
	KindAuto      = "auto"
	KindBlazeFace = "blazeface"
	KindHaar      = "haar"
)

func (o DetectorOptions) withDefaults() DetectorOptions {
	if o.Cascade == "" {
		o.Cascade = DefaultCascade
	}
	if o.WorkWidth <= 0 {
		o.WorkWidth = 320
	}
	if o.MinFace <= 0 {
		o.MinFace = 0.08
	}
	if o.ScaleFactor <= 1 {
		o.ScaleFactor = 1.1
	}
	if o.MinNeighbors <= 0 {
		o.MinNeighbors = 4
	}
	if o.Confidence <= 0 {
		o.Confidence = 0.75
	}
	if o.Kind == "" {
		o.Kind = KindAuto
	}
	return o
}

// Validate reports nonsense values with an error naming the field.
func (o DetectorOptions) Validate() error {
	switch {
	case o.WorkWidth < 0 || (o.WorkWidth > 0 && o.WorkWidth < 64):
		return fmt.Errorf("vision: work width %d: must be at least 64 pixels", o.WorkWidth)
	case o.MinFace < 0 || o.MinFace >= 1:
		return fmt.Errorf("vision: min face %g: must be a fraction of the frame width between 0 and 1", o.MinFace)
	case o.ScaleFactor != 0 && (o.ScaleFactor <= 1 || o.ScaleFactor > 2):
		return fmt.Errorf("vision: scale factor %g: must be above 1 and at most 2", o.ScaleFactor)
	case o.MinNeighbors < 0 || o.MinNeighbors > 50:
		return fmt.Errorf("vision: min neighbours %d: must be between 0 and 50", o.MinNeighbors)
	case o.Confidence < 0 || o.Confidence >= 1:
		return fmt.Errorf("vision: confidence %g: must be between 0 and 1", o.Confidence)
	case o.Kind != "" && o.Kind != KindAuto && o.Kind != KindBlazeFace && o.Kind != KindHaar:
		return fmt.Errorf("vision: detector %q: want auto, blazeface or haar", o.Kind)
	case o.Zone != image.Rectangle{} && o.Zone.Empty():
		return fmt.Errorf("vision: zone %v: empty rectangle", o.Zone)
	}
	return nil
}

// CheckZone reports a zone that does not lie inside a frame of the given size.
func (o DetectorOptions) CheckZone(frame image.Point) error {
	if o.Zone == (image.Rectangle{}) {
		return nil
	}
	if !o.Zone.In(image.Rectangle{Max: frame}) {
		return fmt.Errorf("%d,%d,%d,%d is outside the %d×%d camera frame", o.Zone.Min.X, o.Zone.Min.Y, o.Zone.Max.X, o.Zone.Max.Y, frame.X, frame.Y)
	}
	return nil
}

// Detection is what one frame showed.
type Detection struct {
	Faces   []image.Rectangle // in full-frame coordinates, largest first
	Primary image.Rectangle   // the shopper: the largest face near the centre; empty when none
	Frame   image.Point       // full frame size
	Elapsed time.Duration     // time spent detecting
}

// Detector finds faces. It is not safe for concurrent use; Close releases its OpenCV memory.
type Detector struct {
	opts     DetectorOptions
	cc       gocv.CascadeClassifier
	net      *blazeFace // BlazeFace, when its model loaded
	model    string     // the model file used or tried ("" when none was found)
	fallback error      // why BlazeFace is not in use although it was asked for
	small    gocv.Mat
	grey     gocv.Mat
}

// NewDetector loads BlazeFace (Kind auto or blazeface) or the cascade (Kind haar). When the
// BlazeFace model is missing or does not load, the detector falls back to the cascade and
// Fallback says why (one line naming the file, or every file the lookup tried): the mirror
// keeps working. A cascade that
// does not load, or nonsense options, are an error naming them.
func NewDetector(opts DetectorOptions) (*Detector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	// The cascade loads whatever the kind: it is the fallback, and a bad cascade setting is
	// reported now rather than on the day the model goes missing.
	if err := checkCascade(opts.Cascade); err != nil {
		return nil, err
	}
	d := &Detector{opts: opts, small: gocv.NewMat(), grey: gocv.NewMat(), cc: gocv.NewCascadeClassifier()}
	if !d.cc.Load(opts.Cascade) {
		d.Close()
		return nil, fmt.Errorf("vision: cascade %s: not a valid OpenCV cascade file", opts.Cascade)
	}
	if opts.Kind != KindHaar {
		d.net, d.model, d.fallback = loadModel(opts.Model)
	}
	return d, nil
}

// loadModel loads model, or the first of ModelPaths when it is "", and says which file.
func loadModel(model string) (*blazeFace, string, error) {
	if model == "" {
		if model = DefaultModel(); model == "" {
			return nil, "", errNoModel(ModelPaths())
		}
	}
	net, err := loadBlazeFace(model)
	if err != nil {
		return nil, model, err
	}
	return net, model, nil
}

// Options returns the options in force, defaults filled in (Model as given: "" = looked up).
func (d *Detector) Options() DetectorOptions { return d.opts }

// Kind is the detector in use: KindBlazeFace or KindHaar.
func (d *Detector) Kind() string {
	if d.net != nil {
		return KindBlazeFace
	}
	return KindHaar
}

// Fallback is why the cascade is in use although BlazeFace was asked for (a missing or
// corrupt model file); nil when the detector is the one asked for.
func (d *Detector) Fallback() error { return d.fallback }

// Describe is the detector in use in one line, for logs and `mirror-agent check`.
func (d *Detector) Describe() string {
	if d.net != nil {
		return "blazeface " + d.model
	}
	return "haar " + d.opts.Cascade
}

// checkCascade reads the file as XML before OpenCV sees it: OpenCV aborts the whole process
// (an uncaught C++ exception) on a file that is not well-formed OpenCV storage.
func checkCascade(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("vision: cascade %s: %w (install opencv-data or set presence.cascade)", path, err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	root, depth, cascade := "", 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("vision: cascade %s: not an OpenCV cascade (%v)", path, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = t.Name.Local
			}
			if depth == 1 {
				cascade = true // a child of opencv_storage: the cascade itself
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if root != "opencv_storage" || !cascade || depth != 0 {
		return fmt.Errorf("vision: cascade %s: not an OpenCV cascade file", path)
	}
	return nil
}

// Detect finds faces in a BGR frame: in the zone, or the whole frame.
func (d *Detector) Detect(frame gocv.Mat) Detection {
	return d.detect(camera.PictureOf(frame))
}

// detect is Detect on a picture, decoded at the smallest size the detector's input needs.
func (d *Detector) detect(pic *camera.Picture) Detection {
	start := time.Now()
	full := image.Rectangle{Max: pic.Size()}
	det := Detection{Frame: full.Max}
	if full.Empty() {
		return det
	}
	roi := full
	if d.opts.Zone != (image.Rectangle{}) {
		roi = d.opts.Zone.Intersect(full)
	}
	minSide := int(d.opts.MinFace * float64(full.Dx()))
	scale := max(1, float64(roi.Dx())/float64(d.opts.WorkWidth))
	d.find(pic, roi, scale, minSide, 0, &det)
	det.Elapsed = time.Since(start)
	return det
}

// trackFace is the size a known face is shrunk to when DetectNear looks for it again.
const trackFace = 48

// DetectNear looks for faces only around near (the shopper's face in a recent frame), at a
// scale where that face is small and within a narrow range of sizes: a fraction of the cost
// of Detect. Faces elsewhere are not seen; callers run Detect now and then.
func (d *Detector) DetectNear(frame gocv.Mat, near image.Rectangle) Detection {
	return d.detectNear(camera.PictureOf(frame), near)
}

// detectNear is DetectNear on a picture.
func (d *Detector) detectNear(pic *camera.Picture, near image.Rectangle) Detection {
	if d.net != nil || near.Empty() {
		return d.detect(pic)
	}
	start := time.Now()
	full := image.Rectangle{Max: pic.Size()}
	det := Detection{Frame: full.Max}
	if full.Empty() {
		return det
	}
	m := near.Dx() * 3 / 5
	win := image.Rect(near.Min.X-m, near.Min.Y-m, near.Max.X+m, near.Max.Y+m).Intersect(full)
	if d.opts.Zone != (image.Rectangle{}) {
		win = win.Intersect(d.opts.Zone)
	}
	if win.Empty() {
		return det
	}
	scale := max(1, float64(near.Dx())/trackFace)
	minSide := max(int(d.opts.MinFace*float64(full.Dx())), near.Dx()*2/3)
	maxSide := near.Dx() * 3 / 2
	d.find(pic, win, scale, minSide, maxSide, &det)
	det.Elapsed = time.Since(start)
	return det
}

// find runs the detector on roi (full-frame pixels) of the picture shrunk by scale (full-frame
// pixels per pixel of the cascade's input; BlazeFace shrinks its input to blazeSize itself) and
// appends faces of at least minSide (at most maxSide when > 0) full-frame pixels whose centre
// lies in the zone. An encoded picture is decoded at the largest reduction that keeps that
// input's detail (1/4 of a 640-pixel frame for BlazeFace, 1/2 for the cascade's 320 pixels).
func (d *Detector) find(pic *camera.Picture, roi image.Rectangle, scale float64, minSide, maxSide int, det *Detection) {
	work := scale
	if d.net != nil {
		work = float64(max(roi.Dx(), roi.Dy())) / blazeSize
	}
	img, err := pic.Reduced(reduction(int(work*blazeSize), blazeSize), false)
	if err != nil || img.Empty() {
		return
	}
	// kx, ky: full-frame pixels per pixel of img (1 for a frame decoded in full).
	kx, ky := float64(pic.Size().X)/float64(img.Cols()), float64(pic.Size().Y)/float64(img.Rows())
	iroi := roi
	if kx != 1 || ky != 1 {
		iroi = image.Rect(int(float64(roi.Min.X)/kx), int(float64(roi.Min.Y)/ky),
			int(math.Ceil(float64(roi.Max.X)/kx)), int(math.Ceil(float64(roi.Max.Y)/ky))).Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	}
	src := img.Region(iroi)
	defer src.Close()
	s := scale / kx // img pixels per input pixel
	size := image.Pt(max(1, int(float64(iroi.Dx())/s+0.5)), max(1, int(float64(iroi.Dy())/s+0.5)))
	in := src
	if s > 1 {
		gocv.Resize(src, &d.small, size, 0, 0, gocv.InterpolationArea)
		in = d.small
	}
	var rects []image.Rectangle
	f := kx * max(s, 1) // full-frame pixels per input pixel
	sx, sy := f, f
	if d.net != nil {
		rects = d.net.detect(in, d.opts.Confidence)
		sx, sy = float64(iroi.Dx())*kx/float64(in.Cols()), float64(iroi.Dy())*ky/float64(in.Rows())
	} else {
		rects = d.cascade(in, f, minSide, maxSide)
	}
	ox, oy := int(float64(iroi.Min.X)*kx), int(float64(iroi.Min.Y)*ky)
	for _, r := range rects {
		f := image.Rect(ox+int(float64(r.Min.X)*sx), oy+int(float64(r.Min.Y)*sy),
			ox+int(float64(r.Max.X)*sx), oy+int(float64(r.Max.Y)*sy))
		if f.Dx() < minSide {
			continue
		}
		if z := d.opts.Zone; z != (image.Rectangle{}) && !image.Pt((f.Min.X+f.Max.X)/2, (f.Min.Y+f.Max.Y)/2).In(z) {
			continue
		}
		det.Faces = append(det.Faces, f)
	}
	sort.Slice(det.Faces, func(i, j int) bool { return area(det.Faces[i]) > area(det.Faces[j]) })
	det.Primary = Primary(det.Faces, det.Frame)
}

// cascade runs the Haar cascade on in, whose pixels are f full-frame pixels wide, for faces of
// minSide to maxSide (0 = no limit) full-frame pixels.
func (d *Detector) cascade(in gocv.Mat, f float64, minSide, maxSide int) []image.Rectangle {
	if in.Channels() == 1 {
		in.CopyTo(&d.grey)
	} else {
		gocv.CvtColor(in, &d.grey, gocv.ColorBGRToGray)
	}
	gocv.EqualizeHist(d.grey, &d.grey)
	lo := max(20, int(float64(minSide)/f))
	hi := image.Point{}
	if maxSide > 0 {
		hi = image.Pt(int(float64(maxSide)/f)+1, int(float64(maxSide)/f)+1)
	}
	return d.cc.DetectMultiScaleWithParams(d.grey, d.opts.ScaleFactor, d.opts.MinNeighbors, 0, image.Pt(lo, lo), hi)
}

// Primary picks the shopper among faces: the largest, discounted by distance from the centre,
// so a big face at the very edge (someone passing behind) loses to the one in front of the glass.
func Primary(faces []image.Rectangle, frame image.Point) image.Rectangle {
	var best image.Rectangle
	bestScore := -1.0
	cx, cy := float64(frame.X)/2, float64(frame.Y)/2
	diag := float64(frame.X + frame.Y)
	for _, f := range faces {
		fx := float64(f.Min.X+f.Max.X) / 2
		fy := float64(f.Min.Y+f.Max.Y) / 2
		dist := abs(fx-cx) + abs(fy-cy)
		score := float64(area(f)) * (1 - dist/diag)
		if score > bestScore {
			best, bestScore = f, score
		}
	}
	return best
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// Close releases OpenCV memory.
func (d *Detector) Close() error {
	d.small.Close()
	d.grey.Close()
	if d.net != nil {
		d.net.Close()
	}
	return d.cc.Close()
}
