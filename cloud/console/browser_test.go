package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/cloud/console"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/wire"
)

var update = flag.Bool("update", false, "write the console's screenshot to docs/screens/console-fleet.png")

const chromium = "/usr/bin/chromium" // Debian's chromium package

// newBrowser starts a headless Chromium for the test (as display/kiosk's tests do) and
// returns its chromedp context.
func newBrowser(t testing.TB, w, h int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}
	root, cancelRoot := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelRoot() })
	return ctx
}

// waitPage waits until the JavaScript expression is truthy on the page.
func waitPage(t testing.TB, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if (strings.Contains(err.Error(), "navigated") || strings.Contains(err.Error(), "context with specified id")) && time.Now().Before(deadline) {
			continue // a form's navigation ended the poll: poll the new page
		}
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s: %v; page text:\n%s", what, err, text)
	}
}

// A real Chromium logs in with the form, sees the fleet a real broker brought (problems
// first, the mirror's markup and escapes as text, no script of the mirror's run), watches a
// mirror go offline without reloading, and pings a mirror from its row.
func TestBrowserFleet(t *testing.T) {
	f := newFleetEnv(t, nil)
	pw := f.addOperator(t, "otto", hubstore.RoleOperator)
	f.hostileMirror(t)
	for i, st := range []string{"online", "online", "degraded", "online"} {
		id := fmt.Sprintf("store12-mirror%d", i+1)
		b, _ := json.Marshal(wire.Status{State: st, Version: "1.4.0", Reason: map[bool]string{true: "display lost"}[st == "degraded"]})
		f.fleet.Handle("mirror/"+id+"/status", b)
		temp := 48.0 + float64(i)
		b, _ = json.Marshal(wire.Telemetry{FPS: 15, CPUPct: 20 + float64(5*i), TempC: &temp, DiskFreeMB: 10240, Camera: "ok"})
		f.fleet.Handle("mirror/"+id+"/telemetry", b)
		f.st.SetMirrorStore(t.Context(), id, "Shanghai 12")
	}
	f.st.SetMirrorStore(t.Context(), "m1", "Beijing 3")
	waitFor(t, "m1's telemetry", func() bool {
		for _, m := range f.fleet.Mirrors(time.Minute, nil) {
			if m.ID == "m1" && m.FPS != nil {
				return true
			}
		}
		return false
	})

	ctx := newBrowser(t, 1400, 700)
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the login form", `location.pathname === "/login" && !!document.getElementById("name")`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("name"), "otto"),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("login-submit")),
	); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the fleet", `location.pathname === "/" && document.body.dataset.refreshed >= 1 && document.querySelectorAll("#fleet tbody tr").length === 5`)
	type row struct{ ID, State, Version, Problems string }
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll("#fleet tbody tr")].map(tr => ({
		ID: tr.dataset.id, State: tr.querySelector(".badge").textContent,
		Version: tr.querySelector(".version").textContent, Problems: tr.querySelector(".problems").textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0].ID != "m1" || rows[0].State != "degraded" || rows[1].ID != "store12-mirror3" || rows[4].State != "online" {
		t.Errorf("rows = %+v, want the degraded mirrors first", rows)
	}
	if rows[0].Version != hostileVersion || !strings.Contains(rows[0].Problems, `camera lost: camera \x1b[31mlost\x1b[0m <img src=x onerror=alert(2)>`) {
		t.Errorf("m1 shown as %+v, want its strings as text", rows[0])
	}
	scripts, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length + document.querySelectorAll("img").length`))
	if scripts != 1 {
		t.Errorf("%d scripts and images on the page, want only the console's script", scripts)
	}
	if *update {
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/screens/console-fleet.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The mirror's Last Will arrives: the row turns offline and moves first, without a reload.
	f.fleet.Handle("mirror/store12-mirror4/status", []byte(wire.WillPayload))
	waitPage(t, ctx, "store12-mirror4 offline first", `(() => { const tr = document.querySelector("#fleet tbody tr");
		return tr.dataset.id === "store12-mirror4" && tr.querySelector(".badge").textContent === "offline"; })()`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-id="m1"] button[data-cmd="ping"]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the ping's result on m1's row", `document.querySelector('tr[data-id="m1"] .result').textContent.startsWith("ping: ok")`)
	// Filtering by store keeps the store's mirrors.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("filter-store"), "Beijing 3")); err != nil {
		t.Fatal(err)
	}
	chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("filter-store").dispatchEvent(new Event("change")), true`))
	waitPage(t, ctx, "the Beijing 3 filter", `document.querySelectorAll("#fleet tbody tr").length === 1 && document.querySelector("#fleet tbody tr").dataset.id === "m1"`)
}

