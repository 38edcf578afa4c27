// Package democlip makes the demo clip the agent plays when a machine has no camera: a person
// (the webcam frame testdata/face.jpg) walks into a fitting room, stays, and walks out.
//
// The clip is composed from the repository's own photo and a synthetic room, so it can be made
// on any machine without downloads, and the ground truth (when the face is fully in view) comes
// from the composition itself, not from a detector. The photo is embedded in the program
// (Photo), so an installed agent with no camera makes the clip on first need (Ensure).
package democlip

import (
	"bytes"
	_ "embed" // the demo photo
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decode the source photo
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// Face box of testdata/face.jpg (640×480), measured once with OpenCV's
// haarcascade_frontalface_default at scale 1.1, minNeighbors 4.
var sourceFace = image.Rect(235, 155, 459, 379)

// The part of the photo that is "the person": it slides in and out over the room.
var personCrop = image.Rect(110, 0, 610, 480)

// Script is one visit: an empty room, a walk in, a stay, a walk out, an empty room.
type Script struct {
	FPS     float64
	Empty   time.Duration // empty room before the walk in
	WalkIn  time.Duration
	Stay    time.Duration
	WalkOut time.Duration
	After   time.Duration // empty room after the walk out
	Seed    uint64        // sensor noise seed
}

// Default is the demo clip: 2 s empty, 1 s in, 10 s stay, 1 s out, 6 s empty, at 15 fps.
// The empty tail is longer than the default exit grace, so a looping demo closes its session
// before the next visit.
var Default = Script{FPS: 15, Empty: 2 * time.Second, WalkIn: time.Second, Stay: 10 * time.Second,
	WalkOut: time.Second, After: 6 * time.Second, Seed: 1}

// Truth is what happens in a clip, on media time.
type Truth struct {
	Frames    int           `json:"frames"`
	FPS       float64       `json:"fps"`
	Arrival   time.Duration `json:"arrival_ns"`   // first frame with the face wholly in the frame
	Departure time.Duration `json:"departure_ns"` // first frame after that with the face no longer wholly in
	Width     int           `json:"width"`
	Height    int           `json:"height"`
}

// Photo is the demo's person: person.jpg, the same 640×480 webcam frame as testdata/face.jpg
// (gocv's images/face.jpg, Apache-2.0; see testdata/NOTICE), embedded so that the agent can make
// the demo clip where there is no source tree.
//
//go:embed person.jpg
var Photo []byte

// Ensure makes the demo clip at out from the embedded photo unless a clip is already there, and
// says whether it made one. The clip is written under a temporary name and renamed, so an
// interrupted run never leaves a half-written clip that later runs would play.
func Ensure(out string) (made bool, err error) {
	if _, err := os.Stat(out); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("democlip: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return false, fmt.Errorf("democlip: %w", err)
	}
	ext := filepath.Ext(out) // the writer picks the container from the extension
	tmp := strings.TrimSuffix(out, ext) + fmt.Sprintf(".tmp-%d", os.Getpid()) + ext
	defer os.Remove(tmp)
	defer os.Remove(tmp + ".json")
	if _, err := GenerateFrom(Photo, "embedded demo photo", tmp, Default); err != nil {
		return false, err
	}
	if err := os.Rename(tmp+".json", out+".json"); err != nil {
		return false, fmt.Errorf("democlip: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return false, fmt.Errorf("democlip: %w", err)
	}
	return true, nil
}

// Generate writes the clip of script s made from the photo at photoPath to out (an .avi, MJPG)
// and its ground truth next to it (out + ".json").
func Generate(photoPath, out string, s Script) (Truth, error) {
	b, err := os.ReadFile(photoPath)
	if err != nil {
		return Truth{}, fmt.Errorf("democlip: %w", err)
	}
	return GenerateFrom(b, photoPath, out, s)
}

// GenerateFrom is Generate from the photo's bytes (a 640×480 JPEG); name is used in errors.
func GenerateFrom(photo []byte, name, out string, s Script) (Truth, error) {
	src, _, err := image.Decode(bytes.NewReader(photo))
	if err != nil {
		return Truth{}, fmt.Errorf("democlip: decode %s: %w", name, err)
	}
	if src.Bounds() != image.Rect(0, 0, 640, 480) {
		return Truth{}, fmt.Errorf("democlip: %s is %v, want a 640×480 frame", name, src.Bounds().Size())
	}
	const w, h = 640, 480
	room := makeRoom(w, h)
	person := toBGR(src)

	n := func(d time.Duration) int { return int(d.Seconds()*s.FPS + 0.5) }
	nEmpty, nIn, nStay, nOut, nAfter := n(s.Empty), n(s.WalkIn), n(s.Stay), n(s.WalkOut), n(s.After)
	total := nEmpty + nIn + nStay + nOut + nAfter
	restX := personCrop.Min.X // where the person stands: where the photo had them
	inFrom := -personCrop.Dx()
	outTo := w

	wr, err := camera.CreateVideo(out, s.FPS, w, h)
	if err != nil {
		return Truth{}, err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5eed))
	buf := make([]byte, w*h*3)
	truth := Truth{Frames: total, FPS: s.FPS, Width: w, Height: h, Arrival: -1, Departure: -1}
	faceIn := false
	for i := 0; i < total; i++ {
		var x int
		visible := true
		switch {
		case i < nEmpty:
			visible = false
		case i < nEmpty+nIn:
			k := float64(i-nEmpty+1) / float64(nIn)
			x = inFrom + int(k*float64(restX-inFrom))
		case i < nEmpty+nIn+nStay:
			x = restX
		case i < nEmpty+nIn+nStay+nOut:
			k := float64(i-nEmpty-nIn-nStay+1) / float64(nOut)
			x = restX + int(k*float64(outTo-restX))
		default:
			visible = false
		}
		copy(buf, room)
		if visible {
			paste(buf, w, h, person, x)
		}
		// Sensor noise and a little flicker, so no two frames are identical.
		flicker := rng.IntN(5) - 2
		for j := range buf {
			v := int(buf[j]) + flicker + rng.IntN(7) - 3
			buf[j] = byte(min(255, max(0, v)))
		}
		face := sourceFace.Add(image.Pt(x-personCrop.Min.X, 0))
		in := visible && face.In(image.Rect(0, 0, w, h))
		t := time.Duration(float64(i) / s.FPS * float64(time.Second))
		if in && !faceIn && truth.Arrival < 0 {
			truth.Arrival = t
		}
		if !in && faceIn && truth.Departure < 0 {
			truth.Departure = t
		}
		faceIn = in
		m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
		if err != nil {
			wr.Close()
			return Truth{}, fmt.Errorf("democlip: frame %d: %w", i, err)
		}
		err = wr.Write(m)
		m.Close()
		if err != nil {
			wr.Close()
			return Truth{}, fmt.Errorf("democlip: write frame %d: %w", i, err)
		}
	}
	if err := wr.Close(); err != nil {
		return Truth{}, fmt.Errorf("democlip: close %s: %w", out, err)
	}
	js, _ := json.MarshalIndent(truth, "", "  ")
	if err := os.WriteFile(out+".json", append(js, '\n'), 0o644); err != nil {
		return Truth{}, fmt.Errorf("democlip: %w", err)
	}
	return truth, nil
}

// makeRoom draws an empty fitting room in BGR: a warm wall lit from above, a floor, a curtain edge.
func makeRoom(w, h int) []byte {
	b := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl int
			switch {
			case y > h*5/6: // floor
				r, g, bl = 120, 100, 85
			case x < 40 || x > w-40: // curtain edges
				r, g, bl = 90, 70, 80
				if (x/8)%2 == 0 {
					r, g, bl = 80, 62, 72
				}
			default: // wall, brighter towards the lamp at the top
				l := 60 * (h - y) / h
				r, g, bl = 170+l/2, 160+l/2, 145+l/2
			}
			i := (y*w + x) * 3
			b[i], b[i+1], b[i+2] = byte(bl), byte(g), byte(r)
		}
	}
	return b
}

func toBGR(img image.Image) []byte {
	r := img.Bounds()
	b := make([]byte, r.Dx()*r.Dy()*3)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			i := ((y-r.Min.Y)*r.Dx() + (x - r.Min.X)) * 3
			b[i], b[i+1], b[i+2] = byte(cb>>8), byte(cg>>8), byte(cr>>8)
		}
	}
	return b
}

// paste draws personCrop of the 640×480 BGR photo with its left edge at x, feathering the
// left and right edges so the person does not look cut out with scissors.
func paste(dst []byte, w, h int, photo []byte, x int) {
	const feather = 24
	cw := personCrop.Dx()
	for cx := 0; cx < cw; cx++ {
		dx := x + cx
		if dx < 0 || dx >= w {
			continue
		}
		a := 256
		if e := min(cx, cw-1-cx); e < feather {
			a = 256 * e / feather
		}
		sx := personCrop.Min.X + cx
		for y := 0; y < h; y++ {
			si := (y*640 + sx) * 3
			di := (y*w + dx) * 3
			for c := 0; c < 3; c++ {
				dst[di+c] = byte((int(photo[si+c])*a + int(dst[di+c])*(256-a)) >> 8)
			}
		}
	}
}
