// Package hubsim is mirror-cloud's sim mode: the fake Official Account platform of
// cloud/wechat/wechattest served in-process, standing in for WeChat. cmd/mirror-cloud wires it
// into the hub (hub.Options.Sim) when wechat.sim is set; the hub itself links neither it nor
// wechattest.
package hubsim

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/httpjson"
)

// Sim is sim mode's WeChat stand-in: the fake Official Account platform of wechattest, served
// in-process. The hub's WeChat client talks to it (Client), POST /sim/scan makes it push a
// signed subscribe/SCAN event to the hub's own callback, and /sim/connect/oauth2/authorize is
// its OAuth page for the photo page.
type Sim struct {
	Fake   *wechattest.Server
	Mode   wechattest.Mode // how pushes are sent: Plain, or Safe when an AES key is set
	public *url.URL        // the hub's public_url
}

var _ hub.Simulator = (*Sim)(nil)

// New returns a simulator for the account. With an EncodingAESKey pushes use safe mode.
func New(appID, secret, token, aesKey string) *Sim {
	f := wechattest.New(appID, secret)
	f.Token = token
	mode := wechattest.Plain
	if aesKey != "" {
		f.AESKey = aesKey
		mode = wechattest.Safe
	}
	return &Sim{Fake: f, Mode: mode}
}

// Client is the HTTP client for a wechat.Client that talks to the simulator.
func (s *Sim) Client() *http.Client {
	return &http.Client{Transport: wechattest.HandlerTransport(s.Fake)}
}

// Attach sends the simulator's pushes to the hub's callback, in-process, and lets it redirect
// under public (hub.New calls it).
func (s *Sim) Attach(callback http.Handler, public *url.URL) {
	s.public = public
	s.Fake.Client = &http.Client{Transport: wechattest.HandlerTransport(callback)}
}

// Authorize is the simulator's OAuth page (GET /sim/connect/oauth2/authorize). Like WeChat,
// which redirects only to the account's configured OAuth domain, it redirects only under
// public_url: never to another site with a code in the URL.
func (s *Sim) Authorize(w http.ResponseWriter, r *http.Request) {
	if !underPublic(s.public, r.URL.Query().Get("redirect_uri")) {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "redirect_uri: not under public_url "+s.public.String())
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/sim")
	s.Fake.ServeHTTP(w, r2)
}

// underPublic reports whether raw is an absolute URL under the hub's public_url (same scheme
// and host, path below its path).
func underPublic(public *url.URL, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != public.Scheme || !strings.EqualFold(u.Host, public.Host) || u.User != nil {
		return false
	}
	p := path.Clean("/" + u.Path)
	return public.Path == "" || p == public.Path || strings.HasPrefix(p, public.Path+"/")
}

type simScan struct {
	Scene      string `json:"scene"`
	QR         string `json:"qr"` // or the QR content (the url on the mirror's screen)
	OpenID     string `json:"openid"`
	Subscribed bool   `json:"subscribed"` // already following: a SCAN event, else subscribe
	// NoFollow: someone who does not follow scans and does not tap Follow on the page WeChat
	// shows: WeChat pushes nothing at all.
	NoFollow bool `json:"no_follow"`
}

// Scan is POST /sim/scan {"scene","openid","subscribed","no_follow"}; instead of scene, "qr"
// may give the QR code's content as the mirror shows it.
func (s *Sim) Scan(w http.ResponseWriter, r *http.Request) {
	var req simScan
	if !httpjson.Decode(w, r, 4<<10, &req) {
		return
	}
	if req.QR != "" && req.Scene == "" {
		t, ok := s.Fake.TicketByURL(req.QR)
		if !ok {
			httpjson.Error(w, http.StatusNotFound, "not_found", fmt.Sprintf("qr %q: no such code issued by the simulator", req.QR))
			return
		}
		req.Scene = t.Scene
	}
	if err := hub.ValidScene(req.Scene); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if req.OpenID == "" || len(req.OpenID) > 128 {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("openid must be 1-128 characters, got %d", len(req.OpenID)))
		return
	}
	ticket := ""
	if t, ok := s.Fake.TicketFor(req.Scene); ok {
		ticket = t.Ticket
	}
	if req.NoFollow && !req.Subscribed {
		s.Fake.ScanWithoutFollowing(ticket, req.OpenID)
		httpjson.Write(w, http.StatusOK, map[string]any{"event": "", "attempts": 0, "pushed": false,
			"note": "a shopper who neither follows nor taps Follow: WeChat pushes nothing, the mirror stays on the QR code"})
		return
	}
	ev := s.Fake.ScanEvent(req.Scene, ticket, req.OpenID, req.Subscribed)
	res, err := s.Fake.Push(r.Context(), s.public.String()+"/wechat/callback", ev, s.Mode)
	if err != nil {
		httpjson.Error(w, http.StatusBadGateway, "push_failed", err.Error())
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"event": ev.Event, "attempts": res.Attempts, "status": res.Status, "reply": string(res.Reply)})
}
