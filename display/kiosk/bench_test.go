package kiosk

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
)

// BenchmarkShowToDOM measures a Screen change on the kiosk page in headless Chromium: Show on
// the agent, the SSE event received by the page, the DOM updated, and the next frame painted
// (requestAnimationFrame). The page stamps its times in window.kioskTimings with
// performance.timeOrigin + performance.now(); "sse-to-dom" is measured on the page's clock
// alone, "show-to-dom" and "show-to-paint" compare the agent's wall clock with the page's (same
// machine). Reports p50 and p95 in milliseconds.
func BenchmarkShowToDOM(b *testing.B) {
	k := New(Options{Logger: discardLogger()})
	srv := httptest.NewServer(k.Handler())
	defer srv.Close()
	defer k.Close()
	ctx := newBrowser(b)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(viewW, viewH, chromedp.EmulatePortrait),
		chromedp.Navigate(srv.URL),
	); err != nil {
		b.Fatal(err)
	}
	waitPage(b, ctx, "the event stream", `document.body.dataset.link === "up"`, 5*time.Second)

	type timing struct {
		Recv, DOM, Paint float64 // ms since the Unix epoch, page clock
	}
	var sseToDOM, showToDOM, showToPaint []float64
	b.ResetTimer()
	for i := range b.N {
		n := i + 1
		start := time.Now()
		k.Show(display.Screen{Scene: display.SceneCountdown, Countdown: n})
		find := fmt.Sprintf(`window.kioskTimings.find((t) => t.countdown === %d && t.paint)`, n)
		waitPage(b, ctx, fmt.Sprintf("countdown %d painted", n), find+` !== undefined`, 5*time.Second)
		t, err := chromedp.Run(ctx, chromedp.Evaluate[timing](
			`(() => { const t = `+find+`; return {Recv: t.recv, DOM: t.dom, Paint: t.paint}; })()`))
		if err != nil {
			b.Fatal(err)
		}
		show := float64(start.UnixNano()) / 1e6
		sseToDOM = append(sseToDOM, t.DOM-t.Recv)
		showToDOM = append(showToDOM, t.DOM-show)
		showToPaint = append(showToPaint, t.Paint-show)
	}
	b.StopTimer()
	for name, v := range map[string][]float64{"sse-to-dom": sseToDOM, "show-to-dom": showToDOM, "show-to-paint": showToPaint} {
		slices.Sort(v)
		b.ReportMetric(v[len(v)/2], name+"-p50-ms")
		b.ReportMetric(v[min(len(v)-1, len(v)*95/100)], name+"-p95-ms")
	}
}
