package kiosk

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/skip2/go-qrcode"
)

const (
	maxQRContent = 1024 // bytes
	defaultQRPx  = 10   // pixels per module
	minQRPx      = 2
	maxQRPx      = 40
)

// qrLevel is the error correction of the QR codes on the mirror: go-qrcode's High, which is ISO
// level Q (Quartile, 25 % of the codewords recoverable, against 15 % at M). The shopper scans with
// a phone through the two-way glass, which dims the code and lays reflections and glare over parts
// of it. Q still keeps the symbol small, so its modules stay big on screen: a ~45-byte WeChat
// ticket URL is version 4–5 (33–37 modules) at Q, against version 6 (41) at H (go-qrcode's Highest).
const qrLevel = qrcode.High

// serveQR answers GET /qr.png?c=<content>[&m=<pixels per module>] with a PNG QR code of exactly
// the content: black modules on white with the standard 4-module quiet zone, every module exactly
// m×m pixels (the page scales it with image-rendering: pixelated).
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
	if s := q.Get("m"); s != "" {
		px, err = strconv.Atoi(s)
		if err != nil || px < minQRPx || px > maxQRPx {
			http.Error(w, fmt.Sprintf("kiosk: qr: m must be pixels per module, %d to %d, got %q", minQRPx, maxQRPx, s),
				http.StatusBadRequest)
			return
		}
	}

	code, err := qrcode.New(content, qrLevel)
	if err != nil {
		k.log.Error("kiosk: qr: encode", "bytes", len(content), "err", err)
		http.Error(w, "kiosk: qr: encode: "+err.Error(), http.StatusInternalServerError)
		return
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
