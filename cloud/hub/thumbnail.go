package hub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/draw"

	"github.com/fitmirror/fitmirror/internal/jpegcheck"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// The news card's picture (PicUrl): a small JPEG of the photo at /t/{token}.jpg. The token is
// the photo ID, an expiry and a MAC with the hub's secret, so it cannot be guessed or
// extended, and it stops working thumbTTL after the reply was made. WeChat's servers fetch it
// to draw the card.
const (
	thumbTTL  = 30 * time.Minute
	thumbSide = 480 // the longer side, pixels; WeChat draws the card's picture at 360×200
)

func (h *Hub) thumbMAC(payload string) string {
	m := hmac.New(sha256.New, h.cookie)
	m.Write([]byte("thumb|" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// thumbURL is the PicUrl for photoID, valid for thumbTTL from now.
func (h *Hub) thumbURL(photoID string) string {
	payload := photoID + "." + strconv.FormatInt(h.now().Add(thumbTTL).Unix(), 36)
	return h.public.String() + "/t/" + payload + "." + h.thumbMAC(payload) + ".jpg"
}

// thumbToken checks a token and returns its photo ID.
func (h *Hub) thumbToken(tok string) (string, bool) {
	tok, ok := strings.CutSuffix(tok, ".jpg")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || !hmac.Equal([]byte(tok[i+1:]), []byte(h.thumbMAC(tok[:i]))) {
		return "", false
	}
	id, exp, ok := strings.Cut(tok[:i], ".")
	sec, err := strconv.ParseInt(exp, 36, 64)
	if !ok || err != nil || !h.now().Before(time.Unix(sec, 0)) || !wire.ValidPhotoID(id) {
		return "", false
	}
	return id, true
}

// thumbKey is where a photo's thumbnail is kept in Blobs (purged with the photo).
func thumbKey(p Photo) string { return strings.TrimSuffix(p.BlobKey(), ".jpg") + ".thumb.jpg" }

// thumbnail is GET /t/{token}: the card picture, 404 once the token expired or the photo is
// gone.
func (h *Hub) thumbnail(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	id, ok := h.thumbToken(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	p, err := h.opts.Store.Photo(r.Context(), id)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	data, err := h.blobs.Get(r.Context(), thumbKey(p))
	if errors.Is(err, ErrNotFound) {
		data, err = h.makeThumb(r.Context(), p)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		h.log.Warn("hub: thumbnail", "photo_id", id, "err", err)
		http.Error(w, "thumbnail unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=600")
	w.Write(data)
}

// makeThumb scales the photo so that its longer side is thumbSide and keeps the JPEG beside
// the photo (purged with it).
func (h *Hub) makeThumb(ctx context.Context, p Photo) ([]byte, error) {
	data, err := h.blobs.Get(ctx, p.BlobKey())
	if err != nil {
		return nil, err
	}
	// The same bounded decoder as the upload check: a thumbnail never decodes more than the
	// photo limits allow, and a burst of card fetches waits for the budget.
	var buf bytes.Buffer
	_, err = h.jpegs.Decode(ctx, data, func(src image.Image) error {
		b := src.Bounds()
		w, ht := b.Dx(), b.Dy()
		if m := max(w, ht); m > thumbSide {
			w, ht = max(1, w*thumbSide/m), max(1, ht*thumbSide/m)
		}
		dst := image.NewRGBA(image.Rect(0, 0, w, ht))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
		return jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80})
	})
	var refusal *jpegcheck.Refusal
	if errors.As(err, &refusal) { // stored before uploads were checked: it has no picture
		return nil, fmt.Errorf("photo %s: %s: %w", p.ID, refusal.Reason, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: %w", p.ID, err)
	}
	if err := h.blobs.Put(ctx, thumbKey(p), buf.Bytes()); err != nil {
		h.log.Warn("hub: keep thumbnail", "photo_id", p.ID, "err", err)
	}
	return buf.Bytes(), nil
}
