// Package kiosk is the kiosk renderer: it shows display.Screens as a web page that Chromium displays
// full-screen behind the two-way glass.
//
// A Kiosk keeps the current Screen and pushes every Show to the open pages over Server-Sent Events.
// Its Handler serves (CONTRACTS §3):
//
//	GET /          the page (HTML, CSS and JS embedded from web/, no external URLs), with
//	               GET /style.css and GET /app.js
//	GET /events    text/event-stream: the current Screen first, then one "data: <json>" per Show;
//	               ": ping" comments every Options.Heartbeat
//	GET /qr.png    ?c=<content>[&m=<pixels per module, 2..40, default 10>] a black-on-white PNG QR
//	               code of exactly c (1..1024 bytes) with the standard 4-module quiet zone
//	GET /healthz   200 "ok"
//
// Unknown paths get 404 and other methods 405.
//
// Each page has its own queue of 64 Screens. Show never waits for a page: when one falls behind, its
// oldest queued Screens are dropped and the newest is always delivered, so a stalled browser can
// only miss intermediate states, never the final one.
//
// The page follows the two-way mirror rule: the background is pure black (black is mirror), the idle
// scene shows nothing at all, and text and the QR code sit at the top and bottom edges, clear of
// the shopper's reflection. Text is zh-CN first with a smaller English line below, large enough
// to read from 0.5–1 m. If the agent goes away the page turns black after about 5 s instead of
// showing stale content, and reconnects by itself.
//
// Wiring, in main (k is the display.Renderer the session engine shows Screens on):
//
//	k := kiosk.New(kiosk.Options{Logger: logger})
//	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: k.Handler()}
//	srv.RegisterOnShutdown(func() { k.Close() }) // end event streams so Shutdown can finish
//
// Chromium runs the page with, for example:
//
//	chromium --kiosk --noerrdialogs --disable-infobars --incognito http://127.0.0.1:8080/
package kiosk
