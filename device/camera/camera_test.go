package camera

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

const facePhoto = "../../testdata/face.jpg"

// writeClip writes n frames of the face photo, darkened a little more each frame.
func writeClip(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.avi")
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	w, err := CreateVideo(path, 10, img.Cols(), img.Rows())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, s *Source, max int) []Frame {
	t.Helper()
	m := gocv.NewMat()
	defer m.Close()
	var frames []Frame
	for len(frames) < max {
		f, err := s.Read(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read after %d frames: %v", len(frames), err)
		}
		if m.Cols() != 640 || m.Rows() != 480 {
			t.Fatalf("frame %d is %dx%d, want 640x480", len(frames), m.Cols(), m.Rows())
		}
		frames = append(frames, f)
	}
	return frames
}

func TestVideoFile(t *testing.T) {
	clip := writeClip(t, 12)
	s, err := Open(Options{Source: clip})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != KindFile || s.FPS() != 10 {
		t.Errorf("Open(clip) kind %s fps %v, want file at 10", s.Kind(), s.FPS())
	}
	frames := readAll(t, s, 100)
	if len(frames) != 12 {
		t.Fatalf("read %d frames, want 12 then EOF", len(frames))
	}
	if got, want := frames[11].MediaTime, 1100*time.Millisecond; got != want {
		t.Errorf("frame 11 media time = %v, want %v", got, want)
	}
}

func TestVideoFileLoops(t *testing.T) {
	s, err := Open(Options{Source: writeClip(t, 5), Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readAll(t, s, 12)
	if len(frames) != 12 || frames[11].Index != 11 {
		t.Errorf("looping file gave %d frames, want 12 with indexes counting on", len(frames))
	}
}

func TestImageFolder(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile(facePhoto)
	for _, n := range []string{"b.jpg", "a.jpg", "c.JPG", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), src, 0o644)
	}
	s, err := Open(Options{Source: dir, FPS: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != KindFolder {
		t.Errorf("kind = %s, want folder", s.Kind())
	}
	frames := readAll(t, s, 10)
	if len(frames) != 3 || frames[2].MediaTime != 400*time.Millisecond {
		t.Errorf("folder gave %d frames (last %v), want 3 images at 5 fps", len(frames), frames[len(frames)-1].MediaTime)
	}
}

func TestPacedFilePlaysAtMediaRate(t *testing.T) {
	s, err := Open(Options{Source: writeClip(t, 6), Paced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readAll(t, s, 6)
	// Frame 5 is due 500 ms after the start; pacing may only be late, never early.
	if got := frames[5].At.Sub(frames[0].At); got < 450*time.Millisecond {
		t.Errorf("paced frames 0→5 took %v, want at least the 500 ms of media time", got)
	}
}

func TestOpenErrorsNameTheSource(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.avi")
	os.WriteFile(corrupt, []byte("RIFF not a video"), 0o644)
	empty := t.TempDir()
	tests := []struct{ src, want string }{
		{"/nonexistent/clip.avi", "no such file"},
		{corrupt, "cannot open"},
		{empty, "has no images"},
	}
	for _, tt := range tests {
		_, err := Open(Options{Source: tt.src})
		if err == nil || !strings.Contains(err.Error(), tt.src) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %v, want an error naming it and saying %q", tt.src, err, tt.want)
		}
	}
}

func TestResolveAuto(t *testing.T) {
	if devs, _ := filepath.Glob("/dev/video*"); len(devs) > 0 {
		t.Logf("this machine has %v; checking only the explicit source", devs)
		if got, _ := Resolve(Options{Source: "/tmp/x.avi"}); got != "/tmp/x.avi" {
			t.Errorf("Resolve(explicit) = %q", got)
		}
		return
	}
	clip := writeClip(t, 1)
	if got, err := Resolve(Options{Source: "auto", DemoClip: clip}); err != nil || got != clip {
		t.Errorf("Resolve(auto, no camera) = %q, %v; want the demo clip", got, err)
	}
	_, err := Resolve(Options{Source: "auto", DemoClip: "/nonexistent/demo.avi"})
	if !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "/nonexistent/demo.avi") {
		t.Errorf("Resolve(auto, no camera, no clip) = %v, want ErrNoCamera naming the missing clip", err)
	}
}

// TestRotation: a camera mounted sideways delivers upright frames, and Size says so.
func TestRotation(t *testing.T) {
	clip := writeClip(t, 2)
	for _, tt := range []struct {
		rot  int
		w, h int
	}{{0, 640, 480}, {90, 480, 640}, {180, 640, 480}, {270, 480, 640}} {
		s, err := Open(Options{Source: clip, Rotation: tt.rot})
		if err != nil {
			t.Fatal(err)
		}
		m := gocv.NewMat()
		if _, err := s.Read(&m); err != nil {
			t.Fatal(err)
		}
		if w, h := s.Size(); m.Cols() != tt.w || m.Rows() != tt.h || w != tt.w || h != tt.h {
			t.Errorf("rotation %d: frame %dx%d, Size %dx%d; want %dx%d", tt.rot, m.Cols(), m.Rows(), w, h, tt.w, tt.h)
		}
		if tt.rot == 90 {
			// The photo's top-left corner (wall) is now at the top-right.
			src := gocv.IMRead(facePhoto, gocv.IMReadColor)
			a, b := src.GetVecbAt(0, 0), m.GetVecbAt(0, m.Cols()-1)
			src.Close()
			for c := 0; c < 3; c++ {
				if d := int(a[c]) - int(b[c]); d > 40 || d < -40 {
					t.Errorf("rotation 90: corner colour %v, want near %v", b, a)
					break
				}
			}
		}
		m.Close()
		s.Close()
	}
	if _, err := Open(Options{Source: clip, Rotation: 45}); err == nil || !strings.Contains(err.Error(), "rotation 45") {
		t.Errorf("Open(rotation 45) = %v, want an error naming it", err)
	}
}

func TestEncodeJPEG(t *testing.T) {
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	hi, err := EncodeJPEG(img, 95)
	if err != nil {
		t.Fatal(err)
	}
	lo, _ := EncodeJPEG(img, 50)
	if len(hi) < 1000 || hi[0] != 0xFF || hi[1] != 0xD8 || len(lo) >= len(hi) {
		t.Errorf("EncodeJPEG sizes q95 %d, q50 %d: want JPEGs, smaller at lower quality", len(hi), len(lo))
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := EncodeJPEG(empty, 90); err == nil {
		t.Errorf("EncodeJPEG(empty) = nil error")
	}
}
