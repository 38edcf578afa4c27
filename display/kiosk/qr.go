package kiosk

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/skip2/go-qrcode"

	"github.com/fitmirror/fitmirror/display"
)

const (
	maxQRContent = 1024 // bytes
	defaultQRPx  = 10   // pixels per module
	minQRPx      = 2
	maxQRPx      = 40
	maxQRWidth   = 8192 // pixels
)

// serveQR answers GET /qr.png?c=<content>[&m=<pixels per module>|&w=<pixels>] with a PNG QR
// code of exactly the content at the kiosk's error-correction level (Options.QRLevel): black
// modules on white with the standard 4-module quiet zone, every module exactly m×m pixels. With
// w, m is the largest scale that keeps the image within w pixels (at least 2); the page asks for
// the size it has room for and shows the image one pixel per device pixel.
func (k *Kiosk) serveQR(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "kiosk: qr: bad query: "+err.Error(), http.StatusBadRequest)
		return
	}
	content := q.Get("c")
	if content == "" || len(content) > maxQRContent {
		http.Error(w, fmt.Sprintf("kiosk: qr: c must hold 1 to %d bytes, got %d", maxQRContent, len(content)),
			http.StatusBadRequest)
		return
	}
	px := defaultQRPx
	width := 0
	if s := q.Get("w"); s != "" {
		width, err = strconv.Atoi(s)
		if err != nil || width < 1 || width > maxQRWidth {
			http.Error(w, fmt.Sprintf("kiosk: qr: w must be pixels, 1 to %d, got %q", maxQRWidth, s),
				http.StatusBadRequest)
			return
		}
		if q.Has("m") {
			http.Error(w, "kiosk: qr: give m or w, not both", http.StatusBadRequest)
			return
		}
	}
	if s := q.Get("m"); s != "" {
		px, err = strconv.Atoi(s)
		if err != nil || px < minQRPx || px > maxQRPx {
			http.Error(w, fmt.Sprintf("kiosk: qr: m must be pixels per module, %d to %d, got %q", minQRPx, maxQRPx, s),
				http.StatusBadRequest)
			return
		}
	}

	code, err := qrcode.New(content, k.qrLevel.Recovery())
	if err != nil {
		k.log.Error("kiosk: qr: encode", "bytes", len(content), "err", err)
		http.Error(w, "kiosk: qr: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if width > 0 {
		side := len(code.Bitmap()) // modules, quiet zone included
		px = min(max(display.QRScale(side, 0, 0, width), minQRPx), maxQRPx)
	}
	// The defaults are what a scanner needs: black (dark) modules on white, with the quiet zone.
	// A negative size is pixels per module; go-qrcode then scales by an exact integer.
	png, err := code.PNG(-px)
	if err != nil {
		k.log.Error("kiosk: qr: png", "err", err)
		http.Error(w, "kiosk: qr: png: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Length", strconv.Itoa(len(png)))
	h.Set("Cache-Control", "no-store") // the code expires; never let a stale one be shown
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(png)
}
