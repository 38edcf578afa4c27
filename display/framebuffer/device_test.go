package framebuffer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

func TestSysfsGeometry(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Geometry
		err   string
	}{
		{"32 bpp with stride", map[string]string{"virtual_size": "1920,1080\n", "bits_per_pixel": "32\n", "stride": "7680\n"},
			Geometry{Width: 1920, Height: 1080, Stride: 7680, Format: XRGB8888}, ""},
		{"16 bpp without stride", map[string]string{"virtual_size": "800,480\n", "bits_per_pixel": "16\n"},
			Geometry{Width: 800, Height: 480, Stride: 1600, Format: RGB565}, ""},
		{"padded stride", map[string]string{"virtual_size": "1366,768", "bits_per_pixel": "16", "stride": "2752"},
			Geometry{Width: 1366, Height: 768, Stride: 2752, Format: RGB565}, ""},
		{"bad size", map[string]string{"virtual_size": "wide", "bits_per_pixel": "16"}, Geometry{}, "is not W,H"},
		{"no bpp", map[string]string{"virtual_size": "800,480"}, Geometry{}, "bits_per_pixel"},
		{"absent", nil, Geometry{}, "virtual_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysfs := t.TempDir()
			dir := filepath.Join(sysfs, "fb0")
			os.MkdirAll(dir, 0o755)
			for name, body := range tt.files {
				os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
			}
			got, err := sysfsGeometry(sysfs, "fb0")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("sysfsGeometry() = %v, %v; want an error about %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sysfsGeometry() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenErrors: bad configuration gets one clear line naming the problem.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "frame")
	os.WriteFile(existing, nil, 0o644)
	geo := Geometry{Width: 100, Height: 200, Format: RGB565}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"rotation", Options{Device: existing, Geometry: geo, Rotation: 45}, "rotation 45: must be 0, 90, 180 or 270"},
		{"no such device", Options{Device: filepath.Join(dir, "fb9")}, "no such file"},
		{"file without geometry", Options{Device: existing}, "Options.Geometry is required"},
		{"24 bpp", Options{Device: existing, Geometry: Geometry{Width: 10, Height: 10, Format: Format{BitsPerPixel: 24}}},
			"24 bits per pixel: only 16 and 32"},
		{"short stride", Options{Device: existing, Geometry: Geometry{Width: 100, Height: 10, Stride: 100, Format: RGB565}},
			"stride 100: shorter than a line"},
		{"no font", Options{Device: existing, Geometry: geo, Font: filepath.Join(dir, "none.ttf")}, "font"},
		{"not a font", Options{Device: existing, Geometry: geo, Font: existing}, "not a TrueType/OpenType font"},
		// /dev/null is a device but no framebuffer: neither the ioctl nor sysfs knows it.
		{"not a framebuffer", Options{Device: "/dev/null", Sysfs: dir}, "no framebuffer geometry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb, err := Open(tt.opts)
			if err == nil {
				fb.Close()
				t.Fatalf("Open(%+v) = nil error, want %q", tt.opts, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "framebuffer: ") || strings.Contains(msg, "\n") {
				t.Errorf("Open() = %q, want one line starting framebuffer: and naming %q", msg, tt.want)
			}
		})
	}
	if _, err := Open(Options{Device: "/dev/null", Sysfs: dir}); !errors.Is(err, ErrNoGeometry) {
		t.Errorf("Open(/dev/null) = %v, want ErrNoGeometry", err)
	}
}

// TestRun: Run draws the current Screen, every Show, redraws the QR scene every second for its
// ring, and leaves a black frame when it ends.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		geo := Geometry{Width: 120, Height: 200, Format: RGB565}
		path := filepath.Join(t.TempDir(), "fb")
		fb, err := Open(Options{Device: path, Geometry: geo, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		defer fb.Close()
		frame := func() []byte {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		black := make([]byte, 120*2*200)

		fb.Show(display.Screen{Scene: display.SceneWelcome})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- fb.Run(ctx) }()
		synctest.Wait()
		welcome := frame()
		if bytes.Equal(welcome, black) {
			t.Fatalf("after Run: frame is black, want the welcome scene")
		}

		scenes := displaytest.Scenes(time.Now())
		qr := scenes[4].Screen
		fb.Show(qr)
		synctest.Wait()
		first := frame()
		time.Sleep(10 * time.Second) // the ring moves on
		synctest.Wait()
		if later := frame(); bytes.Equal(first, later) {
			t.Errorf("QR scene: frame unchanged after 10 s, want the ring and the seconds to move")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		if !bytes.Equal(frame(), black) {
			t.Errorf("after Run ends: frame is not black")
		}
	})
}

// TestExpiredQR: an expired code is not drawn; the words say so.
func TestExpiredQR(t *testing.T) {
	fb, path := openFile(t, Geometry{Width: 480, Height: 800, Format: XRGB8888}, 0)
	qr := displaytest.Scenes(testNow)[4].Screen
	q := *qr.QR
	q.ExpiresAt = testNow.Add(-time.Second)
	qr.QR = &q
	if err := fb.Render(qr); err != nil {
		t.Fatal(err)
	}
	img := unturn(readPanel(t, path, fb.Geometry()), 0)
	if got := blackShare(img, 0, 0, 1, 1); got < 0.97 {
		t.Errorf("expired QR: %.2f%% black, want only words (≥ 97%%)", 100*got)
	}
	if lit(img).Empty() {
		t.Errorf("expired QR: nothing drawn, want the words")
	}
}
