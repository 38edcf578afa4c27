package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/testexec"
)

var updateScreens = flag.Bool("update", false, "write the console's screenshots docs/screens/console-mirror.png and console-funnel.png")

// consoleBrowser starts a headless Chromium (Debian's chromium, as the console's own tests).
func consoleBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1500),
	}
	root, cancelRoot := context.WithTimeout(context.Background(), 4*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc(); cancelRoot() })
	return ctx
}

// pageWait waits up to within until the JavaScript expression is truthy on the page.
func pageWait(t testing.TB, ctx context.Context, what, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("waited %v for %s (%v); page text:\n%s", within, what, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// act runs chromedp actions and fails the test on error.
func act(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// js evaluates a JavaScript statement for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool]("("+expr+", true)")(ctx, tg)
		return chromedp.Void{}, err
	}
}

// shoot writes a screenshot of the page to docs/screens/name with -update.
func shoot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if !*updateScreens {
		return
	}
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../../docs/screens/"+name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserMirrorPage is the console as an operator uses it, with real processes: a real
// agent on the demo clip with the hub provider, a real mirror-cloud in sim mode with its
// embedded broker, and a real headless Chromium. The operator logs in and sees the agent
// online; a shopper's simulated scan binds a photo; the mirror page shows its telemetry, its
// timeline and its configuration; an edit the agent's rules refuse is not sent, one the
// mirror refuses (a zone outside its camera frame) comes back refused with its reason, a good
// one is applied and reported; ping and reload-kiosk answer; the funnel counts the scan.
// SIGKILLed, the agent turns offline on the fleet page (the broker's Last Will) and the
// webhook receives one alert.
func TestBrowserMirrorPage(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	alerts := make(chan map[string]any, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		json.NewDecoder(r.Body).Decode(&v)
		alerts <- v
	}))
	defer hook.Close()
	h := startHub(t, "alerts.webhook_url="+hook.URL, "alerts.after=10s")
	add := testexec.Command(cloudBin, "operator", "add", "otto", "--role", "operator", "--password-stdin", "--set", "state_dir="+h.state)
	add.Stdin = strings.NewReader("otto-password-1234\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v %s", err, out)
	}
	p := startAgent(t, append(h.agentArgs(clip), "--set", "telemetry_interval=5s")...)
	scanOnce(t, h, p)

	ctx := consoleBrowser(t)
	act(t, ctx, "open the console", chromedp.Navigate(h.console+"/"))
	pageWait(t, ctx, "the login form", `location.pathname === "/login" && document.getElementById("name")`, 20*time.Second)
	act(t, ctx, "log in", chromedp.SendKeys(chromedp.CSS("#name"), "otto"), chromedp.SendKeys(chromedp.CSS("#password"), "otto-password-1234"),
		chromedp.Click(chromedp.CSS("#login-submit")))
	pageWait(t, ctx, "m1 online on the fleet page", `location.pathname === "/" && (() => { const tr = document.querySelector('#fleet tr[data-id="m1"]');
		return tr && ["online", "degraded"].includes(tr.querySelector(".badge").textContent); })()`, 60*time.Second)
	act(t, ctx, "open m1's page", chromedp.Click(chromedp.CSS(`#fleet tr[data-id="m1"] td.id a`)))
	pageWait(t, ctx, "m1's page with its telemetry and timeline", `location.pathname === "/mirrors/m1" && document.body.dataset.refreshed >= 1 &&
		document.querySelector("#chart-fps polyline") && [...document.querySelectorAll("#events td.type")].some(td => td.textContent === "photo.bound")`, 30*time.Second)

	editConfig(t, ctx)
	act(t, ctx, "ping", chromedp.Click(chromedp.CSS(`button[data-cmd="ping"]`)))
	pageWait(t, ctx, "the ping's result", `[...document.querySelectorAll("#results tbody tr")].some(tr => tr.cells[1].textContent === "ping" && tr.cells[2].textContent.startsWith("ok") && tr.cells[2].textContent.includes("uptime_s"))`, 20*time.Second)
	act(t, ctx, "reload the kiosk", js(`window.confirm = () => true`), chromedp.Click(chromedp.CSS(`button[data-cmd="reload-kiosk"]`)))
	pageWait(t, ctx, "reload-kiosk's result", `[...document.querySelectorAll("#results tbody tr")].some(tr => tr.cells[1].textContent === "reload-kiosk" && tr.cells[2].textContent.startsWith("ok") && tr.cells[2].textContent.includes("pages"))`, 20*time.Second)
	act(t, ctx, "load m1's page again", chromedp.Navigate(h.console+"/mirrors/m1"))
	pageWait(t, ctx, "config.applied on the timeline", `document.body.dataset.refreshed >= 1 && [...document.querySelectorAll("#events td.type")].some(td => td.textContent === "config.applied")`, 30*time.Second)
	shoot(t, ctx, "console-mirror.png")

	act(t, ctx, "open the funnel", chromedp.Navigate(h.console+"/funnel"))
	pageWait(t, ctx, "the funnel counting the scan", `(() => { const tr = document.querySelector("#funnel tbody tr");
		if (!tr) { setTimeout(() => location.reload(), 500); return false; }
		return Number(tr.cells[1].textContent) >= 1 && Number(tr.cells[2].textContent) === 1 && Number(tr.cells[3].textContent) === 1; })()`, 30*time.Second)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#funnel-chart rect.bound").length`)); err != nil || n < 2 {
		t.Errorf("the funnel's SVG has %d bound bars (%v), want the legend's and the day's", n, err)
	}
	shoot(t, ctx, "console-funnel.png")

	p.cmd.Process.Signal(syscall.SIGKILL)
	act(t, ctx, "open the fleet", chromedp.Navigate(h.console+"/"))
	pageWait(t, ctx, "m1 offline on the fleet page", `(() => { const tr = document.querySelector('#fleet tr[data-id="m1"]');
		return tr && ["offline", "silent"].includes(tr.querySelector(".badge").textContent); })()`, 60*time.Second)
	select {
	case a := <-alerts:
		if a["event"] != "alert" || a["mirror"] != "m1" {
			t.Errorf("the webhook got %v, want an alert for m1", a)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("no alert within 40 s of m1 going offline")
	}
	select {
	case a := <-alerts: // a second check of the alerts would send a duplicate by now
		t.Errorf("a second notice: %v", a)
	case <-time.After(6 * time.Second):
	}
}

