package kiosk

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"strings"
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
	mux.Handle("GET /{$}", asset("text/html; charset=utf-8", k.index))
	mux.Handle("GET /style.css", asset("text/css; charset=utf-8", styleCSS))
	mux.Handle("GET /app.js", asset("text/javascript; charset=utf-8", appJS))
	mux.HandleFunc("GET /events", k.serveEvents)
	mux.HandleFunc("GET /qr.png", k.serveQR)
	mux.HandleFunc("GET /photos/{file}", k.servePhoto)
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

// pageSettings are the display settings the page reads from <meta name="fitmirror-display">.
type pageSettings struct {
	QRSizeMM   float64 `json:"qr_mm"`
	DPI        float64 `json:"dpi,omitempty"`
	DiagonalIn float64 `json:"diagonal_in,omitempty"`
	Words      words   `json:"words"`
}

// words are the provider's wording of the QR and bound scenes (display.Wording).
type words struct {
	ScanZh1 string `json:"scan_zh1"`
	ScanZh2 string `json:"scan_zh2"`
	ScanEn  string `json:"scan_en"`
	BoundZh string `json:"bound_zh"`
	BoundEn string `json:"bound_en"`
}

// pageWithSettings returns web/index.html with the settings in its meta tag.
func pageWithSettings(s pageSettings) []byte {
	b, _ := json.Marshal(s) // cannot fail: plain numbers and strings
	const tag = `<meta name="fitmirror-display" content="">`
	return bytes.Replace(indexHTML, []byte(tag),
		[]byte(`<meta name="fitmirror-display" content="`+html.EscapeString(string(b))+`">`), 1)
}

// servePhoto answers GET /photos/{id}.jpg with a photo of the current Screen (its photo_id or
// compare_photo_id); any other ID is 404, so the page cannot be used to browse the store.
func (k *Kiosk) servePhoto(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".jpg")
	if !ok || id == "" || k.photos == nil {
		http.NotFound(w, r)
		return
	}
	cur := k.Current()
	if id != cur.PhotoID && id != cur.CompareID {
		http.NotFound(w, r)
		return
	}
	f, err := k.photos.Open(id)
	if err != nil {
		k.log.Warn("kiosk: photo", "photo_id", id, "err", err)
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "no-store") // photos are purged; never keep them in the browser
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f)
}
