package hub

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/internal/photopage"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// photoPage is GET /p/{photo_id}: the shopper's page. Without a session cookie it sends the
// phone through snsapi_base OAuth; back with a code it learns the openid and serves the photo
// only when that openid scanned the photo's QR code. ?raw=1 is the JPEG itself.
func (h *Hub) photoPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if !wire.ValidPhotoID(id) {
		photopage.Message(w, http.StatusNotFound, "照片不存在", "No such photo.")
		return
	}
	ctx := r.Context()
	// Whether the photo exists is not looked at before the shopper is known: an unknown ID
	// and another shopper's photo get the same answers (OAuth first, then 403), so the page
	// cannot be used to learn which photo IDs exist.
	user, ok := h.identify(w, r, id)
	if !ok {
		return
	}
	allowed, err := h.opts.Store.IsViewer(ctx, id, user)
	if err != nil {
		photopage.Message(w, http.StatusServiceUnavailable, "请稍后再试", "Try again in a moment.")
		return
	}
	if !allowed {
		h.log.Info("photo page: not the shopper who scanned", "photo_id", id)
		photopage.Message(w, http.StatusForbidden, "无权查看", "This photo was sent to someone else.")
		return
	}
	p, err := h.opts.Store.Photo(ctx, id)
	if err != nil {
		photopage.Message(w, http.StatusGone, "照片已删除", "This photo is no longer kept.")
		return
	}
	h.setCookie(w, id, user)
	if r.URL.Query().Get("raw") == "" && r.URL.Query().Get("download") == "" {
		// No download link: WeChat's in-app browser mishandles downloads; a long press on the
		// image offers 保存图片 (save the image).
		const title, hint = "你的照片", "长按照片保存到手机 · Press and hold the photo to save it."
		if n := h.photoCount(ctx, user); n > 1 {
			photopage.PhotoWithMore(w, title, hint, "/p/"+id+"?raw=1", "/me", fmt.Sprintf("我的全部试衣照片 (%d) · All my photos", n))
			return
		}
		photopage.Photo(w, title, hint, "/p/"+id+"?raw=1", "")
		return
	}
	data, err := h.blobs.Get(r.Context(), p.BlobKey())
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			h.log.Error("photo page: read photo", "photo_id", id, "err", err)
			photopage.Message(w, http.StatusServiceUnavailable, "请稍后再试", "Try again in a moment.")
			return
		}
		photopage.Message(w, http.StatusGone, "照片已删除", "This photo is no longer kept.")
		return
	}
	disp := "inline"
	if r.URL.Query().Get("download") != "" {
		disp = "attachment"
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`%s; filename="fitmirror-%s.jpg"`, disp, id))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// identify returns the shopper (the hash of their openid) on the page of scope (a photo ID,
// or galleryScope for /me): from the page's cookie, or else through snsapi_base OAuth, which
// it starts (a redirect) or finishes (the code). When it returns false it has answered.
func (h *Hub) identify(w http.ResponseWriter, r *http.Request, scope string) (string, bool) {
	ctx := r.Context()
	id := scope
	user, ok := h.cookieUser(r, id)
	if !ok {
		code := r.URL.Query().Get("code")
		if code == "" {
			http.Redirect(w, r, h.authorizeURL(r, id, false), http.StatusFound)
			return "", false
		}
		var retried bool
		switch state := r.URL.Query().Get("state"); {
		case hmac.Equal([]byte(state), []byte(h.oauthState(id, false))):
		case hmac.Equal([]byte(state), []byte(h.oauthState(id, true))):
			retried = true
		default:
			h.log.Info("photo page: OAuth state does not match the photo", "photo_id", id)
			photopage.Message(w, http.StatusForbidden, "链接无效", "This link is not valid. Open it again from WeChat.")
			return "", false
		}
		u, err := h.opts.WeChat.OAuthOpenID(ctx, code)
		if err != nil {
			h.log.Info("photo page: OAuth code refused", "photo_id", id, "err", wechat.Explain(err))
			if e, isWeChat := wechat.AsError(err); isWeChat && !retried && staleCode(e.Code) {
				// A used or expired code in a reopened link (the cookie is gone): ask again,
				// once, rather than refuse the shopper.
				http.Redirect(w, r, h.authorizeURL(r, id, true), http.StatusFound)
				return "", false
			}
			if _, isWeChat := wechat.AsError(err); isWeChat {
				photopage.Message(w, http.StatusForbidden, "链接已失效", "This link has expired. Open it again from WeChat.")
			} else {
				photopage.Message(w, http.StatusServiceUnavailable, "请稍后再试", "WeChat is unreachable; try again in a moment.")
			}
			return "", false
		}
		if u.Snapshot {
			photopage.Message(w, http.StatusForbidden, "请在微信中打开", "Open this page in WeChat to see your photo.")
			return "", false
		}
		user = h.userHash(u.OpenID)
	}
	return user, true
}

