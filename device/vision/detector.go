// Package vision turns camera frames into presence observations: faces found with OpenCV's
// cascade classifiers on a downscaled grey copy of the frame.
//
// With device/camera it is the only package tree that uses cgo. It hands the session engine
// plain Go values (session.Observation); frames never leave memory.
package vision

import (
	"encoding/xml"
	"fmt"
	"image"
	"io"
	"os"
	"sort"
	"time"

	"gocv.io/x/gocv"
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
}

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
	return o
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
	opts  DetectorOptions
	cc    gocv.CascadeClassifier
	small gocv.Mat
	grey  gocv.Mat
}

// NewDetector loads the cascade; a missing or unreadable file is an error naming it.
func NewDetector(opts DetectorOptions) (*Detector, error) {
	opts = opts.withDefaults()
	if err := checkCascade(opts.Cascade); err != nil {
		return nil, err
	}
	cc := gocv.NewCascadeClassifier()
	if !cc.Load(opts.Cascade) {
		cc.Close()
		return nil, fmt.Errorf("vision: cascade %s: not a valid OpenCV cascade file", opts.Cascade)
	}
	return &Detector{opts: opts, cc: cc, small: gocv.NewMat(), grey: gocv.NewMat()}, nil
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

// Detect finds faces in a BGR frame.
func (d *Detector) Detect(frame gocv.Mat) Detection {
	start := time.Now()
	w, h := frame.Cols(), frame.Rows()
	det := Detection{Frame: image.Pt(w, h)}
	if w == 0 || h == 0 {
		return det
	}
	scale := 1.0
	src := frame
	if w > d.opts.WorkWidth {
		scale = float64(w) / float64(d.opts.WorkWidth)
		gocv.Resize(frame, &d.small, image.Pt(d.opts.WorkWidth, int(float64(h)/scale+0.5)), 0, 0, gocv.InterpolationArea)
		src = d.small
	}
	if src.Channels() == 1 {
		src.CopyTo(&d.grey)
	} else {
		gocv.CvtColor(src, &d.grey, gocv.ColorBGRToGray)
	}
	gocv.EqualizeHist(d.grey, &d.grey)
	minSide := int(d.opts.MinFace * float64(d.grey.Cols()))
	if minSide < 20 {
		minSide = 20
	}
	rects := d.cc.DetectMultiScaleWithParams(d.grey, d.opts.ScaleFactor, d.opts.MinNeighbors, 0,
		image.Pt(minSide, minSide), image.Pt(0, 0))
	for _, r := range rects {
		det.Faces = append(det.Faces, image.Rect(
			int(float64(r.Min.X)*scale), int(float64(r.Min.Y)*scale),
			int(float64(r.Max.X)*scale), int(float64(r.Max.Y)*scale)))
	}
	sort.Slice(det.Faces, func(i, j int) bool { return area(det.Faces[i]) > area(det.Faces[j]) })
	det.Primary = Primary(det.Faces, det.Frame)
	det.Elapsed = time.Since(start)
	return det
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
	return d.cc.Close()
}