// A real Chromium on a mirror's page over a real broker: the mirror's hostile version,
// reasons and refusal are shown as text after the script's refresh, no script or image of
// the mirror's runs; the editor's check refuses what the rules refuse without sending it,
// and a send shows the mirror's refusal.
func TestBrowserMirrorHostile(t *testing.T) {
	f := newFleetEnv(t, func(o *console.Options) { o.CheckConfig = checkStub })
	f.answerConfig(t)
	pw := f.addOperator(t, "otto", hubstore.RoleOperator)
	f.hostileMirror(t)
	waitFor(t, "m1 with telemetry", func() bool { pts, ok := f.fleet.Telemetry("m1"); return ok && len(pts) == 1 })
	ctx := newBrowser(t, 1400, 1200)
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/mirrors/m1")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the login form", `location.pathname === "/login" && !!document.getElementById("name")`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("name"), "otto"), chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("login-submit"))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "m1's page, refreshed", `location.pathname === "/mirrors/m1" && document.body.dataset.refreshed >= 1`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("config-editor"), `{"session":{"countdown":99}}`), chromedp.Click(chromedp.ID("config-check"))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the check's refusal", `document.getElementById("config-answer").textContent === "not sent: session.countdown: must be between 0 and 10 (got 99)"`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("config-editor"), `{"presence":{"zone":"0,0,99999,1"}`), chromedp.Click(chromedp.ID("config-send"))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the editor's JSON error", `document.getElementById("config-answer").textContent.startsWith("not JSON")`)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("config-editor"), `{"presence":{"zone":"0,0,99999,1"}}`), chromedp.Click(chromedp.ID("config-send"))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the mirror's refusal", `document.getElementById("config-answer").textContent.startsWith("version 1 refused by the mirror: presence.zone")`)
	waitPage(t, ctx, "the mirror's hostile refusal, refreshed", `document.getElementById("reported-error").textContent.includes("camera frame \\x1b[2J<b>")`)
	type view struct{ Version, Reason, Problems, Answer string }
	v, err := chromedp.Run(ctx, chromedp.Evaluate[view](`({Version: document.getElementById("mirror-version").textContent,
		Reason: document.getElementById("mirror-reason").textContent, Problems: document.getElementById("mirror-problems").textContent,
		Answer: document.getElementById("config-answer").textContent})`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != hostileVersion || !strings.Contains(v.Reason, `camera \x1b[31mlost\x1b[0m <img src=x onerror=alert(2)>`) ||
		!strings.Contains(v.Problems, "<img src=x") || !strings.Contains(v.Answer, `\x1b[2J<b>`) {
		t.Errorf("m1's page shows %+v, want its strings as text", v)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length + document.querySelectorAll("img, b").length`)); n != 1 {
		t.Errorf("%d scripts and elements of the mirror's markup on the page, want only the console's script", n)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart-fps polyline, #chart-cpu polyline, #chart-temp polyline, #chart-disk polyline").length`)); n != 4 {
		t.Errorf("%d chart lines, want one in each of the 4 charts", n)
	}
}
