package kiosk

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"io"
	"net/http"
	"time"
)

// The page: plain files, no build step. They must not reference anything outside this server
// (the Content-Security-Policy below enforces it in the browser, a test checks the files).
var (
	//go:embed web/index.html
	indexHTML []byte
	//go:embed web/style.css
	styleCSS []byte
	//go:embed web/app.js
	appJS []byte
)

// pageCSP allows the page to load only its own script, style, images and event stream.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the kiosk's HTTP routes (see the package doc). It returns the same handler on
// every call.
func (k *Kiosk) Handler() http.Handler { return k.handler }

func (k *Kiosk) routes() http.Handler {
	mux := http.NewServeMux()
	// Method patterns make the mux answer 405 (with Allow) for other methods and 404 elsewhere.
	// GET patterns also match HEAD.
	mux.Handle("GET /{$}", asset("text/html; charset=utf-8", indexHTML))
	mux.Handle("GET /style.css", asset("text/css; charset=utf-8", styleCSS))
	mux.Handle("GET /app.js", asset("text/javascript; charset=utf-8", appJS))
	mux.HandleFunc("GET /events", k.serveEvents)
	mux.HandleFunc("GET /qr.png", k.serveQR)
	mux.HandleFunc("GET /healthz", serveHealthz)
	return mux
}

// asset serves an embedded file. Browsers revalidate it on every load (no-cache + ETag), so a
// kiosk picks up a new page after an agent upgrade without clearing its cache.
func asset(contentType string, body []byte) http.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

func serveHealthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, "ok")
}
