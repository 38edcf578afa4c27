package kiosk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
)

const chromium = "/usr/bin/chromium" // Debian's chromium package

// Portrait, like the mirror, at half of 1080×1920.
const viewW, viewH = 540, 960

// newBrowser starts a headless Chromium for the test and returns its chromedp context.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewW, viewH),
	}
	// The whole browser run is bounded (generously: shared CI machines are slow); the deadline
	// kills a hung browser. The waits below are conditions, so a long limit costs nothing when
	// the page is right.
	root, cancelRoot := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { // before TempDir's cleanup: the browser must be gone first
		cancelCtx()
		cancelAlloc()
		cancelRoot()
	})
	return ctx
}

// newLoopbackServer serves h on 127.0.0.1 (httptest's default) and closes it at the end.
func newLoopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", srv.URL)
	}
	t.Cleanup(srv.Close)
	return srv
}

// swapHandler lets the test replace the agent behind the same address, as a restart does.
type swapHandler struct{ h atomic.Value }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }
func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load().(*http.Handler)).ServeHTTP(w, r)
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitPage waits until the JavaScript expression is truthy on the page.
func waitPage(t testing.TB, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
			`"scene=" + document.body.dataset.scene + " link=" + document.body.dataset.link + " text=" + JSON.stringify(document.body.innerText) +
				" qr=" + (() => { const q = document.getElementById("qr"); const r = q.getBoundingClientRect();
					return JSON.stringify({src: q.getAttribute("src"), complete: q.complete, natural: q.naturalWidth, w: r.width, cls: q.className, dpr: devicePixelRatio}); })()`))
		t.Fatalf("page: waiting for %s: %v; page has %s", what, err, state)
	}
}

func screenshot(t *testing.T, ctx context.Context) (image.Image, []byte) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img, b
}

// blackShare returns the share of pure black pixels in the part r of img, given in fractions of
// its size.
func blackShare(img image.Image, x0, y0, x1, y1 float64) float64 {
	b := img.Bounds()
	r := image.Rect(
		b.Min.X+int(x0*float64(b.Dx())), b.Min.Y+int(y0*float64(b.Dy())),
		b.Min.X+int(x1*float64(b.Dx())), b.Min.Y+int(y1*float64(b.Dy())))
	var black, all int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			all++
			if cr, cg, cb, _ := img.At(x, y).RGBA(); cr == 0 && cg == 0 && cb == 0 {
				black++
			}
		}
	}
	return float64(black) / float64(all)
}

