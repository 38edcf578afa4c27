package hub

import (
	"context"
	"regexp"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
)

// The passive reply is the surest way to the shopper, but it has to be made within WeChat's
// 5 s. When it cannot carry the photo, the hub sends it as a customer-service message, which
// WeChat allows for a minute after a scan or subscribe (3 messages):
//   - reply: image, and media/upload is slow: the reply is the news card, the upload goes on,
//     and the image follows as a customer-service message;
//   - no try of the push was answered within answerBudget (WeChat gave up on each): the photo
//     (news card, or the image) goes as a customer-service message once WeChat's tries are over.
//
// The state is in memory: an openid is never stored.
const (
	imageWait     = 3 * time.Second         // how long the reply waits for media/upload
	answerBudget  = 4500 * time.Millisecond // an answer later than this may have missed WeChat's 5 s
	triesOver     = 16 * time.Second        // WeChat's three tries (5 s apart) are over
	messageWindow = 55 * time.Second        // customer-service messages only within a minute of the scan
)

// fallback is what the hub knows about one event's way to the shopper while WeChat may
// still retry it.
type fallback struct {
	openid  string
	article wechat.Article
	mediaID string // the image of an image reply
	inTime  bool   // a try was answered within answerBudget
	at      time.Time
}

// track registers a new event's reply and checks, once WeChat's tries are over, that one of
// them was answered in time; if none was, the photo goes as a customer-service message.
func (h *Hub) track(key string, fb *fallback) {
	h.fbMu.Lock()
	h.fallbacks[key] = fb
	h.fbMu.Unlock()
	time.AfterFunc(triesOver, func() {
		h.fbMu.Lock()
		delete(h.fallbacks, key)
		inTime := fb.inTime
		h.fbMu.Unlock()
		if inTime || h.unfollowed(fb.openid) {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), fb.at.Add(messageWindow))
		defer cancel()
		h.log.Warn("wechat callback: no answer reached WeChat in time; sending the photo as a customer-service message")
		if fb.mediaID != "" {
			h.sendCustom(ctx, "image", func() error { return h.opts.WeChat.SendImage(ctx, fb.openid, fb.mediaID) })
			return
		}
		h.sendCustom(ctx, "news", func() error { return h.opts.WeChat.SendNews(ctx, fb.openid, fb.article) })
	})
}

// answered notes that a try of key was answered after d.
func (h *Hub) answered(key string, d time.Duration) {
	if d > answerBudget {
		return
	}
	h.fbMu.Lock()
	if fb, ok := h.fallbacks[key]; ok {
		fb.inTime = true
	}
	h.fbMu.Unlock()
}

func (h *Hub) sendCustom(ctx context.Context, kind string, send func() error) {
	err := send()
	result := "ok"
	if err != nil {
		result = "error"
		if e, ok := wechat.AsError(err); ok {
			h.log.Warn("hub: customer-service message failed", "kind", kind, "errcode", e.Code, "err", wechat.Explain(err))
		} else {
			h.log.Warn("hub: customer-service message failed", "kind", kind, "err", err)
		}
	}
	h.metrics.custom.WithLabelValues(kind, result).Inc()
}

// uploadResult is the outcome of media/upload.
type uploadResult struct {
	mediaID string
	err     error
}

// startUpload uploads the photo for an image reply in the background, until the message
// window closes.
func (h *Hub) startUpload(photoID string, at time.Time) <-chan uploadResult {
	done := make(chan uploadResult, 1)
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), at.Add(messageWindow))
		defer cancel()
		id, err := h.uploadPhoto(ctx, photoID)
		done <- uploadResult{id, err}
	}()
	return done
}

func (h *Hub) uploadPhoto(ctx context.Context, photoID string) (string, error) {
	p, err := h.opts.Store.Photo(ctx, photoID)
	if err != nil {
		return "", err
	}
	data, err := h.blobs.Get(ctx, p.BlobKey())
	if err != nil {
		return "", err
	}
	return h.opts.WeChat.UploadImage(ctx, photoID+".jpg", data)
}

// imageLater sends the image once a slow upload finishes (the reply was the news card).
func (h *Hub) imageLater(openid string, at time.Time, done <-chan uploadResult) {
	go func() {
		r := <-done
		if r.err != nil {
			h.log.Warn("hub: image upload failed; the shopper has the news card", "err", r.err)
			return
		}
		if h.unfollowed(openid) {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), at.Add(messageWindow))
		defer cancel()
		h.sendCustom(ctx, "image", func() error { return h.opts.WeChat.SendImage(ctx, openid, r.mediaID) })
	}()
}

// expiredText is the reply to a scan of a mirror code that expired or whose photo is gone.
const expiredText = "二维码已过期或照片已删除。请轻点试衣镜，获取新的二维码。\n" +
	"This code has expired or the photo is gone. Tap the mirror for a new code."

// hubScene matches the scenes the hub makes (lower-case ULIDs): an unknown scene of this
// shape is a mirror code that expired and was purged, not another QR code of the account.
var hubScene = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{26}$`)

// unfollow handles an unsubscribe push: no customer-service message goes to the openid any
// more, and (OnUnsubscribe delete) the shopper's photos are deleted. A repeated or late
// unsubscribe finds nothing more to do.
func (h *Hub) unfollow(ctx context.Context, openid string) {
	now := time.Now()
	h.fbMu.Lock()
	for k, t := range h.gone {
		if now.Sub(t) > messageWindow {
			delete(h.gone, k)
		}
	}
	h.gone[openid] = now
	h.fbMu.Unlock()
	user := h.userHash(openid)
	if h.opts.OnUnsubscribe != UnsubscribeDelete || h.gallery() == nil {
		h.log.Info("wechat callback: unfollow; the photos stay until their retention", "user", user)
		return
	}
	ps, err := h.gallery().ViewerPhotos(ctx, user)
	if err != nil {
		h.log.Warn("wechat callback: unfollow: photos not deleted", "user", user, "err", err)
		return
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	n, err := h.forgetPhotos(ctx, user, ids)
	if err != nil {
		h.log.Warn("wechat callback: unfollow: photos not all deleted", "user", user, "deleted", n, "err", err)
		return
	}
	h.log.Info("wechat callback: unfollow; the shopper's photos are deleted", "user", user, "photos", n)
}

// unfollowed reports whether openid unfollowed within the message window.
func (h *Hub) unfollowed(openid string) bool {
	h.fbMu.Lock()
	defer h.fbMu.Unlock()
	_, ok := h.gone[openid]
	return ok
}
