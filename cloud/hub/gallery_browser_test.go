package hub_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

var updateScreens = flag.Bool("update", false, "rewrite docs/screens/gallery-*.png")

// TestBrowserGallery: the gallery in real headless Chromium at a phone's size (390×844): it
// shows the shopper's three photos with their thumbnails loaded, requests nothing from
// another origin, and deleting one (the confirmation accepted) leaves two. With -update it
// writes docs/screens/gallery-phone.png.
func TestBrowserGallery(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"G1", "G2", "G3"} {
		_, ticket := e.upload(id)
		if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_alice", true, wechattest.Safe); err != nil {
			t.Fatal(err)
		}
	}
	// The browser goes through the fake WeChat's OAuth page as alice, as the phone helper does.
	resp, err := newPhone(t, e, "x").c.Get(e.srv.URL + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	oauth := resp.Header.Get("Location")
	if !strings.Contains(oauth, "/connect/oauth2/authorize") {
		t.Fatalf("/me without a cookie redirects to %q, want OAuth", oauth)
	}
	base, frag, _ := strings.Cut(oauth, "#")
	oauth = base + "&openid=o_alice#" + frag
	alice := newPhone(t, e, "o_alice")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844),
	}
	root, cancelRoot := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer func() { cancelCtx(); cancelAlloc(); cancelRoot() }()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(oauth)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	poll := func(what, expr string) {
		t.Helper()
		var err error
		for range 3 { // a reload under way ends a poll ("target navigated"): poll again
			if _, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(30*time.Second))); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.body.innerText`))
			t.Fatalf("chromium: %s: %v; page %s", what, err, page)
		}
	}
	eval := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("chromium: %s: %v", expr, err)
		}
		return n
	}
	poll("the gallery with its thumbnails", `document.querySelectorAll("figure img").length === 3 && [...document.querySelectorAll("figure img")].every(i => i.complete && i.naturalWidth > 0)`)
	photos := eval(`document.querySelectorAll("button[data-photo]").length`)
	loaded := eval(`[...document.querySelectorAll("figure img")].filter(i => i.naturalWidth > 0).length`)
	foreign, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("resource").map(r => r.name).filter(n => !n.startsWith(location.origin)).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	eval(`window.confirm = () => true; document.querySelector("button[data-photo]").click(); 1`)
	poll("two photos after a deletion", `document.readyState === "complete" && document.querySelectorAll("button[data-photo]").length === 2`)
	after := eval(`document.querySelectorAll("button[data-photo]").length`)
	galleryOf(t, e, alice) // alice's own cookie, for the API check below
	if photos != 3 || loaded != 3 || after != 2 || foreign != "" {
		t.Errorf("gallery in Chromium: %d photos, %d thumbnails loaded, %d after a deletion, requests elsewhere %q", photos, loaded, after, foreign)
	}
	if _, b := alice.galleryCall("GET", e.srv.URL+"/me/photos", ""); len(photoIDs(t, b)) != 2 {
		t.Errorf("the hub keeps %s of alice's photos after the deletion, want 2", b)
	}
	if *updateScreens {
		if err := os.WriteFile("../../docs/screens/gallery-phone.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if !strings.HasPrefix(string(shot), "\x89PNG") || len(shot) < 1000 {
		t.Errorf("screenshot of %d bytes", len(shot))
	}
}
