// Package evalset generates the presence evaluation set: short clips of a fitting room, with
// ground truth, composed from the repository's own photo (testdata/face.jpg) and synthetic
// rooms and shapes, so every machine can make them without downloads.
//
// The clips cover what a fitting-room mirror meets: a shopper walking in, staying and leaving;
// a passer-by whose face is in view for less than the dwell; motion with nobody there (a
// swinging curtain, a light change); a twirl with the face hidden for about 1.5 s; two visits
// with a gap longer than the exit grace; pedestrians far away whose faces are too small to
// count. The truth (when a near face is wholly in the frame) comes from the composition,
// not from a detector.
//
// Clips are generated into a directory of the caller's choosing (tests use a temporary one);
// they are not kept in git.
package evalset

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// Frame size of every clip.
const (
	Width  = 640
	Height = 480
	FPS    = 15
)

// Face box of testdata/face.jpg (640×480), measured once with OpenCV's
// haarcascade_frontalface_default at scale 1.1, minNeighbors 4.
var sourceFace = image.Rect(235, 155, 459, 379)

// personCrop is the part of the photo that is "the person".
var personCrop = image.Rect(110, 0, 610, 480)

// nearScale: people drawn at least this large are shoppers at the mirror; smaller ones are
// pedestrians further away, whose faces must not count.
const nearScale = 0.5

// Person is one figure in a frame: the person crop of the photo scaled by Scale with its
// top-left corner at (X, Y). Hidden draws the back of the head over the face (a twirl).
type Person struct {
	X, Y   int
	Scale  float64
	Hidden bool
}

// Scene is what one frame shows.
type Scene struct {
	People  []Person
	Curtain int // x of a swinging dark curtain panel; 0 = none
	Light   int // brightness added to the whole frame (a lamp switched on), may be negative
}

// Spec describes one clip: its length and the scene at each media time.
type Spec struct {
	Name     string
	Duration time.Duration
	Scene    func(t time.Duration) Scene
}

// Visit is a stretch of the clip with a near face wholly in the frame (hidden or not).
type Visit struct {
	Arrival   time.Duration `json:"arrival_ns"`
	Departure time.Duration `json:"departure_ns"` // first frame after the visit; the clip's end if it lasts
}

// Truth is what a clip shows.
type Truth struct {
	Name   string  `json:"name"`
	Frames int     `json:"frames"`
	FPS    float64 `json:"fps"`
	Visits []Visit `json:"visits"`
}

// Clip is a generated clip.
type Clip struct {
	Path  string
	Truth Truth
}

// walk moves x from a to b over d starting at t0 (clamped before and after).
func walk(t, t0, d time.Duration, a, b int) int {
	k := float64(t-t0) / float64(d)
	k = math.Max(0, math.Min(1, k))
	return a + int(k*float64(b-a))
}

const (
	restX  = 110 // where a shopper stands: where the photo had them
	inFrom = -500
	outTo  = Width
)

// visit is a shopper who walks in at t0 over 1 s, stays for stay, and walks out over 1 s.
func visit(t, t0, stay time.Duration) (Person, bool) {
	switch {
	case t < t0:
		return Person{}, false
	case t < t0+time.Second:
		return Person{X: walk(t, t0, time.Second, inFrom, restX), Scale: 1}, true
	case t < t0+time.Second+stay:
		return standing(t), true
	case t < t0+2*time.Second+stay:
		return Person{X: walk(t, t0+time.Second+stay, time.Second, restX, outTo), Scale: 1}, true
	}
	return Person{}, false
}

// standing is the shopper at rest where they stand at time t. A person standing in front of a
// mirror is never still to the pixel, as a poster is: they sway a few pixels side to side and
// up and down, and breathe (their size changes by about half a percent), each on its own
// slow rhythm.
func standing(t time.Duration) Person {
	s := t.Seconds()
	return Person{
		X:     restX + int(math.Round(3*math.Sin(1.7*s))),
		Y:     int(math.Round(2 * math.Sin(2.3*s+1))),
		Scale: 1 + 0.006*math.Sin(1.1*s),
	}
}

func scene(ps ...Person) Scene { return Scene{People: ps} }

