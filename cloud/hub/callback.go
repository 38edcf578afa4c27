package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// maxCallbackBody bounds what WeChat may POST; its pushes are well under 4 KiB.
const maxCallbackBody = 64 << 10

func (h *Hub) handshake(w http.ResponseWriter, r *http.Request) {
	echo, err := h.opts.Callback.Handshake(r.URL.Query())
	if err != nil {
		// A burst of forged requests is logged once per client and minute, not per request.
		h.quietLog.Warn("sig:"+httpguard.ClientIP(r), "wechat callback: handshake refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, echo)
}

// callback is POST /wechat/callback. It answers within WeChat's 5 s: it records the binding
// (SQLite) and answers; the delivery loop takes the binding to the mirror. An image upload in
// image reply mode has its own deadline and falls back to the news reply.
func (h *Hub) callback(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	result := h.handleCallback(w, r)
	h.metrics.callbacks.WithLabelValues(result).Inc()
	h.metrics.callbackSeconds.Observe(time.Since(start).Seconds())
}

func (h *Hub) handleCallback(w http.ResponseWriter, r *http.Request) string {
	start := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
	if err != nil {
		h.log.Warn("wechat callback: body too large or unreadable", "err", err)
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return "too_large"
	}
	in, err := h.opts.Callback.Open(r.URL.Query(), body)
	switch {
	case errors.Is(err, wechat.ErrSignature), errors.Is(err, wechat.ErrStale), errors.Is(err, wechat.ErrUnsealed), errors.Is(err, wechat.ErrReplay):
		h.quietLog.Warn("sig:"+httpguard.ClientIP(r), "wechat callback: refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return "unauthorized"
	case err != nil:
		h.log.Warn("wechat callback: bad push", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "bad_request"
	}
	if in.MsgType == "event" && in.Event == "unsubscribe" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		h.unfollow(ctx, in.FromUserName)
		io.WriteString(w, "success")
		return "unsubscribe"
	}
	scene := in.Scene()
	if scene == "" {
		// A plain follow, a message, a product scan (user_scan_product…), an event this hub
		// does not know: success, so that WeChat does not retry.
		h.log.Debug("wechat callback: nothing to do", "msg_type", in.MsgType, "event", in.Event)
		io.WriteString(w, "success")
		return "ignored"
	}
	if err := validScene(scene); err != nil { // not a code of ours (a product code's scene|keystandard|…)
		h.log.Debug("wechat callback: not a mirror's scene", "event", in.Event, "err", err)
		io.WriteString(w, "success")
		return "unknown_scene"
	}
	// WeChat hangs up after 5 s; what was started is finished regardless, so that a retry
	// finds the event recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	key := dedupeKey(in.Message)
	unlock, err := h.locks.lock(ctx, key)
	if err != nil {
		return "canceled"
	}
	defer unlock()

	sc, err := h.opts.Store.Scene(ctx, scene)
	if errors.Is(err, ErrNotFound) && in.Ticket != "" {
		sc, err = h.opts.Store.SceneByTicket(ctx, in.Ticket)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		if hubScene.MatchString(scene) { // a mirror code whose photo was purged with it
			h.log.Info("wechat callback: scene gone (photo purged)", "scene", scene, "event", in.Event)
			h.writeReply(w, in, wechat.TextReply(in.FromUserName, in.ToUserName, h.now().Unix(), h.expiredReply(ctx, in.FromUserName)))
			return "expired_scene"
		}
		h.log.Info("wechat callback: unknown scene", "scene", scene, "event", in.Event)
		io.WriteString(w, "success")
		return "unknown_scene"
	case err != nil:
		h.log.Error("wechat callback: scene lookup", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return "error"
	}
	// A retry of an event handled before the QR expired is still that event: look for it
	// before judging expiry.
	stored, isNew, err := h.recordOnce(ctx, in, sc, key)
	if err != nil {
		if errors.Is(err, errExpired) {
			h.log.Info("wechat callback: expired scene", "scene", scene, "expired_at", sc.ExpiresAt)
			h.writeReply(w, in, wechat.TextReply(in.FromUserName, in.ToUserName, h.now().Unix(), h.expiredReply(ctx, in.FromUserName)))
			return "expired_scene"
		}
		h.log.Error("wechat callback: record", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return "error"
	}
	result := "bound"
	if !isNew {
		result = "duplicate"
	}
	if isNew {
		h.kick() // the delivery loop publishes it; WeChat gets its answer now
	}
	if h.writeReply(w, in, stored.Reply) {
		h.answered(key, time.Since(start))
	}
	return result
}

// writeReply seals (safe mode) and writes a passive reply; it reports whether it was written.
func (h *Hub) writeReply(w http.ResponseWriter, in wechat.Incoming, reply []byte) bool {
	sealed, err := h.opts.Callback.Seal(in, reply)
	if err != nil {
		h.log.Error("wechat callback: seal reply", "err", err)
		io.WriteString(w, "success")
		return false
	}
	w.Header().Set("Content-Type", "application/xml")
	_, err = w.Write(sealed)
	return err == nil
}

var errExpired = errors.New("scene expired")

// recordOnce returns the stored event for in, creating it (binding, reply) if it is new.
//
// A retry (same key) gets the stored event: RecordEvent keeps the first and returns it, so a
// push for a live scene goes straight to it. The store is read first only where that saves
// work or is needed: for an expired scene (a retry of a push answered in time still gets its
// reply) and in image mode (a retry must not start another upload).
func (h *Hub) recordOnce(ctx context.Context, in wechat.Incoming, sc Scene, key string) (Event, bool, error) {
	live := h.now().Before(sc.ExpiresAt)
	if !live || h.opts.Reply == ReplyImage {
		old, err := h.opts.Store.Event(ctx, key)
		if err == nil {
			return old, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Event{}, false, err
		}
		if !live {
			return Event{}, false, errExpired
		}
	}
	e, fb := h.newEvent(in, sc, key)
	stored, isNew, err := h.opts.Store.RecordEvent(ctx, e)
	if err == nil && isNew {
		h.track(key, fb)
	}
	return stored, isNew, err
}

// dedupeKey identifies a push across WeChat's retries (FromUserName, CreateTime, Event,
// EventKey).
func dedupeKey(m wechat.Message) string {
	sum := sha256.Sum256([]byte(m.FromUserName + "\x00" + strconv.FormatInt(m.CreateTime, 10) + "\x00" + m.Event + "\x00" + m.EventKey))
	return hex.EncodeToString(sum[:])
}

func (h *Hub) newEvent(in wechat.Incoming, sc Scene, key string) (Event, *fallback) {
	now := h.now()
	user := h.userHash(in.FromUserName)
	b := wire.Binding{BindingID: ulid.Make().String(), PhotoID: sc.PhotoID, Scene: sc.Scene, Event: in.Event, User: user, At: wire.Time{Time: now}}
	payload, _ := json.Marshal(b)
	reply, fb := h.reply(in, sc)
	return Event{Key: key, BindingID: b.BindingID, DeviceID: sc.DeviceID, PhotoID: sc.PhotoID, User: user,
		Payload: payload, Reply: reply, At: now}, fb
}

// reply is the passive reply that gets the photo to the shopper: the news card (a link to
// the photo page with a thumbnail), or in image mode the photo itself when media/upload
// answers within imageWait; otherwise the card now and the image as a customer-service
// message when the upload is done.
func (h *Hub) reply(in wechat.Incoming, sc Scene) ([]byte, *fallback) {
	created := h.now().Unix()
	fb := &fallback{openid: in.FromUserName, at: time.Now(), article: wechat.Article{
		Title:       "你的试衣照片 · Your photo",
		Description: "点击查看并保存 · Tap to open and save",
		URL:         h.public.String() + "/p/" + sc.PhotoID,
		PicURL:      h.thumbURL(sc.PhotoID),
	}}
	if h.opts.Reply == ReplyImage {
		done := h.startUpload(sc.PhotoID, fb.at)
		t := time.NewTimer(imageWait)
		defer t.Stop()
		select {
		case r := <-done:
			if r.err == nil {
				fb.mediaID = r.mediaID
				return wechat.ImageReply(in.FromUserName, in.ToUserName, created, r.mediaID), fb
			}
			h.log.Warn("wechat callback: image upload failed, replying with the link", "photo_id", sc.PhotoID, "err", r.err)
		case <-t.C:
			h.log.Warn("wechat callback: image upload slow, replying with the link; the image follows as a customer-service message", "photo_id", sc.PhotoID)
			h.imageLater(in.FromUserName, fb.at, done)
		}
	}
	return wechat.NewsReply(in.FromUserName, in.ToUserName, created, fb.article), fb
}
