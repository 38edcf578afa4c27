package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/internal/httpjson"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// validScene checks a scene_str: 1-64 printable characters without spaces.
func validScene(s string) error {
	if s == "" || len(s) > wechat.MaxSceneLen {
		return fmt.Errorf("scene must be 1-%d characters, got %d", wechat.MaxSceneLen, len(s))
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("scene %q: only printable ASCII without spaces", s)
		}
	}
	return nil
}

// postQRCode is POST /v1/qrcodes: a QR_STR_SCENE ticket bound to one photo of the device.
func (h *Hub) postQRCode(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authDevice(w, r)
	if !ok {
		return
	}
	var req wire.QRRequest
	if !httpjson.Decode(w, r, 4<<10, &req) {
		return
	}
	expire := wire.DefaultQRExpireSeconds
	if req.ExpireSeconds != nil {
		expire = *req.ExpireSeconds
	}
	if expire < wire.MinQRExpireSeconds || expire > wire.MaxQRExpireSeconds {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, fmt.Sprintf("expire_seconds must be between %d and %d, got %d", wire.MinQRExpireSeconds, wire.MaxQRExpireSeconds, expire))
		return
	}
	if req.PhotoID == "" {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, "photo_id is required")
		return
	}
	if req.Scene == "" {
		req.Scene = strings.ToLower(ulid.Make().String())
	} else if err := validScene(req.Scene); err != nil {
		httpjson.Error(w, http.StatusBadRequest, wire.CodeBadRequest, err.Error())
		return
	}
	p, err := h.opts.Store.Photo(r.Context(), req.PhotoID)
	if err != nil || p.DeviceID != d.ID {
		if err != nil && !errors.Is(err, ErrNotFound) {
			httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "photo index unavailable")
			return
		}
		httpjson.Error(w, http.StatusNotFound, wire.CodeNotFound, fmt.Sprintf("photo %s: not uploaded by %s (PUT /v1/photos/%s first)", req.PhotoID, d.ID, req.PhotoID))
		return
	}
	if _, err := h.opts.Store.Scene(r.Context(), req.Scene); err == nil {
		httpjson.Error(w, http.StatusConflict, wire.CodeConflict, fmt.Sprintf("scene %q is already bound", req.Scene))
		return
	}
	start := h.now()
	t, err := h.opts.WeChat.CreateQR(r.Context(), req.Scene, time.Duration(expire)*time.Second)
	if err != nil {
		h.qrFailed(w, err)
		return
	}
	h.metrics.qrs.WithLabelValues("ok").Inc()
	if t.ExpireSeconds > 0 && t.ExpireSeconds < expire {
		expire = t.ExpireSeconds
	}
	sc := Scene{Scene: req.Scene, Ticket: t.Ticket, URL: t.URL, PhotoID: p.ID, DeviceID: d.ID,
		ExpiresAt: start.Add(time.Duration(expire) * time.Second)}
	if err := h.opts.Store.AddScene(r.Context(), sc); err != nil {
		if errors.Is(err, ErrExists) {
			httpjson.Error(w, http.StatusConflict, wire.CodeConflict, fmt.Sprintf("scene %q is already bound", req.Scene))
			return
		}
		h.log.Error("hub: store scene", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeUnavailable, "cannot store the scene")
		return
	}
	httpjson.Write(w, http.StatusCreated, wire.QRCode{Scene: sc.Scene, Ticket: t.Ticket, URL: t.URL, ExpiresAt: wire.Time{Time: sc.ExpiresAt}})
}

// qrFailed maps a WeChat failure: 502 wechat_error with the errcode, 503 when unreachable.
func (h *Hub) qrFailed(w http.ResponseWriter, err error) {
	if e, ok := wechat.AsError(err); ok {
		h.metrics.qrs.WithLabelValues("wechat_error").Inc()
		h.log.Warn("hub: qrcode/create", "errcode", e.Code, "errmsg", e.Msg, "hint", wechat.Hint(e.Code))
		msg := fmt.Sprintf("WeChat errcode %d: %s", e.Code, e.Msg)
		if hint := wechat.Hint(e.Code); hint != "" {
			msg += " — " + hint
		}
		httpjson.Error(w, http.StatusBadGateway, wire.CodeWeChatError, msg)
		return
	}
	h.metrics.qrs.WithLabelValues("unavailable").Inc()
	h.log.Warn("hub: qrcode/create", "err", err)
	httpjson.Error(w, http.StatusServiceUnavailable, wire.CodeWeChatUnavailable, "WeChat is unreachable: "+err.Error())
}
