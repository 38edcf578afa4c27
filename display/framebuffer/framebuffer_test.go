package framebuffer

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/golden")

// testNow is the clock of every golden image.
var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openFile opens a framebuffer that writes to a file in a temporary folder.
func openFile(t testing.TB, geo Geometry, rot int) (*Framebuffer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fb")
	fb, err := Open(Options{Device: path, Geometry: geo, Rotation: rot, Photos: displaytest.NewPhotos(),
		Now: func() time.Time { return testNow }, Logger: discard()})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { fb.Close() })
	return fb, path
}

// readPanel reads the file back as the panel shows it.
func readPanel(t testing.TB, path string, geo Geometry) *image.RGBA {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != geo.Stride*geo.Height {
		t.Fatalf("%s has %d bytes, want stride %d × height %d", path, len(b), geo.Stride, geo.Height)
	}
	return decode(b, geo.Width, geo.Height, geo.Stride, geo.Format)
}

// unturn turns a panel image back to the logical (upright) view.
func unturn(img *image.RGBA, rot int) *image.RGBA {
	b := img.Bounds()
	pw, ph := b.Dx(), b.Dy()
	w, h := pw, ph
	if rot == 90 || rot == 270 {
		w, h = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var px, py int
			switch rot {
			case 0:
				px, py = x, y
			case 90:
				px, py = pw-1-y, x
			case 180:
				px, py = pw-1-x, ph-1-y
			case 270:
				px, py = y, ph-1-x
			}
			copy(out.Pix[(y*w+x)*4:(y*w+x)*4+4], img.Pix[(py*pw+px)*4:])
		}
	}
	return out
}

// blackShare is the share of pure black pixels in the part of img given in fractions of its size.
func blackShare(img *image.RGBA, x0, y0, x1, y1 float64) float64 {
	b := img.Bounds()
	r := image.Rect(int(x0*float64(b.Dx())), int(y0*float64(b.Dy())), int(x1*float64(b.Dx())), int(y1*float64(b.Dy())))
	var black, all int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[y*img.Stride+r.Min.X*4 : y*img.Stride+r.Max.X*4]
		for i := 0; i < len(row); i += 4 {
			all++
			if row[i]|row[i+1]|row[i+2] == 0 {
				black++
			}
		}
	}
	return float64(black) / float64(all)
}

