package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/jpegcheck"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// putPhoto is PUT /v1/photos/{id}: 201 stored, 200 the same bytes already, 409 different bytes.
func (h *Hub) putPhoto(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !wire.ValidPhotoID(id) { // nothing that could leave the photo directory
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("photo id %q: want 1-64 letters, digits, - or _", id))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "image/jpeg" {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("content type %q: want image/jpeg", r.Header.Get("Content-Type")))
		return
	}
	if r.ContentLength > h.opts.MaxPhotoBytes {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, fmt.Sprintf("photo of %d bytes is over the %d-byte limit", r.ContentLength, h.opts.MaxPhotoBytes))
		return
	}
	release, ok := h.quota.begin(w, d.ID, r.ContentLength, h.opts.MaxPhotoBytes)
	if !ok {
		h.quietLog.Warn("quota:"+d.ID, "hub: upload quota reached", "device", d.ID)
		return
	}
	defer release()
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxPhotoBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, wire.CodeTooLarge, fmt.Sprintf("photo is over the %d-byte limit", h.opts.MaxPhotoBytes))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, "reading the photo: "+err.Error())
		return
	}
	if !h.checkPhoto(w, r, data) {
		return
	}
	sum := sha256.Sum256(data)
	p := Photo{ID: id, DeviceID: d.ID, SessionID: r.Header.Get("X-Session-Id"), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), CreatedAt: h.now()}
	if old, err := h.opts.Store.Photo(r.Context(), id); err == nil {
		h.photoExists(w, old, p)
		return
	}
	// The bytes first, then the index: a crash in between leaves unindexed bytes that the
	// next PUT overwrites, never an index entry without its photo.
	if err := h.blobs.Put(r.Context(), p.BlobKey(), data); err != nil {
		h.log.Error("hub: store photo", "photo_id", id, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot store the photo")
		return
	}
	created, err := h.opts.Store.PutPhoto(r.Context(), p)
	switch {
	case errors.Is(err, ErrConflict):
		// Another upload of this ID with other bytes won the race: drop ours.
		old, _ := h.opts.Store.Photo(r.Context(), id)
		if old.SHA256 != p.SHA256 {
			h.blobs.Delete(r.Context(), p.BlobKey())
		}
		h.photoExists(w, old, p)
		return
	case err != nil:
		h.log.Error("hub: index photo", "photo_id", id, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot index the photo")
		return
	}
	h.metrics.photos.Inc()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpjson.Write(w, status, wire.PhotoUploaded{PhotoID: id, SHA256: p.SHA256, Size: p.Size})
}

// checkPhoto refuses what is not a whole JPEG within the photo limits: 415 for what is not a
// JPEG at all, 422 for a JPEG that is too large or does not decode. The decode runs in the
// hub's bounded decoder, so a burst of uploads waits rather than exhausting memory.
func (h *Hub) checkPhoto(w http.ResponseWriter, r *http.Request, data []byte) bool {
	_, err := h.jpegs.Check(r.Context(), data)
	var refusal *jpegcheck.Refusal
	switch {
	case err == nil:
		return true
	case errors.As(err, &refusal) && refusal.Unsupported:
		httpjson.Error(w, http.StatusUnsupportedMediaType, wire.CodeUnsupportedMedia, "photo refused: "+refusal.Reason)
	case errors.As(err, &refusal):
		httpjson.Error(w, http.StatusUnprocessableEntity, wire.CodeInvalidPhoto, "photo refused: "+refusal.Reason)
	default: // the client went away while waiting for the decoder
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "photo check: "+err.Error())
	}
	h.metrics.photosRefused.Inc()
	return false
}

func (h *Hub) photoExists(w http.ResponseWriter, old, p Photo) {
	if old.SHA256 != p.SHA256 || old.DeviceID != p.DeviceID {
		httpjson.Error(w, http.StatusConflict, wire.CodeConflict, fmt.Sprintf("photo %s is already stored with different content", p.ID))
		return
	}
	httpjson.Write(w, http.StatusOK, wire.PhotoUploaded{PhotoID: p.ID, SHA256: p.SHA256, Size: p.Size})
}

// sweepUploads removes what uploads killed mid-write left in the photo directory (see
// DirBlobs.SweepPartial): files older than age; 0 = all of them.
func (h *Hub) sweepUploads(age time.Duration) {
	d, ok := h.blobs.(DirBlobs)
	if !ok {
		return
	}
	n, err := d.SweepPartial(h.now().Add(-age), age == 0)
	if err != nil {
		h.log.Warn("hub: sweep partial uploads", "err", err)
	}
	if n > 0 {
		h.log.Info("partial uploads removed", "files", n)
	}
}

// uploadQuota bounds each device's uploads: how many at once, and bytes per minute.
type uploadQuota struct {
	maxActive int
	bytes     *httpguard.Limiter
	mu        sync.Mutex
	active    map[string]int
}

func newUploadQuota(maxActive int, bytesPerMinute int64) *uploadQuota {
	return &uploadQuota{maxActive: maxActive, active: map[string]int{},
		bytes: httpguard.NewLimiter(float64(bytesPerMinute)/60, int(bytesPerMinute))}
}

// begin takes an upload slot and the upload's bytes (size, or max when unknown) for device;
// over the quota it answers 429 and returns false.
func (q *uploadQuota) begin(w http.ResponseWriter, device string, size, max int64) (release func(), ok bool) {
	q.mu.Lock()
	if q.active[device] >= q.maxActive {
		q.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusTooManyRequests, wire.CodeRateLimited, fmt.Sprintf("more than %d uploads at once from this device", q.maxActive))
		return nil, false
	}
	if size < 0 {
		size = max
	}
	if ok, wait := q.bytes.AllowN(device, int(size)); !ok {
		q.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		httpjson.Error(w, http.StatusTooManyRequests, wire.CodeRateLimited, "upload quota of this device reached (bytes per minute)")
		return nil, false
	}
	q.active[device]++
	q.mu.Unlock()
	return func() {
		q.mu.Lock()
		if q.active[device]--; q.active[device] <= 0 {
			delete(q.active, device)
		}
		q.mu.Unlock()
	}, true
}