// Specs is the evaluation set.
func Specs() []Spec {
	s := time.Second
	return []Spec{
		{Name: "walk-in-stay-leave", Duration: 14 * s, Scene: func(t time.Duration) Scene {
			if p, ok := visit(t, 1500*time.Millisecond, 6*s); ok {
				return scene(p)
			}
			return Scene{}
		}},
		{Name: "passer-by", Duration: 7 * s, Scene: func(t time.Duration) Scene {
			// Crosses the whole frame in 1.6 s: the face is wholly in view for about 0.6 s.
			if t >= 2*s && t < 3600*time.Millisecond {
				return scene(Person{X: walk(t, 2*s, 1600*time.Millisecond, inFrom, outTo), Scale: 1})
			}
			return Scene{}
		}},
		{Name: "motion-no-person", Duration: 8 * s, Scene: func(t time.Duration) Scene {
			sc := Scene{}
			if t >= s && t < 6*s { // a curtain panel swinging across the room
				sc.Curtain = 320 + int(220*math.Sin(float64(t-s)/float64(s)*2))
			}
			if t >= 4*s { // a lamp comes on over 1.5 s
				sc.Light = walk(t, 4*s, 1500*time.Millisecond, 0, 40)
			}
			return sc
		}},
		{Name: "twirl", Duration: 15 * s, Scene: func(t time.Duration) Scene {
			p, ok := visit(t, 1500*time.Millisecond, 7*s)
			if !ok {
				return Scene{}
			}
			// 3 s after arriving the shopper turns round: 1.5 s with the back of the head to
			// the camera, swaying as they turn.
			if tw := t - 5500*time.Millisecond; tw >= 0 && tw < 1500*time.Millisecond {
				p.Hidden = true
				p.X += int(18 * math.Sin(float64(tw)/float64(s)*2*math.Pi))
			}
			return scene(p)
		}},
		{Name: "two-visits", Duration: 20 * s, Scene: func(t time.Duration) Scene {
			if p, ok := visit(t, s, 3*s); ok {
				return scene(p)
			}
			if p, ok := visit(t, 11*s, 3*s); ok { // 5 s after the first left: more than the grace
				return scene(p)
			}
			return Scene{}
		}},
		{Name: "far-pedestrians", Duration: 9 * s, Scene: func(t time.Duration) Scene {
			const far = 0.18 // a face of about 40 px: under the default minimum of 0.08 × 640
			var ps []Person
			ps = append(ps, Person{X: walk(t, 0, 8*s, -90, Width), Y: 250, Scale: far})
			if t >= 2*s && t < 7*s { // one stops and looks this way for 4 s
				ps = append(ps, Person{X: walk(t, 2*s, 1*s, Width, 330), Y: 240, Scale: far})
			}
			return Scene{People: ps}
		}},
	}
}

// Generate writes every clip of the set into dir (as NAME.avi, MJPG) from the photo at photo.
func Generate(photo, dir string) ([]Clip, error) {
	var clips []Clip
	for _, s := range Specs() {
		c, err := GenerateClip(photo, filepath.Join(dir, s.Name+".avi"), s)
		if err != nil {
			return nil, err
		}
		clips = append(clips, c)
	}
	return clips, nil
}

// GenerateClip writes one clip to out.
func GenerateClip(photo, out string, s Spec) (Clip, error) {
	err := writeClip(photo, out, s.Name, s.Duration, 0x5eed, func(src gocv.Mat) (clipDrawer, func()) {
		r := newRenderer(src)
		return func(t time.Duration, rng *rand.Rand) gocv.Mat { r.draw(s.Scene(t), rng); return r.frame }, r.Close
	})
	if err != nil {
		return Clip{}, err
	}
	return Clip{Path: out, Truth: TruthOf(s)}, nil
}

// clipDrawer draws the frame at t of a clip.
type clipDrawer func(t time.Duration, rng *rand.Rand) gocv.Mat

