package hub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/photopage"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// The shopper's gallery, 我的试衣照片 · My fitting photos (docs/hub.md): /me shows every photo
// the shopper may see, grouped by visit, behind the same snsapi_base OAuth as the photo page;
// the shopper can delete one photo or all of them. The page's data is GET /me/photos; the
// deletions are DELETE /me/photos/{id} and DELETE /me/photos with the page's CSRF token in
// X-CSRF-Token. A photo no other shopper may see is deleted at once (record, file,
// thumbnail), and its mirror is told to forget it (the forget-photos command).

// GalleryPhoto is one photo of GET /me/photos.
type GalleryPhoto struct {
	ID       string    `json:"id"`
	TakenAt  time.Time `json:"taken_at"`
	Session  string    `json:"session"`
	Store    string    `json:"store"` // the mirror's store, or the mirror's ID
	DaysLeft int       `json:"days_left"`
	Thumb    string    `json:"thumb"`
	Page     string    `json:"page"`
}

// gallery returns the store's gallery half, or nil when it has none.
func (h *Hub) gallery() hubstore.GalleryStore {
	g, _ := h.opts.Store.(hubstore.GalleryStore)
	return g
}

// galleryCSRF is the token the gallery page carries for user's deletions.
func (h *Hub) galleryCSRF(user string) string {
	m := hmac.New(sha256.New, h.cookie)
	m.Write([]byte("gallery-csrf|" + user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// galleryPhotos lists user's photos for the page and the JSON.
func (h *Hub) galleryPhotos(ctx context.Context, user string) ([]GalleryPhoto, error) {
	ps, err := h.gallery().ViewerPhotos(ctx, user)
	if err != nil {
		return nil, err
	}
	var stores map[string]string
	if cs, ok := h.opts.Store.(hubstore.ConsoleStore); ok {
		stores, _ = cs.MirrorStores(ctx)
	}
	now := h.now()
	out := make([]GalleryPhoto, 0, len(ps))
	for _, p := range ps {
		store := stores[p.DeviceID]
		if store == "" {
			store = p.DeviceID
		}
		left := int(p.CreatedAt.Add(h.opts.Retention).Sub(now).Hours()/24 + 0.999)
		out = append(out, GalleryPhoto{ID: p.ID, TakenAt: p.CreatedAt, Session: p.SessionID, Store: store, DaysLeft: max(left, 0),
			Thumb: h.thumbURL(p.ID), Page: h.public.String() + "/p/" + p.ID})
	}
	return out, nil
}

// photoCount is how many photos user may see (0 when the store keeps no gallery or fails).
func (h *Hub) photoCount(ctx context.Context, user string) int {
	if h.gallery() == nil {
		return 0
	}
	ps, _ := h.gallery().ViewerPhotos(ctx, user)
	return len(ps)
}

// expiredReply is the text reply to a scan of an expired code: with a link to the gallery
// when the shopper has more than one photo (WeChat shows <a href> in a text message as a link).
func (h *Hub) expiredReply(ctx context.Context, openid string) string {
	if n := h.photoCount(ctx, h.userHash(openid)); n > 1 {
		return expiredText + "\n<a href=\"" + h.public.String() + "/me\">我的试衣照片 · My fitting photos (" + strconv.Itoa(n) + ")</a>"
	}
	return expiredText
}

// galleryPage is GET /me.
func (h *Hub) galleryPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if h.gallery() == nil {
		photopage.Message(w, http.StatusNotFound, "暂不可用", "The gallery is not available.")
		return
	}
	user, ok := h.identify(w, r, galleryScope)
	if !ok {
		return
	}
	photos, err := h.galleryPhotos(r.Context(), user)
	if err != nil {
		h.log.Warn("gallery: list", "err", err)
		photopage.Message(w, http.StatusServiceUnavailable, "请稍后再试", "Try again in a moment.")
		return
	}
	h.setCookie(w, galleryScope, user)
	w.Header().Set("Content-Security-Policy", galleryCSP)
	httpguard.SetPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	galleryTmpl.Execute(w, struct {
		CSRF   string
		Visits []visit
	}{h.galleryCSRF(user), visits(photos)})
}

// visit is the photos of one session, for the page.
type visit struct {
	Store, When string
	Photos      []GalleryPhoto
}

// visits groups photos (newest first) by session, in that order.
func visits(ps []GalleryPhoto) []visit {
	var out []visit
	index := map[string]int{}
	for _, p := range ps {
		i, ok := index[p.Session]
		if !ok || p.Session == "" {
			i = len(out)
			index[p.Session] = i
			out = append(out, visit{Store: p.Store, When: p.TakenAt.Local().Format("2006-01-02 15:04")})
		}
		out[i].Photos = append(out[i].Photos, p)
	}
	return out
}

// galleryUser is the shopper of a gallery API request, from the gallery's cookie (the API
// starts no OAuth); it answers 401 when there is none.
func (h *Hub) galleryUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.gallery() == nil {
		httpjson.Error(w, http.StatusNotFound, wire.CodeNotFound, "the gallery is not available")
		return "", false
	}
	user, ok := h.cookieUser(r, galleryScope)
	if !ok {
		httpjson.Error(w, http.StatusUnauthorized, wire.CodeUnauthorized, "open /me in WeChat first")
		return "", false
	}
	if r.Method != http.MethodGet && !hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(h.galleryCSRF(user))) {
		httpjson.Error(w, http.StatusForbidden, wire.CodeForbidden, "missing or wrong X-CSRF-Token")
		return "", false
	}
	return user, true
}

// galleryJSON is GET /me/photos.
func (h *Hub) galleryJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "private, no-store")
	user, ok := h.galleryUser(w, r)
	if !ok {
		return
	}
	photos, err := h.galleryPhotos(r.Context(), user)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "try again in a moment")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"photos": photos})
}

