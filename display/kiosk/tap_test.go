package kiosk

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
)

// TestTapInBrowser: a tap on the glass posts {"action":"photo"} to /api/trigger, a long press
// {"action":"compare"}; on the idle (black) screen a tap does nothing.
func TestTapInBrowser(t *testing.T) {
	k := New(Options{})
	var mu sync.Mutex
	var actions []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/trigger", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Action string }
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		actions = append(actions, req.Action+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.Handle("/", k.Handler())
	srv := newLoopbackServer(t, mux)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), actions...)
	}
	// press dispatches a pointer press and release on the page, hold apart.
	press := func(hold time.Duration) {
		t.Helper()
		ev := func(typ string) {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
				`document.elementFromPoint(270, 480).dispatchEvent(new PointerEvent("`+typ+`", {bubbles: true, clientX: 270, clientY: 480}))`))
			if err != nil {
				t.Fatal(err)
			}
		}
		ev("pointerdown")
		time.Sleep(hold)
		ev("pointerup")
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(got()) < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitPage(t, ctx, "idle", `document.body.dataset.scene === "idle"`, 5*time.Second)
	press(50 * time.Millisecond)
	k.Show(display.Screen{Scene: display.SceneWelcome, SessionID: "S1"})
	waitPage(t, ctx, "welcome", `document.body.dataset.scene === "welcome"`, 5*time.Second)
	press(50 * time.Millisecond)
	waitFor(1)
	press(800 * time.Millisecond)
	waitFor(2)
	want := []string{"photo application/json", "compare application/json"}
	if g := got(); len(g) != 2 || g[0] != want[0] || g[1] != want[1] {
		t.Errorf("taps posted %q, want %q (and nothing for the tap on idle)", g, want)
	}
}