// writeClip renders a clip of the given duration from the 640×480 photo into out (MJPG), one
// frame at a time, with a random source seeded from the clip's name and seed so that every run
// writes the same clip. start makes the drawer (and its Close) from the photo.
func writeClip(photo, out, name string, d time.Duration, seed uint64, start func(src gocv.Mat) (clipDrawer, func())) error {
	src := gocv.IMRead(photo, gocv.IMReadColor)
	defer src.Close()
	if src.Empty() {
		return fmt.Errorf("evalset: cannot read %s", photo)
	}
	if src.Cols() != 640 || src.Rows() != 480 {
		return fmt.Errorf("evalset: %s is %d×%d, want a 640×480 frame", photo, src.Cols(), src.Rows())
	}
	draw, closeFn := start(src)
	defer closeFn()
	w, err := camera.CreateVideo(out, FPS, Width, Height)
	if err != nil {
		return fmt.Errorf("evalset: %w", err)
	}
	n := int(d.Seconds()*FPS + 0.5)
	rng := rand.New(rand.NewPCG(uint64(len(name)), seed))
	for i := 0; i < n; i++ {
		if err := w.Write(draw(frameTime(i), rng)); err != nil {
			w.Close()
			return fmt.Errorf("evalset: %s frame %d: %w", name, i, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("evalset: close %s: %w", out, err)
	}
	return nil
}

func frameTime(i int) time.Duration { return time.Duration(float64(i) / FPS * float64(time.Second)) }

// TruthOf computes a clip's ground truth from its script: the stretches in which a near
// person's face is wholly inside the frame.
func TruthOf(s Spec) Truth {
	return truthFrom(s.Name, s.Duration, func(t time.Duration) bool {
		for _, p := range s.Scene(t).People {
			if p.Scale >= nearScale && faceBox(p).In(image.Rect(0, 0, Width, Height)) {
				return true
			}
		}
		return false
	})
}

// truthFrom builds a clip's ground truth from near, which says whether a near face is wholly
// in the frame at t: a visit runs from the first such frame to the first frame without one.
func truthFrom(name string, d time.Duration, near func(t time.Duration) bool) Truth {
	n := int(d.Seconds()*FPS + 0.5)
	truth := Truth{Name: name, Frames: n, FPS: FPS}
	in := false
	for i := 0; i < n; i++ {
		t := frameTime(i)
		now := near(t)
		switch {
		case now && !in:
			truth.Visits = append(truth.Visits, Visit{Arrival: t, Departure: d})
		case !now && in:
			truth.Visits[len(truth.Visits)-1].Departure = t
		}
		in = now
	}
	return truth
}

// faceBox is where a person's face is in the frame.
func faceBox(p Person) image.Rectangle {
	f := sourceFace.Sub(personCrop.Min)
	return image.Rect(p.X+int(float64(f.Min.X)*p.Scale), p.Y+int(float64(f.Min.Y)*p.Scale),
		p.X+int(float64(f.Max.X)*p.Scale), p.Y+int(float64(f.Max.Y)*p.Scale))
}

// renderer draws scenes with OpenCV (the composition stays out of Go loops, so generating the
// set is quick even under the race detector).
type renderer struct {
	room, frame, person, scaled gocv.Mat
	noise                       []gocv.Mat
	k                           int
}

func newRenderer(photo gocv.Mat) *renderer {
	r := &renderer{room: room(), frame: gocv.NewMat(), scaled: gocv.NewMat()}
	crop := photo.Region(personCrop)
	r.person = crop.Clone()
	crop.Close()
	// Sensor noise: a few fixed noise frames cycled, so no two consecutive frames are equal.
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, Width*Height*3)
	for i := 0; i < 5; i++ {
		for j := range buf {
			buf[j] = byte(rng.IntN(7))
		}
		m, _ := gocv.NewMatFromBytes(Height, Width, gocv.MatTypeCV8UC3, buf)
		r.noise = append(r.noise, m)
	}
	return r
}

func (r *renderer) draw(sc Scene, rng *rand.Rand) {
	r.room.CopyTo(&r.frame)
	if sc.Curtain != 0 {
		gocv.Rectangle(&r.frame, image.Rect(sc.Curtain-60, 0, sc.Curtain+60, 400), color.RGBA{70, 50, 60, 0}, -1)
	}
	full := image.Rect(0, 0, Width, Height)
	for _, p := range sc.People {
		size := image.Pt(int(float64(personCrop.Dx())*p.Scale), int(float64(personCrop.Dy())*p.Scale))
		dst := image.Rectangle{Min: image.Pt(p.X, p.Y), Max: image.Pt(p.X, p.Y).Add(size)}
		vis := dst.Intersect(full)
		if vis.Empty() {
			continue
		}
		gocv.Resize(r.person, &r.scaled, size, 0, 0, gocv.InterpolationArea)
		srcPart := r.scaled.Region(vis.Sub(dst.Min))
		dstPart := r.frame.Region(vis)
		srcPart.CopyTo(&dstPart)
		srcPart.Close()
		dstPart.Close()
		if p.Hidden {
			f := faceBox(p)
			c := image.Pt((f.Min.X+f.Max.X)/2, (f.Min.Y+f.Max.Y)/2)
			gocv.Ellipse(&r.frame, c, image.Pt(f.Dx()*6/10, f.Dy()*7/10), 0, 0, 360, color.RGBA{35, 28, 22, 0}, -1)
		}
	}
	gocv.Add(r.frame, r.noise[r.k%len(r.noise)], &r.frame)
	r.k++
	r.frame.SubtractUChar(3)
	light := sc.Light + rng.IntN(5) - 2 // and a little flicker
	if light > 0 {
		r.frame.AddUChar(uint8(light))
	} else if light < 0 {
		r.frame.SubtractUChar(uint8(-light))
	}
}

func (r *renderer) Close() {
	for _, m := range []*gocv.Mat{&r.room, &r.frame, &r.person, &r.scaled} {
		m.Close()
	}
	for i := range r.noise {
		r.noise[i].Close()
	}
}

// room draws an empty fitting room: a warm wall lit from above, curtain edges, a floor.
func room() gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(85, 100, 120, 0), Height, Width, gocv.MatTypeCV8UC3)
	for y := 0; y < Height*5/6; y += 8 {
		l := 60 * (Height - y) / Height
		c := color.RGBA{uint8(170 + l/2), uint8(160 + l/2), uint8(145 + l/2), 0}
		gocv.Rectangle(&m, image.Rect(40, y, Width-40, y+8), c, -1)
	}
	for x := 0; x < 40; x += 8 {
		shade := color.RGBA{80, 70, 90, 0}
		if (x/8)%2 == 0 {
			shade = color.RGBA{72, 62, 80, 0}
		}
		gocv.Rectangle(&m, image.Rect(x, 0, x+8, Height*5/6), shade, -1)
		gocv.Rectangle(&m, image.Rect(Width-40+x, 0, Width-40+x+8, Height*5/6), shade, -1)
	}
	return m
}