// scanOnce waits for the agent's QR code, scans it with the hub's WeChat simulator and waits
// for the mirror to show it bound.
func scanOnce(t testing.TB, h *hubProc, p *agentProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	scanned := false
	for s := range sse(ctx, t, p.kioskURL) {
		if s.Scene == display.SceneQR && !scanned && s.QR != nil {
			h.scan(t, s.QR.Content, "o_shopper")
			scanned = true
		}
		if scanned && s.Scene == display.SceneBound {
			return
		}
	}
	t.Fatalf("no QR code scanned and bound within 90 s (scanned %v)", scanned)
}

// editConfig edits m1's configuration on its page: a value the agent's rules refuse is not
// sent; a zone outside the camera frame is refused by the mirror with its reason; a good
// value is applied and shows in the reported configuration.
func editConfig(t testing.TB, ctx context.Context) {
	t.Helper()
	send := func(config string) {
		act(t, ctx, "edit the configuration", chromedp.SetValue(chromedp.CSS("#config-editor"), config),
			js(`document.getElementById("config-answer").textContent = ""`),
			chromedp.Click(chromedp.CSS("#config-send")))
	}
	send(`{"session":{"countdown":99}}`)
	pageWait(t, ctx, "the console's refusal", `document.getElementById("config-answer").textContent.startsWith("not sent: session.countdown: must be between 0 and 10")`, 10*time.Second)
	send(`{"presence":{"zone":"0,0,99999999999,1"}}`)
	pageWait(t, ctx, "the mirror's refusal", `(() => { const a = document.getElementById("config-answer").textContent;
		return a.startsWith("version 1 refused by the mirror: presence.zone:") && a.includes("camera frame"); })()`, 20*time.Second)
	send(`{"session":{"countdown":2}}`)
	pageWait(t, ctx, "the mirror's answer", `document.getElementById("config-answer").textContent === "version 2 applied by the mirror"`, 20*time.Second)
	pageWait(t, ctx, "the reported configuration", `document.getElementById("reported-version").textContent.startsWith("version 2") &&
		document.getElementById("reported").textContent.includes('"countdown": 2') && document.getElementById("reported-error").textContent === ""`, 20*time.Second)
}