// galleryDelete is DELETE /me/photos/{id} and DELETE /me/photos (every photo).
func (h *Hub) galleryDelete(w http.ResponseWriter, r *http.Request) {
	user, ok := h.galleryUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var ids []string
	if id := r.PathValue("id"); id != "" {
		// Another shopper's photo and an unknown one get the same answer.
		if allowed, err := h.opts.Store.IsViewer(ctx, id, user); err != nil || !allowed || !wire.ValidPhotoID(id) {
			httpjson.Error(w, http.StatusNotFound, wire.CodeNotFound, "no such photo")
			return
		}
		ids = []string{id}
	} else {
		ps, err := h.gallery().ViewerPhotos(ctx, user)
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "try again in a moment")
			return
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
	}
	n, err := h.forgetPhotos(ctx, user, ids)
	if err != nil {
		h.log.Warn("gallery: delete", "user", user, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "try again in a moment")
		return
	}
	h.log.Info("gallery: photos deleted by the shopper", "user", user, "photos", n)
	httpjson.Write(w, http.StatusOK, map[string]int{"deleted": n})
}

// forgetPhotos takes user's right to see each photo back and deletes those nobody else may
// see (record, file, thumbnail), telling their mirrors to forget them. It returns how many
// it took back.
func (h *Hub) forgetPhotos(ctx context.Context, user string, ids []string) (int, error) {
	byDevice := map[string][]string{}
	n := 0
	for _, id := range ids {
		left, err := h.gallery().RemoveViewer(ctx, id, user)
		if err != nil {
			return n, err
		}
		n++
		if left > 0 {
			continue
		}
		p, err := h.opts.Store.Photo(ctx, id)
		if err != nil {
			continue // gone already
		}
		if err := h.deletePhoto(ctx, p); err != nil {
			return n, err
		}
		byDevice[p.DeviceID] = append(byDevice[p.DeviceID], p.ID)
	}
	for dev, ids := range byDevice {
		args, _ := json.Marshal(wire.ForgetPhotosArgs{PhotoIDs: ids})
		req, _ := json.Marshal(wire.CommandRequest{ID: "forget-" + ids[0], Args: args})
		if err := h.opts.Publisher.Publish(ctx, h.prefix+"/"+dev+"/cmd/"+wire.CmdForgetPhotos, req); err != nil {
			// The mirror purges what it holds on its own schedule anyway (it keeps no copy of
			// an uploaded photo once its session ended).
			h.log.Warn("gallery: mirror not told to forget deleted photos", "device", dev, "err", err)
		}
	}
	return n, nil
}

// galleryCSP: the page's own thumbnails, its own script and style; no other origin.
const galleryCSP = "default-src 'none'; img-src 'self'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// galleryScript is GET /me/gallery.js: the deletions, each confirmed.
func (h *Hub) galleryScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=600")
	io.WriteString(w, galleryJS)
}

const galleryJS = `"use strict";
(function () {
  var token = document.querySelector('meta[name="csrf-token"]').content;
  function del(path, question) {
    if (!window.confirm(question)) return;
    fetch(path, {method: "DELETE", headers: {"X-CSRF-Token": token}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); location.reload(); })
      .catch(function () { alert("删除失败，请稍后再试 · Could not delete; try again."); });
  }
  document.querySelectorAll("button[data-photo]").forEach(function (b) {
    b.addEventListener("click", function () { del("/me/photos/" + encodeURIComponent(b.dataset.photo), "删除这张照片？ · Delete this photo?"); });
  });
  var all = document.getElementById("delete-all");
  if (all) all.addEventListener("click", function () { del("/me/photos", "删除你的全部照片？ · Delete all your photos?"); });
})();
`

var galleryTmpl = template.Must(template.New("g").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="csrf-token" content="{{.CSRF}}">
<title>我的试衣照片 · My fitting photos</title>
<style>body{margin:0;background:#111;color:#eee;font:16px/1.5 "PingFang SC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif}
h1{font-size:22px;margin:20px 16px 4px}h2{font-size:15px;color:#aaa;font-weight:normal;margin:20px 16px 8px}
.grid{display:grid;grid-template-columns:repeat(2,1fr);gap:10px;margin:0 16px}
figure{margin:0;background:#1c1c1c;border-radius:8px;overflow:hidden}
figure a img{width:100%;display:block;aspect-ratio:3/4;object-fit:cover}
figcaption{font-size:13px;color:#aaa;padding:6px 8px;display:flex;justify-content:space-between;align-items:center}
button{background:none;border:1px solid #555;color:#ddd;border-radius:14px;padding:2px 10px;font:inherit}
#delete-all{display:block;margin:28px auto;padding:10px 24px;border-color:#a33;color:#f88}
p{margin:0 16px;color:#aaa}</style>
</head><body><h1>我的试衣照片 · My fitting photos</h1>
{{if not .Visits}}<p>还没有照片 · No photos yet. 在试衣镜前拍照并扫码即可收到 · Take a photo at a fitting mirror and scan its code.</p>{{end}}
{{range .Visits}}<h2>{{.Store}} · {{.When}}</h2><div class="grid">
{{range .Photos}}<figure><a href="{{.Page}}"><img src="{{.Thumb}}" alt="试衣照片 · photo"></a>
<figcaption><span>{{.TakenAt.Local.Format "15:04"}} · 还剩 {{.DaysLeft}} 天 · {{.DaysLeft}} days left</span><button data-photo="{{.ID}}">删除 · Delete</button></figcaption></figure>
{{end}}</div>{{end}}
{{if .Visits}}<button id="delete-all">删除全部照片 · Delete all my photos</button>{{end}}
<script src="/me/gallery.js"></script>
</body></html>`))
