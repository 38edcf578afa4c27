package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"github.com/fitmirror/fitmirror/internal/wire"
)

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
	if !wire.ValidPhotoID(id) { // nothing that could leave the photo directory
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
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxPhotoBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("photo is over the %d-byte limit", h.opts.MaxPhotoBytes))
			return
		}
		apiError(w, http.StatusBadRequest, "bad_request", "reading the photo: "+err.Error())
		return
	}
	if !bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}) {
		apiError(w, http.StatusBadRequest, "bad_request", "body is not a JPEG")
		return
	}
	sum := sha256.Sum256(data)
	p := Photo{ID: id, DeviceID: d.ID, SessionID: r.Header.Get("X-Session-Id"), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), CreatedAt: h.now()}
	if old, err := h.opts.Store.Photo(r.Context(), id); err == nil {
		h.photoExists(w, old, p)
		return
	}
	// The file first, then the index: a crash in between leaves an unindexed file that the
	// next PUT overwrites, never an index entry without its file.
	if err := writeFileAtomic(h.photoPath(p), data); err != nil {
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

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
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
