package kiosk

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
)

// gestureEvents decodes the "event: gesture" frames of an event stream.
func gestureEvents(t *testing.T, stream string) []display.Gestures {
	t.Helper()
	var out []display.Gestures
	for _, block := range strings.Split(stream, "\n\n") {
		var lines []string
		for _, l := range strings.Split(block, "\n") {
			if !strings.HasPrefix(l, "retry: ") && !strings.HasPrefix(l, ":") && l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) != 2 || lines[0] != "event: gesture" || !strings.HasPrefix(lines[1], "data: ") {
			continue
		}
		data := strings.TrimPrefix(lines[1], "data: ")
		var g display.Gestures
		if err := json.Unmarshal([]byte(data), &g); err != nil {
			t.Fatalf("gesture event %q: %v", data, err)
		}
		out = append(out, g)
	}
	return out
}

// holding is the feedback of a hold in the photo button at progress p, the next button empty.
func holding(p float64, fired bool) display.Gestures {
	return display.Gestures{Buttons: []display.GestureButton{
		{Action: "photo", Box: display.Box{X: 0.62, Y: 0.22, W: 0.32, H: 0.24}, Progress: p, Fired: fired},
		{Action: "next", Box: display.Box{X: 0.06, Y: 0.22, W: 0.32, H: 0.24}},
	}}
}

// TestGesturesThrottled: the pipeline reports the buttons on every frame; the page gets what
// changes. A hold's progress goes at most every 100 ms, a box's jitter under 1% of the screen
// not at all, and the buttons appearing, a fire and the buttons going at once. A page that
// falls behind still gets the fire and the newest feedback.
func TestGesturesThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := New(Options{Logger: discardLogger()})
		f := newFakeStream(false)
		stop := serve(k, f)
		defer stop()
		synctest.Wait()

		k.ShowGestures(display.Gestures{}) // nothing showed, nothing to hide
		for i := range 50 {                // a 0.8 s hold seen at 100 frames a second
			k.ShowGestures(holding(float64(i)/50, false))
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		got := gestureEvents(t, f.String())
		// The buttons appear, the hold starts, then progress about every 100 ms.
		if len(got) < 5 || len(got) > 8 {
			t.Errorf("%d feedback events for 0.5 s of frames at 10 ms, want one per 100 ms (6 or 7): %+v", len(got), got)
		}
		n := len(got)
		k.ShowGestures(holding(1, true)) // fires: at once, however soon after the last
		for range 10 {
			k.ShowGestures(holding(1, false)) // the hand stays: nothing changes
			jitter := holding(1, false)
			jitter.Buttons[1].Box.X += 0.004
			k.ShowGestures(jitter)
		}
		synctest.Wait()
		k.ShowGestures(display.Gestures{}) // the shopper leaves
		synctest.Wait()
		got = gestureEvents(t, f.String())[n:]
		if len(got) != 3 || !got[0].Buttons[0].Fired || got[1].Buttons[0].Fired || len(got[2].Buttons) != 0 {
			t.Errorf("after the hold: %+v, want the fire, the hand still there (once), no buttons", got)
		}
		if g := k.Gestures(); len(g.Buttons) != 0 {
			t.Errorf("Gestures() = %+v, want none", g)
		}

		// A page that stops reading.
		slow := newFakeStream(true)
		stopSlow := serve(k, slow)
		defer stopSlow()
		synctest.Wait() // stuck writing the current screen
		k.ShowGestures(holding(0.5, false))
		k.ShowGestures(holding(1, true))
		for i := range 20 {
			time.Sleep(150 * time.Millisecond)
			k.ShowGestures(holding(float64(i%2)/2, false))
		}
		slow.release()
		synctest.Wait()
		got = gestureEvents(t, slow.String())
		if len(got) != 2 || !got[0].Buttons[0].Fired || got[1].Buttons[0].Progress != 0.5 {
			t.Errorf("a page that fell behind got %+v, want the fire and the newest (progress 0.5)", got)
		}

		// A page that attaches during a hold gets it first thing.
		late := newFakeStream(false)
		stopLate := serve(k, late)
		defer stopLate()
		synctest.Wait()
		if got := gestureEvents(t, late.String()); len(got) != 1 || got[0].Buttons[0].Progress != 0.5 {
			t.Errorf("a page attaching during a hold got %+v, want the hold", got)
		}
	})
}

