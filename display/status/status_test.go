package status

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.png")

// gddram rebuilds what the SSD1306's display memory holds from the I²C writes the driver made:
// page/column address commands (0x00 0xB0|page, low nibble, high nibble) followed by data
// writes (0x40 …) in horizontal addressing.
func gddram(t *testing.T, ops []i2ctest.IO) []byte {
	t.Helper()
	mem := make([]byte, 128*8)
	page, col := 0, 0
	for _, op := range ops {
		if op.Addr != 0x3C {
			t.Fatalf("write to address %#x, want 0x3C", op.Addr)
		}
		if len(op.W) == 0 {
			continue
		}
		switch op.W[0] {
		case 0x00: // commands
			if len(op.W) == 4 && op.W[1]&0xF8 == 0xB0 {
				page = int(op.W[1] & 7)
				col = int(op.W[2]&0x0F) | int(op.W[3]&0x0F)<<4
			}
		case 0x40: // data
			for _, b := range op.W[1:] {
				mem[page*128+col] = b
				col++
			}
		default:
			t.Fatalf("I²C write %x: neither a command nor data", op.W)
		}
	}
	return mem
}

func TestSSD1306(t *testing.T) {
	bus := &i2ctest.Record{}
	st, err := OpenSSD1306(bus, Options{DeviceID: "mirror-07", IP: func() string { return "192.168.1.20" },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("OpenSSD1306: %v", err)
	}
	steps := []struct {
		name string
		do   func()
		want Info
	}{
		{"start", func() {}, Info{"mirror-07", "192.168.1.20", "idle", ""}},
		{"qr", func() { st.Show(display.Screen{Scene: display.SceneQR}) }, Info{"mirror-07", "192.168.1.20", "qr", ""}},
		{"error", func() {
			st.Show(display.Screen{Scene: display.SceneError, Message: "camera lost"})
		}, Info{"mirror-07", "192.168.1.20", "error", "camera lost"}},
		{"idle keeps the error", func() {
			st.Show(display.Idle)
		}, Info{"mirror-07", "192.168.1.20", "idle", "camera lost"}},
		{"set error", func() {
			st.SetError(errors.New("mqtt: connection refused by broker 10.0.0.1:1883"))
			st.SetError(nil)
		}, Info{"mirror-07", "192.168.1.20", "idle", "mqtt: connection refused by broker 10.0.0.1:1883"}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, st.Info()); diff != "" {
			t.Errorf("%s: Info() mismatch (-want +got):\n%s", s.name, diff)
		}
		if err := st.Render(); err != nil {
			t.Fatalf("%s: Render: %v", s.name, err)
		}
		// What reached the panel's memory is exactly the rendered image.
		want := Draw(s.want, image.Rect(0, 0, 128, 64))
		if got := gddram(t, bus.Ops); !bytes.Equal(got, want.Pix) {
			t.Errorf("%s: display memory differs from Draw(%+v)", s.name, s.want)
		}
	}
	golden(t, "status-error", Draw(steps[4].want, image.Rect(0, 0, 128, 64)))
}

// golden compares img with testdata/name.png (-update writes it).
func golden(t *testing.T, name string, img *image1bit.VerticalLSB) {
	t.Helper()
	gray := image.NewGray(img.Bounds())
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			if img.BitAt(x, y) {
				gray.Pix[gray.PixOffset(x, y)] = 0xff
			}
		}
	}
	path := filepath.Join("testdata", name+".png")
	if *update {
		var buf bytes.Buffer
		png.Encode(&buf, gray)
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	want, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var diff int
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			r, _, _, _ := want.At(x, y).RGBA()
			if (r > 0x7fff) != img.BitAt(x, y) {
				diff++
			}
		}
	}
	if diff != 0 {
		t.Errorf("%d pixels differ from %s", diff, path)
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"ER camera lost", 18, "ER camera lost"},
		{"ER 摄像头 lost", 18, "ER ??? lost"},
		{"ID a-very-long-device-id-indeed", 18, "ID a-very-long-dev"},
		{"tab\there", 18, "tab?here"},
	}
	for _, tt := range tests {
		if got := fit(tt.in, tt.n); got != tt.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// fakeDrawer counts draws and can fail.
type fakeDrawer struct {
	mu    sync.Mutex
	draws int
	err   error
}

func (f *fakeDrawer) Bounds() image.Rectangle { return image.Rect(0, 0, 128, 64) }
func (f *fakeDrawer) Draw(image.Rectangle, image.Image, image.Point) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.draws++
	return f.err
}

func (f *fakeDrawer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draws
}

// TestRun: Run draws at start, on every change and every Refresh; a failing display does not
// stop it.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &fakeDrawer{err: errors.New("i2c: remote I/O error")}
		st := New(d, Options{DeviceID: "m1", IP: func() string { return "10.0.0.2" }, Refresh: 30 * time.Second,
			Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- st.Run(ctx) }()
		synctest.Wait()
		if d.count() != 1 {
			t.Fatalf("draws after start = %d, want 1", d.count())
		}
		st.Show(display.Screen{Scene: display.SceneWelcome})
		synctest.Wait()
		if d.count() != 2 {
			t.Fatalf("draws after Show = %d, want 2", d.count())
		}
		time.Sleep(30 * time.Second) // fake time in the bubble
		synctest.Wait()
		if d.count() != 3 {
			t.Fatalf("draws after Refresh = %d, want 3", d.count())
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

// TestScenes: the status display follows the same scenes as the other renderers.
func TestScenes(t *testing.T) {
	d := &fakeDrawer{}
	st := New(d, Options{DeviceID: "m1", IP: func() string { return "10.0.0.2" }})
	for _, sc := range displaytest.Scenes(time.Now()) {
		st.Show(sc.Screen)
		if err := st.Render(); err != nil {
			t.Fatal(err)
		}
		if got := st.Info().State; got != sc.Screen.Scene {
			t.Errorf("after Show(%s): state %q, want %q", sc.Name, got, sc.Screen.Scene)
		}
	}
	if got, want := st.Info().LastError, displaytest.ErrorMessage; got != want {
		t.Errorf("last error %q, want the error scene's %q", got, want)
	}
}
