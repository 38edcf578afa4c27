package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// photoIDPattern: ULIDs and similar; nothing that could leave the photo directory.
var photoIDPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// photoPath names a photo's file by its ID and content, so that a conflicting upload racing
// the first one can never overwrite it.
func (h *Hub) photoPath(p Photo) string {
	return filepath.Join(h.opts.PhotoDir, p.ID+"-"+p.SHA256[:16]+".jpg")
}

// putPhoto is PUT /v1/photos/{id}: 201 stored, 200 the same bytes already, 409 different bytes.
func (h *Hub) putPhoto(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !photoIDPattern.MatchString(id) {
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("photo id %q: want 1-64 letters, digits, - or _", id))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "image/jpeg" {
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("content type %q: want image/jpeg", r.Header.Get("Content-Type")))
		return
	}
	if r.ContentLength > h.opts.MaxPhotoBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("photo of %d bytes is over the %d-byte limit", r.ContentLength, h.opts.MaxPhotoBytes))
		return
	}
	release, ok := h.quota.begin(w, d.ID, r.ContentLength, h.opts.MaxPhotoBytes)
	if !ok {
		h.quietLog.Warn("quota:"+d.ID, "hub: upload quota reached", "device", d.ID)
		return
	}
	defer release()
	// The body goes straight to a temporary file in the photo directory (a photo is never
	// held in memory whole); a crash mid-upload leaves a .upload-* file that the next start
	// or the janitor removes.
	tmp, err := os.CreateTemp(h.opts.PhotoDir, uploadPrefix+"*")
	if err != nil {
		h.log.Error("hub: store photo", "photo_id", id, "err", err)
		apiError(w, http.StatusServiceUnavailable, "unavailable", "cannot store the photo")
		return
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // fails harmlessly once renamed
	}()
	sha := sha256.New()
	head := &prefixWriter{n: 3}
	n, err := io.Copy(io.MultiWriter(tmp, sha, head), http.MaxBytesReader(w, r.Body, h.opts.MaxPhotoBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("photo is over the %d-byte limit", h.opts.MaxPhotoBytes))
			return
		}
		apiError(w, http.StatusBadRequest, "bad_request", "reading the photo: "+err.Error())
		return
	}
	if !bytes.Equal(head.b, []byte{0xff, 0xd8, 0xff}) {
		apiError(w, http.StatusBadRequest, "bad_request", "body is not a JPEG")
		return
	}
	p := Photo{ID: id, DeviceID: d.ID, SessionID: r.Header.Get("X-Session-Id"), SHA256: hex.EncodeToString(sha.Sum(nil)), Size: n, CreatedAt: h.now()}
	if old, err := h.opts.Store.Photo(r.Context(), id); err == nil {
		h.photoExists(w, old, p)
		return
	}
	// The file first, then the index: a crash in between leaves an unindexed file that the
	// next PUT overwrites, never an index entry without its file.
	if err := commitFile(tmp, h.photoPath(p)); err != nil {
		h.log.Error("hub: store photo", "photo_id", id, "err", err)
		apiError(w, http.StatusServiceUnavailable, "unavailable", "cannot store the photo")
		return
	}
	created, err := h.opts.Store.PutPhoto(r.Context(), p)
	switch {
	case errors.Is(err, ErrConflict):
		// Another upload of this ID with other bytes won the race: drop ours.
		old, _ := h.opts.Store.Photo(r.Context(), id)
		if old.SHA256 != p.SHA256 {
			os.Remove(h.photoPath(p))
		}
		h.photoExists(w, old, p)
		return
	case err != nil:
		h.log.Error("hub: index photo", "photo_id", id, "err", err)
		apiError(w, http.StatusServiceUnavailable, "unavailable", "cannot index the photo")
		return
	}
	h.metrics.photos.Inc()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"photo_id": id, "sha256": p.SHA256, "size": p.Size})
}

func (h *Hub) photoExists(w http.ResponseWriter, old, p Photo) {
	if old.SHA256 != p.SHA256 || old.DeviceID != p.DeviceID {
		apiError(w, http.StatusConflict, "conflict", fmt.Sprintf("photo %s is already stored with different content", p.ID))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"photo_id": p.ID, "sha256": p.SHA256, "size": p.Size})
}

// uploadPrefix names the temporary file of an upload in progress.
const uploadPrefix = ".upload-"

// prefixWriter keeps the first n bytes written to it.
type prefixWriter struct {
	n int
	b []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if k := w.n - len(w.b); k > 0 {
		w.b = append(w.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}

// commitFile makes the written temporary file durable and renames it to path.
func commitFile(tmp *os.File, path string) error {
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sweepUploads removes the temporary files of uploads older than age (a crash or a kill
// mid-upload leaves them behind; they would escape retention). An upload in progress is
// younger than the server's read timeout.
func (h *Hub) sweepUploads(age time.Duration) {
	entries, err := os.ReadDir(h.opts.PhotoDir)
	if err != nil {
		h.log.Warn("hub: sweep partial uploads", "err", err)
		return
	}
	cutoff := h.now().Add(-age)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), uploadPrefix) || e.IsDir() {
			continue
		}
		if info, err := e.Info(); err != nil || (age > 0 && info.ModTime().After(cutoff)) {
			continue
		}
		if err := os.Remove(filepath.Join(h.opts.PhotoDir, e.Name())); err == nil {
			h.log.Info("partial upload removed", "file", e.Name())
		} else if !errors.Is(err, fs.ErrNotExist) {
			h.log.Warn("hub: remove partial upload", "file", e.Name(), "err", err)
		}
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
		apiError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("more than %d uploads at once from this device", q.maxActive))
		return nil, false
	}
	if size < 0 {
		size = max
	}
	if ok, wait := q.bytes.AllowN(device, int(size)); !ok {
		q.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		apiError(w, http.StatusTooManyRequests, "rate_limited", "upload quota of this device reached (bytes per minute)")
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