// TestGestureFeedbackInBrowser shows the air buttons' feedback in headless Chromium: while a
// shopper is engaged, both buttons where the feedback puts them, a ring half filled clockwise
// during a hold, the tick in green when the button fires, gone again after 1.5 s; no buttons,
// the countdown or the idle screen show none. go test -update writes docs/screens/kiosk-gesture-hold.png
// and kiosk-gesture-fired.png.
func TestGestureFeedbackInBrowser(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := newLoopbackServer(t, k.Handler())
	ctx := newBrowser(t)
	t.Cleanup(func() { k.Close() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait), chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("Navigate(%q): %v", srv.URL, err)
	}
	waitPage(t, ctx, "the event stream", `document.body.dataset.link === "up"`, 15*time.Second)
	k.Show(display.Screen{Scene: display.SceneWelcome, SessionID: "01JD0000000000000000000001"})
	k.ShowGestures(holding(0.55, false))
	waitPage(t, ctx, "a hold at 55%", `!document.getElementById("gestures").hidden && !document.getElementById("air-next").hidden &&
		document.querySelector("#air-photo .hold-ring").style.getPropertyValue("--progress") === "0.550"`, 15*time.Second)

	photo := elementBox(t, ctx, "#air-photo")
	if want := image.Rect(viewW*62/100, viewH*22/100, viewW*94/100, viewH*46/100); !near(photo, want, 2) {
		t.Errorf("photo button at %v, want %v (the feedback's box on a %d×%d screen)", photo, want, viewW, viewH)
	}
	ring := elementBox(t, ctx, "#air-photo .hold-ring")
	if !ring.In(photo) {
		t.Errorf("the ring at %v is outside its button %v", ring, photo)
	}
	img, shot := screenshot(t, ctx)
	// Clockwise from the top: at 55% the ring is lit at 3 o'clock and dark at 9 o'clock.
	band := max(4, viewW*14/1000) / 2
	midY := (ring.Min.Y + ring.Max.Y) / 2
	right, left := img.At(ring.Max.X-band, midY), img.At(ring.Min.X+band, midY)
	if !bright(right) || bright(left) {
		t.Errorf("ring at 55%%: %v at 3 o'clock, %v at 9 o'clock; want it lit to past half way", right, left)
	}
	save(t, "kiosk-gesture-hold.png", shot)

	k.ShowGestures(holding(1, true))
	waitPage(t, ctx, "the fire", `document.getElementById("air-photo").classList.contains("fired") &&
		getComputedStyle(document.querySelector("#air-photo .hold-tick")).visibility === "visible"`, 15*time.Second)
	img, shot = screenshot(t, ctx)
	if c := img.At(ring.Min.X+band, midY); !green(c) {
		t.Errorf("fired: the ring at 9 o'clock is %v, want green", c)
	}
	save(t, "kiosk-gesture-fired.png", shot)
	k.ShowGestures(holding(1, false)) // the hand stays; the tick goes after 1.5 s
	waitPage(t, ctx, "the tick going", `!document.getElementById("air-photo").classList.contains("fired")`, 5*time.Second)

	k.Show(display.Screen{Scene: display.SceneCountdown, SessionID: "01JD0000000000000000000001", Countdown: 3})
	waitPage(t, ctx, "no buttons during the countdown", `document.body.dataset.scene === "countdown" &&
		getComputedStyle(document.getElementById("gestures")).display === "none"`, 15*time.Second)
	k.Show(display.Screen{Scene: display.SceneReview, SessionID: "01JD0000000000000000000001"})
	waitPage(t, ctx, "the buttons back after it", `document.body.dataset.scene === "review" &&
		getComputedStyle(document.getElementById("gestures")).display !== "none"`, 15*time.Second)

	k.ShowGestures(display.Gestures{})
	waitPage(t, ctx, "no buttons", `document.getElementById("gestures").hidden`, 15*time.Second)
	k.ShowGestures(holding(0.3, false))
	k.Show(display.Idle)
	waitPage(t, ctx, "the idle screen", `document.body.dataset.scene === "idle" && !document.getElementById("gestures").hidden &&
		getComputedStyle(document.getElementById("gestures")).display === "none"`, 15*time.Second)
	if img, _ := screenshot(t, ctx); blackShare(img, 0, 0, 1, 1) < 0.99 {
		t.Errorf("idle with buttons reported: %.2f%% black, want a plain mirror", 100*blackShare(img, 0, 0, 1, 1))
	}
}

// elementBox is where the element sel is on the page, in CSS pixels.
func elementBox(t *testing.T, ctx context.Context, sel string) image.Rectangle {
	t.Helper()
	type box struct{ Left, Top, Right, Bottom float64 }
	b, err := chromedp.Run(ctx, chromedp.Evaluate[box](`(() => { const r = document.querySelector(`+jsString(sel)+`).getBoundingClientRect();
		return {Left: r.left, Top: r.top, Right: r.right, Bottom: r.bottom}; })()`))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return image.Rect(int(b.Left+0.5), int(b.Top+0.5), int(b.Right+0.5), int(b.Bottom+0.5))
}

func near(a, b image.Rectangle, d int) bool {
	abs := func(x int) int { return max(x, -x) }
	return abs(a.Min.X-b.Min.X) <= d && abs(a.Min.Y-b.Min.Y) <= d && abs(a.Max.X-b.Max.X) <= d && abs(a.Max.Y-b.Max.Y) <= d
}

func bright(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xd000 && g > 0xd000 && b > 0xd000
}

func green(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return g > 0xd000 && r < 0xa000 && b < 0xa000
}

// save writes a screenshot to docs/screens with go test -update.
func save(t *testing.T, name string, png []byte) {
	t.Helper()
	if !*update {
		return
	}
	if err := os.MkdirAll(screensDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screensDir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