// staleCode reports whether an OAuth errcode means the code was good once: used (40163),
// invalid (40029) or expired (42003).
func staleCode(code int) bool {
	return code == wechat.CodeCodeUsed || code == wechat.CodeInvalidCode || code == wechat.CodeCodeExpired
}

// oauthState is the state the photo page sends through OAuth for photoID: a MAC of the photo
// ID, 32 hex digits (WeChat allows at most 128 letters and digits; photo IDs may hold - and
// _), so that a code is accepted only on the page that asked for it. The second attempt
// after a stale code has its own state: it is not retried again.
func (h *Hub) oauthState(photoID string, retry bool) string {
	m := hmac.New(sha256.New, h.cookie)
	m.Write([]byte("oauth|" + photoID + "|" + strconv.FormatBool(retry)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// authorizeURL sends the phone to OAuth and back to this page. In sim mode the simulator
// stands in for WeChat and takes the shopper's openid from ?openid=.
func (h *Hub) authorizeURL(r *http.Request, photoID string, retry bool) string {
	back := h.public.String() + scopePath(photoID)
	state := h.oauthState(photoID, retry)
	if h.opts.Sim != nil {
		u := wechat.AuthorizeURL(h.public.String()+"/sim", h.opts.AppID, back, state)
		if o := r.URL.Query().Get("openid"); o != "" {
			base, frag, _ := strings.Cut(u, "#")
			u = base + "&openid=" + url.QueryEscape(o) + "#" + frag
		}
		return u
	}
	return wechat.AuthorizeURL(h.opts.OAuthBase, h.opts.AppID, back, state)
}

// galleryScope is the scope of the gallery (/me) in the OAuth state and the cookie: no photo
// ID holds a NUL, so neither can stand for the other.
const galleryScope = "\x00me"

// scopePath is the page of a scope: /p/{photo_id}, or /me.
func scopePath(scope string) string {
	if scope == galleryScope {
		return "/me"
	}
	return "/p/" + scope
}

func (h *Hub) cookieName(scope string) string {
	if scope == galleryScope {
		return "fm_gallery"
	}
	return "fm_" + scope
}

func (h *Hub) cookieMAC(photoID, user string) string {
	m := hmac.New(sha256.New, h.cookie)
	m.Write([]byte(photoID + "|" + user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Hub) setCookie(w http.ResponseWriter, photoID, user string) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(photoID), Value: user + "." + h.cookieMAC(photoID, user),
		Path: scopePath(photoID), MaxAge: 3600, HttpOnly: true, Secure: h.public.Scheme == "https", SameSite: http.SameSiteLaxMode})
}

func (h *Hub) cookieUser(r *http.Request, photoID string) (string, bool) {
	c, err := r.Cookie(h.cookieName(photoID))
	if err != nil {
		return "", false
	}
	user, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(h.cookieMAC(photoID, user))) {
		return "", false
	}
	return user, true
}