func TestBrowser(t *testing.T) {
	start := time.Now()
	k := New(Options{Logger: discardLogger()})
	agent := &swapHandler{}
	agent.set(k.Handler())
	srv := newLoopbackServer(t, agent)
	ctx := newBrowser(t)
	t.Cleanup(func() { k.Close() }) // runs first: ends the page's stream so srv.Close can return

	// The first Run starts the browser; it must not have its own timeout.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL),
	); err != nil {
		t.Fatalf("Navigate(%q): %v", srv.URL, err)
	}
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err != nil || lang != "zh-CN" {
		t.Errorf("html lang = %q, %v, want %q", lang, err, "zh-CN")
	}
	waitPage(t, ctx, "the event stream", `document.body.dataset.link === "up" && document.body.dataset.scene === "idle"`, 15*time.Second)

	// Idle is a plain mirror: nothing on screen.
	img, _ := screenshot(t, ctx)
	if got := blackShare(img, 0, 0, 1, 1); got < 0.99 {
		t.Errorf("idle screen is %.2f%% black, want at least 99%%", 100*got)
	}
	if b := img.Bounds(); b.Dx() != viewW || b.Dy() != viewH {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), viewW, viewH)
	}

	qrContent := "http://192.168.1.20:8080/p/01JD0000000000000000000002?k=Zm9v-YmFy_MTIz"
	qrExpires := time.Now().Add(90 * time.Second).UTC().Truncate(time.Millisecond)
	const errMessage = "摄像头没有画面 <b>camera</b> lost"
	scenes := []struct {
		screen display.Screen
		texts  []string // on screen (document.body.innerText)
		expr   string   // and this JavaScript is true
	}{
		{display.Screen{Scene: display.SceneWelcome}, []string{"欢迎", "Welcome — stand still for a photo"}, ""},
		{display.Screen{Scene: display.SceneCountdown, Countdown: 3}, []string{"3"}, `document.body.innerText.trim() === "3"`},
		{display.Screen{Scene: display.SceneCountdown, Countdown: 2}, []string{"2"}, `document.body.innerText.trim() === "2"`},
		{display.Screen{Scene: display.SceneCountdown, Countdown: 1}, []string{"1"}, `document.body.innerText.trim() === "1"`},
		{display.Screen{Scene: display.SceneReview}, []string{"拍好了", "Got it"}, ""},
		{
			display.Screen{Scene: display.SceneQR, PhotoID: "01JD0000000000000000000002",
				QR: &display.QR{Content: qrContent, ExpiresAt: qrExpires}},
			[]string{"微信扫码，照片发送到你的微信", "Scan with WeChat to get your photo", "秒", "s left"},
			fmt.Sprintf(`(() => {
				const img = document.getElementById("qr");
				const left = Number(document.getElementById("qr-seconds").textContent);
				return img.getAttribute("src").startsWith("/qr.png?c=" + encodeURIComponent(%s) + "&w=") &&
					img.complete && img.naturalWidth > 0 &&
					getComputedStyle(img).imageRendering === "pixelated" &&
					left > 60 && left <= 90;
			})()`, jsString(qrContent)),
		},
		{display.Screen{Scene: display.SceneBound}, []string{"已发送到你的微信 ✓", "Sent to your WeChat"}, ""},
		{display.Screen{Scene: display.SceneCompare}, []string{"对比"}, ""},
		{display.Screen{Scene: display.SceneGoodbye}, []string{"谢谢光临", "Thank you"}, ""},
		{display.Screen{Scene: display.SceneError, Message: errMessage}, []string{errMessage}, ""},
		{display.Idle, nil, `document.body.innerText.trim() === ""`},
	}
	for _, tt := range scenes {
		name := tt.screen.Scene
		if tt.screen.Countdown > 0 {
			name += fmt.Sprint(tt.screen.Countdown)
		}
		k.Show(tt.screen)
		cond := []string{"document.body.dataset.scene === " + jsString(tt.screen.Scene)}
		for _, s := range tt.texts {
			cond = append(cond, "document.body.innerText.includes("+jsString(s)+")")
		}
		if tt.expr != "" {
			cond = append(cond, tt.expr)
		}
		waitPage(t, ctx, "scene "+name, strings.Join(cond, " && "), 15*time.Second)

		// Two-way mirror: the middle, where the shopper sees themself, stays black in every scene.
		img, shot := screenshot(t, ctx)
		if got := blackShare(img, 0.1, 0.3, 0.9, 0.55); got < 0.99 {
			t.Errorf("scene %s: the middle of the screen is %.2f%% black, want at least 99%%", name, 100*got)
		}
		switch tt.screen.Scene {
		case display.SceneIdle:
			if got := blackShare(img, 0, 0, 1, 1); got < 0.99 {
				t.Errorf("idle screen is %.2f%% black, want at least 99%%", 100*got)
			}
		case display.SceneQR:
			// The code on screen, scaled by the browser, still scans to exactly the content.
			if got := scan(t, shot); got != qrContent {
				t.Errorf("zbarimg(screenshot of scene qr) = %q, want %q", got, qrContent)
			}
			checkQRPlacement(t, ctx)
		}
	}

	// A code that runs out: the ring and the code go, the words say so, the middle stays black.
	k.Show(display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: qrContent,
		IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(1500 * time.Millisecond)}})
	waitPage(t, ctx, "expired QR", `document.getElementById("scene-qr").classList.contains("is-expired") &&
		getComputedStyle(document.getElementById("qr-ring")).display === "none" &&
		document.body.innerText.includes("二维码已过期") && document.body.innerText.includes("QR code expired")`, 15*time.Second)
	if img, _ := screenshot(t, ctx); blackShare(img, 0, 0, 1, 1) < 0.97 {
		t.Errorf("expired QR: %.2f%% black, want only words", 100*blackShare(img, 0, 0, 1, 1))
	}

	// The agent restarts: the page reconnects by itself and shows the current screen.
	k.Show(display.Screen{Scene: display.SceneWelcome})
	srv.CloseClientConnections()
	waitPage(t, ctx, "reconnect after a dropped connection",
		`document.body.dataset.link === "up" && document.body.dataset.scene === "welcome"`, 15*time.Second)

	// The agent goes away for good: after about 5 s the page turns black instead of showing stale
	// content.
	k.Show(display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: qrContent, ExpiresAt: qrExpires}})
	waitPage(t, ctx, "scene qr", `document.body.dataset.scene === "qr"`, 15*time.Second)
	lost := time.Now()
	k.Close()
	waitPage(t, ctx, "black screen after losing the agent",
		`document.body.dataset.link === "lost" && document.body.dataset.scene === "idle"`, 20*time.Second)
	if d := time.Since(lost); d < 4*time.Second {
		t.Errorf("page turned black %v after losing the agent, want about 5s", d)
	}
	img, _ = screenshot(t, ctx)
	if got := blackShare(img, 0, 0, 1, 1); got < 0.99 {
		t.Errorf("screen without agent is %.2f%% black, want at least 99%%", 100*got)
	}

	// A new agent comes up on the same address: the page finds it.
	k2 := New(Options{Logger: discardLogger()})
	t.Cleanup(func() { k2.Close() })
	k2.Show(display.Screen{Scene: display.SceneGoodbye})
	agent.set(k2.Handler())
	waitPage(t, ctx, "reconnect to a new agent",
		`document.body.dataset.link === "up" && document.body.dataset.scene === "goodbye"`, 15*time.Second)

	t.Logf("browser test took %v", time.Since(start))
}

