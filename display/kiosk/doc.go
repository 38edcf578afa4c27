// Package kiosk is the kiosk renderer: it shows display.Screens as a web page that Chromium displays
// full-screen behind the two-way glass.
//
// A Kiosk keeps the current Screen and pushes every Show to the open pages over Server-Sent Events.
// Its Handler serves (docs/contracts.md §3):
//
//	GET /               the page (HTML, CSS and JS embedded from web/, no external URLs), with
//	                    GET /style.css and GET /app.js
//	GET /events         text/event-stream: the current Screen first, then one "data: <json>" per
//	                    Show; ": ping" comments every Options.Heartbeat; the air buttons'
//	                    feedback (ShowGestures) as "event: gesture", throttled
//	GET /qr.png         ?c=<content>[&m=<pixels per module, 2..40, default 10> | &w=<pixels>] a
//	                    black-on-white PNG QR code of exactly c (1..1024 bytes) at Options.QRLevel,
//	                    with the standard 4-module quiet zone; with w, the largest whole number of
//	                    pixels per module (at least 2) that fits in w pixels
//	GET /photos/{id}.jpg  a photo of the current Screen (photo_id or compare_photo_id) from
//	                    Options.Photos; every other ID is 404
//	GET /healthz        200 "ok"
//
// Unknown paths get 404 and other methods 405. The listener stays on loopback: it serves photos.
//
// Each page has its own queue of 64 Screens. Show never waits for a page: when one falls behind, its
// oldest queued Screens are dropped and the newest is always delivered, so a stalled browser can
// only miss intermediate states, never the final one.
//
// The page follows the two-way mirror rule: the background is pure black (black is mirror), the idle
// scene shows nothing at all, and text, photos and the QR code sit at the edges inside a safe margin
// of max(5vmin, 16px), clear of the shopper's reflection; portrait and landscape have their own
// layouts. Text is zh-CN first with a smaller English line below, large enough to read from
// 0.5–1 m. The QR code is drawn one image pixel per device pixel: the page asks /qr.png for the
// size it has room for (a third of the shorter side, and Options.QRSizeMM when Options.Panel says
// how big the panel is) and shows the image unscaled; a ring around it empties clockwise as the
// code's lifetime (qr.issued_at, or when the page first showed it, to qr.expires_at) runs out. If
// the agent goes away the page turns black after about 5 s instead of showing stale content, and
// reconnects by itself.
//
// Wiring, in main (k is the display.Renderer the session engine shows Screens on):
//
//	k := kiosk.New(kiosk.Options{Logger: logger, Photos: photos, Panel: display.Panel{DiagonalIn: 43}})
//	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: k.Handler()}
//	srv.RegisterOnShutdown(func() { k.Close() }) // end event streams so Shutdown can finish
//
// On the mirror, systemd/mirror-kiosk.service runs scripts/kiosk.sh, which starts Chromium in
// kiosk mode (under the cage compositor when there is no desktop) with the flags a locked-down
// kiosk needs; see the script for the list.
package kiosk
