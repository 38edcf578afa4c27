package kiosk

import (
	"context"
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

var update = flag.Bool("update", false, "rewrite the screenshots in docs/screens")

// screensDir is where the screenshots of every scene are committed, for readers of the repository.
const screensDir = "../../docs/screens"

// TestScenes shows every scene of displaytest.Scenes in headless Chromium, portrait and
// landscape, and checks each screenshot: the words are there, the middle stays mirror, idle is
// black, the QR code scans to exactly qr.content and is drawn one image pixel per device pixel
// at the size the panel settings ask for, the photos load. go test -update also writes the
// screenshots to docs/screens.
func TestScenes(t *testing.T) {
	const dpi, qrMM = 96, 40 // a 11.5" 540×960 panel; a 40 mm code
	k := New(Options{Logger: discardLogger(), Photos: displaytest.NewPhotos(),
		Panel: display.Panel{DPI: dpi}, QRSizeMM: qrMM})
	srv := newLoopbackServer(t, k.Handler())
	ctx := newBrowser(t)
	t.Cleanup(func() { k.Close() })

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL),
	); err != nil {
		t.Fatalf("Navigate(%q): %v", srv.URL, err)
	}
	waitPage(t, ctx, "the event stream", `document.body.dataset.link === "up"`, 15*time.Second)
	if *update {
		if err := os.MkdirAll(screensDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	for _, o := range []struct {
		name string
		w, h int
		mid  [4]float64 // the middle of the screen, which must stay black
	}{
		{"portrait", viewW, viewH, [4]float64{0.1, 0.3, 0.9, 0.55}},
		{"landscape", viewH, viewW, [4]float64{0.3, 0.3, 0.7, 0.55}},
	} {
		orientation := chromedp.EmulatePortrait
		if o.w > o.h {
			orientation = chromedp.EmulateLandscape
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(o.w), int64(o.h), orientation)); err != nil {
			t.Fatal(err)
		}
		waitPage(t, ctx, o.name+" viewport", fmt.Sprintf("innerWidth === %d && innerHeight === %d", o.w, o.h), 15*time.Second)

		for i := range displaytest.Scenes(time.Now()) {
			sc := displaytest.Scenes(time.Now())[i] // the QR's times from now, however slow the run
			name := o.name + "-" + sc.Name
			k.Show(sc.Screen)
			cond := []string{"document.body.dataset.scene === " + jsString(sc.Screen.Scene)}
			for _, s := range sc.Texts {
				cond = append(cond, "document.body.innerText.includes("+jsString(s)+")")
			}
			switch sc.Screen.Scene {
			case display.SceneIdle:
				cond = append(cond, `document.body.innerText.trim() === ""`)
			case display.SceneReview:
				cond = append(cond, photoShown("review-photo"))
			case display.SceneCompare:
				cond = append(cond, photoShown("compare-a"), photoShown("compare-b"))
			case display.SceneQR:
				cond = append(cond, `(() => { const img = document.getElementById("qr");
					return img.complete && img.naturalWidth > 0 && !img.classList.contains("loading") &&
						img.getBoundingClientRect().width * devicePixelRatio === img.naturalWidth; })()`)
			}
			waitPage(t, ctx, name, strings.Join(cond, " && "), 15*time.Second)

			img, shot := screenshot(t, ctx)
			if b := img.Bounds(); b.Dx() != o.w || b.Dy() != o.h {
				t.Errorf("%s: screenshot is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), o.w, o.h)
			}
			if got := blackShare(img, o.mid[0], o.mid[1], o.mid[2], o.mid[3]); got < 0.99 {
				t.Errorf("%s: the middle of the screen is %.2f%% black, want at least 99%%", name, 100*got)
			}
			// Safe margin: nothing lit within max(5vmin, 16px) of the screen's edges (bezels, the
			// glass frame).
			edge := max(min(o.w, o.h)*5/100, 16)
			if r := litBounds(img); !r.Empty() && !r.In(img.Bounds().Inset(edge-1)) {
				t.Errorf("%s: content at %v, outside the safe area %v", name, r, img.Bounds().Inset(edge))
			}
			switch sc.Screen.Scene {
			case display.SceneIdle:
				if got := blackShare(img, 0, 0, 1, 1); got < 0.99 {
					t.Errorf("%s: %.2f%% black, want at least 99%%", name, 100*got)
				}
			case display.SceneQR:
				if got := scan(t, shot); got != sc.Screen.QR.Content {
					t.Errorf("%s: zbarimg(screenshot) = %q, want %q", name, got, sc.Screen.QR.Content)
				}
				checkQRSize(t, ctx, name, sc.Screen.QR.Content, dpi/25.4*qrMM, 0.34*float64(min(o.w, o.h)))
				// Issued 30 s ago, expires in 60 s: two thirds of the ring are lit.
				left, err := chromedp.Run(ctx, chromedp.Evaluate[string](
					`getComputedStyle(document.getElementById("qr-ring")).getPropertyValue("--left")`))
				if f := parseFloat(left); err != nil || f < 0.6 || f > 0.67 {
					t.Errorf("%s: ring --left = %q, %v, want about 0.66", name, left, err)
				}
			}
			if *update {
				if err := os.WriteFile(filepath.Join(screensDir, name+".png"), shot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// photoShown is true when the photo img has loaded and is displayed.
func photoShown(id string) string {
	return fmt.Sprintf(`(() => { const img = document.getElementById(%q);
		return img.complete && img.naturalWidth > 0 && !img.classList.contains("missing") &&
			img.getBoundingClientRect().width > 20; })()`, id)
}

// checkQRSize checks that the code is as large as the panel settings allow, in whole pixels
// per module: the largest scale within both limits.
func checkQRSize(t *testing.T, ctx context.Context, name, content string, mmPx, maxPx float64) {
	t.Helper()
	modules, err := display.QRModules(content, display.DefaultQRLevel)
	if err != nil {
		t.Fatal(err)
	}
	side := len(modules)
	limit := int(math.Min(mmPx, maxPx))
	want := max(limit/side, minQRPx) * side
	got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById("qr").naturalWidth`))
	if err != nil || got != want {
		t.Errorf("%s: QR image is %d px wide (%v), want %d (%d modules, limit %d px)", name, got, err, want, side, limit)
	}
}

func parseFloat(s string) float64 {
	var f float64
	if _, err := fmt.Sscan(strings.TrimSpace(s), &f); err != nil {
		return math.NaN()
	}
	return f
}

// litBounds is the bounding box of the pixels that are not pure black.
func litBounds(img image.Image) image.Rectangle {
	var r image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if cr, cg, cb, _ := img.At(x, y).RGBA(); cr|cg|cb != 0 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}