// lit is the bounding box of the pixels that are not black.
func lit(img *image.RGBA) image.Rectangle {
	r := image.Rectangle{Min: image.Pt(img.Rect.Dx(), img.Rect.Dy())}
	for y := range img.Rect.Dy() {
		row := img.Pix[y*img.Stride : y*img.Stride+img.Rect.Dx()*4]
		for i := 0; i < len(row); i += 4 {
			if row[i]|row[i+1]|row[i+2] != 0 {
				x := i / 4
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	if r.Max.X == 0 {
		return image.Rectangle{}
	}
	return r
}

// zbar decodes the QR code in img with zbarimg (Debian zbar-tools), an independent decoder.
func zbar(t *testing.T, img image.Image) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shot.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/zbarimg", "--raw", "-q", path).Output()
	if err != nil {
		t.Errorf("zbarimg %s: %v", path, err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// diff compares two images: the share of pixels that differ by more than a rounding step in any
// channel, and the largest channel difference.
func diff(a, b *image.RGBA) (share float64, maxd int) {
	if a.Bounds() != b.Bounds() {
		return 1, 255
	}
	var n int
	for i := 0; i < len(a.Pix); i += 4 {
		d := 0
		for c := range 3 {
			d = max(d, abs(int(a.Pix[i+c])-int(b.Pix[i+c])))
		}
		maxd = max(maxd, d)
		if d > 8 {
			n++
		}
	}
	return float64(n) / float64(len(a.Pix)/4), maxd
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// panels are the resolutions and pixel formats of the golden images: small RGB565 and XRGB8888
// panels, and one with a padded stride (lines longer than the visible width).
var panels = []Geometry{
	{Width: 360, Height: 640, Format: RGB565},
	{Width: 480, Height: 800, Format: XRGB8888},
	{Width: 600, Height: 1024, Stride: 600*2 + 64, Format: RGB565},
}

// TestGolden renders every scene on three panels, upright (rotation 0: portrait) and turned
// (rotation 90: the same panel used in landscape), and compares what the panel shows with
// testdata/golden. go test -update rewrites the images.
func TestGolden(t *testing.T) {
	for _, geo := range panels {
		for _, rot := range []int{0, 90} {
			t.Run(fmt.Sprintf("%dx%d-%s-r%d", geo.Width, geo.Height, geo.Format, rot), func(t *testing.T) {
				t.Parallel()
				fb, path := openFile(t, geo, rot)
				geo := fb.Geometry()
				for _, sc := range displaytest.Scenes(testNow) {
					if err := fb.Render(sc.Screen); err != nil {
						t.Fatalf("Render(%s): %v", sc.Name, err)
					}
					got := readPanel(t, path, geo)
					checkScene(t, sc, unturn(got, rot))

					golden := filepath.Join("testdata", "golden", fmt.Sprintf("%dx%d-r%d-%s.png", geo.Width, geo.Height, rot, sc.Name))
					if *update {
						var buf bytes.Buffer
						if err := png.Encode(&buf, got); err != nil {
							t.Fatal(err)
						}
						if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
							t.Fatal(err)
						}
						continue
					}
					want := readPNG(t, golden)
					// Font rasterisation may differ in the last bit across CPUs (fused
					// multiply-add); a layout change moves thousands of pixels.
					if share, maxd := diff(got, want); share > 0.001 {
						t.Errorf("scene %s: %.3f%% of the pixels differ from %s (max channel difference %d); run go test -update and look at the images if the change is intended",
							sc.Name, 100*share, golden, maxd)
					}
				}
			})
		}
	}
}

func readPNG(t *testing.T, path string) *image.RGBA {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create the golden images)", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if rgba, ok := img.(*image.RGBA); ok {
		return rgba
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	return rgba
}

// checkScene checks what must hold for a scene whatever the golden image says: the two-way
// mirror rule (black idle, black middle), content inside the safe margin, a QR code that scans.
func checkScene(t *testing.T, sc displaytest.Scene, img *image.RGBA) {
	t.Helper()
	b := img.Bounds()
	if sc.Name == "idle" {
		if got := blackShare(img, 0, 0, 1, 1); got != 1 {
			t.Errorf("idle: %.3f%% black, want 100%%", 100*got)
		}
		return
	}
	// The middle, where the shopper sees themself, stays mirror.
	x0, x1 := 0.1, 0.9
	if b.Dx() > b.Dy() {
		x0, x1 = 0.3, 0.7
	}
	if got := blackShare(img, x0, 0.35, x1, 0.55); got < 0.99 {
		t.Errorf("%s: the middle is %.2f%% black, want at least 99%%", sc.Name, 100*got)
	}
	r := lit(img)
	if r.Empty() {
		t.Errorf("%s: nothing drawn", sc.Name)
		return
	}
	edge := max(min(b.Dx(), b.Dy())*5/100, 16)
	if safe := b.Inset(edge - 1); !r.In(safe) {
		t.Errorf("%s: content at %v, outside the safe area %v", sc.Name, r, safe)
	}
	if sc.Name == "qr" {
		if got := zbar(t, img); got != sc.Screen.QR.Content {
			t.Errorf("zbarimg(qr scene) = %q, want %q", got, sc.Screen.QR.Content)
		}
	}
}

// TestRotations checks that 180 and 270 are exact turns of 0 and 90.
func TestRotations(t *testing.T) {
	geo := Geometry{Width: 240, Height: 400, Format: XRGB8888}
	sc := displaytest.Scenes(testNow)[4] // qr: asymmetric
	var upright [4]*image.RGBA
	for i, rot := range []int{0, 90, 180, 270} {
		fb, path := openFile(t, geo, rot)
		if err := fb.Render(sc.Screen); err != nil {
			t.Fatal(err)
		}
		upright[i] = unturn(readPanel(t, path, fb.Geometry()), rot)
	}
	if share, _ := diff(upright[0], upright[2]); share != 0 {
		t.Errorf("rotation 180 turned back differs from rotation 0 in %.2f%% of the pixels", 100*share)
	}
	if share, _ := diff(upright[1], upright[3]); share != 0 {
		t.Errorf("rotation 270 turned back differs from rotation 90 in %.2f%% of the pixels", 100*share)
	}
	if upright[0].Bounds().Dx() != 240 || upright[1].Bounds().Dx() != 400 {
		t.Errorf("logical sizes %v and %v, want 240 wide (portrait) and 400 wide (landscape)",
			upright[0].Bounds(), upright[1].Bounds())
	}
}

// TestLocalWording: the framebuffer draws the local photo page's words on the qr and bound
// scenes (not WeChat's), within the safe area, the middle still mirror.
func TestLocalWording(t *testing.T) {
	geo := panels[0]
	wechat, wpath := openFile(t, geo, 0)
	path := filepath.Join(t.TempDir(), "fb")
	local, err := Open(Options{Device: path, Geometry: geo, Photos: displaytest.NewPhotos(), Wording: display.WordingLocal,
		Now: func() time.Time { return testNow }, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	for _, sc := range displaytest.ScenesWith(testNow, display.WordingLocal) {
		if sc.Name != "qr" && sc.Name != "bound" {
			continue
		}
		if err := local.Render(sc.Screen); err != nil {
			t.Fatal(err)
		}
		if err := wechat.Render(sc.Screen); err != nil {
			t.Fatal(err)
		}
		got := readPanel(t, path, local.Geometry())
		checkScene(t, sc, got)
		if share, _ := diff(got, readPanel(t, wpath, wechat.Geometry())); share == 0 {
			t.Errorf("%s: the local wording draws the same pixels as WeChat's", sc.Name)
		}
	}
}
