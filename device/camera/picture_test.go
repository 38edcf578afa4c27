package camera

import (
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// TestEncodedFileKeepsJPEGs: an MJPG file opened with Encoded hands over every frame's JPEG
// (as many frames as the decoding read), decodes it at full size like FFmpeg does, and at
// 1/2, 1/4 and 1/8 of it, in grey or colour, through libjpeg's scaling.
func TestEncodedFileKeepsJPEGs(t *testing.T) {
	clip := writeClip(t, 6)
	dec, err := Open(Options{Source: clip})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, err := Open(Options{Source: clip, Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	want, pic := gocv.NewMat(), NewPicture()
	defer want.Close()
	defer pic.Close()
	n := 0
	for ; ; n++ {
		_, err1 := dec.Read(&want)
		_, err2 := enc.ReadPicture(pic)
		if errors.Is(err1, io.EOF) || errors.Is(err2, io.EOF) {
			if !errors.Is(err1, io.EOF) || !errors.Is(err2, io.EOF) {
				t.Fatalf("frame %d: decoded read %v, encoded read %v: want both at the end", n, err1, err2)
			}
			break
		}
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !pic.Encoded() || pic.Size() != image.Pt(640, 480) {
			t.Fatalf("frame %d: encoded %v, size %v; want a 640×480 JPEG", n, pic.Encoded(), pic.Size())
		}
		full, err := pic.Full()
		if err != nil {
			t.Fatal(err)
		}
		if d := meanDiff(full, want); d > 2 {
			t.Errorf("frame %d: full decode differs from FFmpeg's by %.2f grey levels on average", n, d)
		}
		for _, tt := range []struct {
			k    int
			grey bool
			w, h int
			ch   int
		}{{2, false, 320, 240, 3}, {4, true, 160, 120, 1}, {4, false, 160, 120, 3}, {8, true, 80, 60, 1}} {
			m, err := pic.Reduced(tt.k, tt.grey)
			if err != nil || m.Cols() != tt.w || m.Rows() != tt.h || m.Channels() != tt.ch {
				t.Fatalf("Reduced(%d, %v) = %dx%d×%d (%v), want %dx%d×%d", tt.k, tt.grey, m.Cols(), m.Rows(), m.Channels(), err, tt.w, tt.h, tt.ch)
			}
		}
		small, _ := pic.Reduced(4, false)
		shrunk := gocv.NewMat()
		gocv.Resize(want, &shrunk, image.Pt(160, 120), 0, 0, gocv.InterpolationArea)
		if d := meanDiff(small, shrunk); d > 3 {
			t.Errorf("frame %d: the 1/4 decode differs from the full frame shrunk by %.2f grey levels on average", n, d)
		}
		shrunk.Close()
	}
	if n != 6 {
		t.Errorf("read %d frames, want 6", n)
	}
}

// TestEncodedFileRotatesLoopsAndSkips: an encoded file turns every decode by the rotation,
// starts over at its end when it loops, and Read and Skip work on it as on a decoded file.
func TestEncodedFileRotatesLoopsAndSkips(t *testing.T) {
	clip := writeClip(t, 3)
	s, err := Open(Options{Source: clip, Encoded: true, Rotation: 90, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pic := NewPicture()
	defer pic.Close()
	for i := 0; i < 7; i++ {
		f, err := s.ReadPicture(pic)
		if err != nil || f.Index != i {
			t.Fatalf("frame %d: %v (index %d)", i, err, f.Index)
		}
		m, _ := pic.Reduced(4, true)
		full, _ := pic.Full()
		if pic.Size() != image.Pt(480, 640) || m.Cols() != 120 || m.Rows() != 160 || full.Cols() != 480 || full.Rows() != 640 {
			t.Fatalf("frame %d: size %v, 1/4 %dx%d, full %dx%d; want the frame turned to 480×640", i, pic.Size(), m.Cols(), m.Rows(), full.Cols(), full.Rows())
		}
	}
	if _, err := s.Skip(); err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMat()
	defer m.Close()
	if f, err := s.Read(&m); err != nil || f.Index != 8 || m.Cols() != 480 || m.Rows() != 640 {
		t.Fatalf("Read = %dx%d, index %d, %v; want frame 8 at 480×640", m.Cols(), m.Rows(), f.Index, err)
	}
}

// TestDecodedSourcesGivePlainPictures: a folder of images (and any source that is not an MJPG
// file) gives decoded pictures, whose reduced sizes are the frame itself.
func TestDecodedSourcesGivePlainPictures(t *testing.T) {
	s, err := Open(Options{Source: "../../testdata", Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pic := NewPicture()
	defer pic.Close()
	if _, err := s.ReadPicture(pic); err != nil {
		t.Fatal(err)
	}
	m, err := pic.Reduced(4, true)
	if pic.Encoded() || err != nil || m.Cols() != pic.Size().X || m.Channels() != 3 {
		t.Fatalf("folder picture: encoded %v, reduced %dx%d×%d (%v); want the decoded frame", pic.Encoded(), m.Cols(), m.Rows(), m.Channels(), err)
	}
}

func TestJPEGSize(t *testing.T) {
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	b, err := EncodeJPEG(img, 80)
	if err != nil {
		t.Fatal(err)
	}
	if sz, ok := jpegSize(b); !ok || sz != image.Pt(img.Cols(), img.Rows()) {
		t.Errorf("jpegSize = %v, %v; want %dx%d", sz, ok, img.Cols(), img.Rows())
	}
	for _, bad := range [][]byte{nil, {0xFF, 0xD8}, []byte("not a jpeg at all"), b[:20]} {
		if _, ok := jpegSize(bad); ok {
			t.Errorf("jpegSize(% x…) ok, want not a JPEG", bad[:min(len(bad), 4)])
		}
	}
}

// meanDiff is the mean absolute difference of two Mats of the same size, in grey levels.
func meanDiff(a, b gocv.Mat) float64 {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	s := d.Mean()
	return (s.Val1 + s.Val2 + s.Val3) / float64(a.Channels())
}

// TestEncodedOtherCodecDecodes: a video file of another codec (FFV1, lossless) opened with
// Encoded is decoded as usual: its pictures are the decoded frames.
func TestEncodedOtherCodecDecodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ffv1.avi")
	img := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer img.Close()
	vw, err := gocv.VideoWriterFile(path, "FFV1", 10, img.Cols(), img.Rows(), true)
	if err != nil || !vw.IsOpened() {
		t.Fatalf("FFV1 writer: %v (OpenCV's FFmpeg has FFV1 on Debian)", err)
	}
	for i := 0; i < 3; i++ {
		if err := vw.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	vw.Close()
	s, err := Open(Options{Source: path, Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pic := NewPicture()
	defer pic.Close()
	n := 0
	for ; ; n++ {
		if _, err := s.ReadPicture(pic); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		full, err := pic.Full()
		if pic.Encoded() || err != nil || full.Cols() != 640 || full.Rows() != 480 {
			t.Fatalf("FFV1 frame %d: encoded %v, %dx%d (%v); want a decoded 640×480 frame", n, pic.Encoded(), full.Cols(), full.Rows(), err)
		}
	}
	if n != 3 {
		t.Errorf("read %d frames, want 3", n)
	}
}

// TestCorruptFrameIsOneFrame: a frame of an MJPG file that libjpeg cannot decode (its header
// claims 11-bit samples) fails with ErrCorruptFrame, at every size, and the frames after it
// read and decode as before: one bad frame, not a broken input.
func TestCorruptFrameIsOneFrame(t *testing.T) {
	clip := writeClip(t, 5)
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	sof, n := -1, 0 // the third frame's start of frame (FF C0), after its 2-byte length
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0xFF && b[i+1] == 0xC0 {
			if n++; n == 3 {
				sof = i
				break
			}
		}
	}
	if sof < 0 {
		t.Fatalf("%s: no third baseline JPEG frame", clip)
	}
	b[sof+4] = 11 // sample precision: libjpeg (8-bit) refuses it
	if err := os.WriteFile(clip, b, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(Options{Source: clip, Encoded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pic := NewPicture()
	defer pic.Close()
	for i := 0; i < 5; i++ {
		if _, err := src.ReadPicture(pic); err != nil {
			t.Fatalf("frame %d: read %v", i, err)
		}
		_, errFull := pic.Full()
		_, errSmall := pic.Reduced(4, true)
		bad := i == 2
		if bad != errors.Is(errFull, ErrCorruptFrame) || bad != errors.Is(errSmall, ErrCorruptFrame) {
			t.Errorf("frame %d: full %v, 1/4 %v; want ErrCorruptFrame only on frame 2", i, errFull, errSmall)
		}
	}
}