// checkQRPlacement checks that the QR code sits at the lower edge, in portrait and in landscape.
func checkQRPlacement(t *testing.T, ctx context.Context) {
	t.Helper()
	type box struct{ Left, Top, Right, Bottom, W, H float64 }
	const rect = `(() => { const r = document.getElementById("qr").getBoundingClientRect();
		return {Left: r.left, Top: r.top, Right: r.right, Bottom: r.bottom, W: innerWidth, H: innerHeight}; })()`

	b, err := chromedp.Run(ctx, chromedp.Evaluate[box](rect))
	if err != nil {
		t.Fatal(err)
	}
	if b.Top < 0.6*b.H || b.Bottom > b.H || b.Left < 0 || b.Right > b.W {
		t.Errorf("portrait: QR at %+v, want it inside the lower edge of the screen", b)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewH, viewW, chromedp.EmulateLandscape)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait)); err != nil {
			t.Fatal(err)
		}
	}()
	// The page asks for a code of the new size; wait until it is shown.
	waitPage(t, ctx, "landscape layout", `innerWidth > innerHeight && (() => { const img = document.getElementById("qr");
		return img.complete && img.naturalWidth > 0 && !img.classList.contains("loading") &&
			img.getAttribute("src").endsWith("&w=" + Math.floor(0.32 * innerHeight * devicePixelRatio)); })()`, 15*time.Second)
	b, err = chromedp.Run(ctx, chromedp.Evaluate[box](rect))
	if err != nil {
		t.Fatal(err)
	}
	if b.Top < 0.4*b.H || b.Left < 0.6*b.W || b.Bottom > b.H || b.Right > b.W {
		t.Errorf("landscape: QR at %+v, want it in the lower right corner", b)
	}
	img, shot := screenshot(t, ctx)
	if got := scan(t, shot); got == "" {
		t.Errorf("zbarimg(landscape screenshot) found no code")
	}
	if got := blackShare(img, 0.3, 0.3, 0.6, 0.6); got < 0.99 {
		t.Errorf("landscape: the middle of the screen is %.2f%% black, want at least 99%%", 100*got)
	}
}

// TestBrowserLocalWording: with the local photo page (no WeChat account) the QR and bound
// scenes say the photo opens on the phone, in real Chromium, and nothing mentions WeChat.
func TestBrowserLocalWording(t *testing.T) {
	k := New(Options{Logger: discardLogger(), Wording: display.WordingLocal})
	srv := newLoopbackServer(t, k.Handler())
	ctx := newBrowser(t)
	t.Cleanup(func() { k.Close() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait), chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("Navigate(%q): %v", srv.URL, err)
	}
	waitPage(t, ctx, "the event stream", `document.body.dataset.link === "up"`, 15*time.Second)
	w := display.WordingLocal
	for _, tt := range []struct {
		screen display.Screen
		texts  []string
	}{
		{display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "http://192.168.1.20:8081/p/P1?k=x", ExpiresAt: time.Now().Add(time.Minute)}},
			[]string{w.ScanZh1 + w.ScanZh2, w.ScanEn}},
		{display.Screen{Scene: display.SceneBound}, []string{w.BoundZh, w.BoundEn}},
	} {
		k.Show(tt.screen)
		cond := []string{"document.body.dataset.scene === " + jsString(tt.screen.Scene), `!document.body.innerText.includes("微信")`,
			`!document.body.innerText.includes("WeChat")`}
		for _, s := range tt.texts {
			cond = append(cond, "document.body.innerText.includes("+jsString(s)+")")
		}
		waitPage(t, ctx, "local wording of "+tt.screen.Scene, strings.Join(cond, " && "), 15*time.Second)
	}
	// The check mark is a tick in DejaVu Sans, not WenQuanYi's thin √; the text keeps its ✓.
	waitPage(t, ctx, "the check mark's font", `(() => { const m = document.querySelector("#bound-zh .check");
		return m !== null && m.textContent === "✓" && getComputedStyle(m).fontFamily.includes("DejaVu Sans"); })()`, 5*time.Second)
}

// The fleet's reload-kiosk command: Reload asks the open page to load itself again; it does,
// reconnects and shows the current screen; Reload counts the pages it asked.
func TestBrowserReload(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	srv := newLoopbackServer(t, k.Handler())
	ctx := newBrowser(t)
	t.Cleanup(func() { k.Close() })
	if n := k.Reload(); n != 0 {
		t.Errorf("Reload with no page = %d, want 0", n)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait), chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("Navigate(%q): %v", srv.URL, err)
	}
	waitPage(t, ctx, "the event stream", `document.body.dataset.link === "up"`, 15*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.beforeReload = true`)); err != nil {
		t.Fatal(err)
	}
	k.Show(display.Screen{Scene: display.SceneBound})
	if n := k.Reload(); n != 1 {
		t.Errorf("Reload with one page = %d, want 1", n)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.beforeReload === undefined && document.body.dataset.link === "up" && document.body.dataset.scene === "bound"`))
		if err == nil && v {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not reload and show the current screen: %v %v", v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
