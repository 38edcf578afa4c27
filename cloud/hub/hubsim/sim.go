// Package hubsim is mirror-cloud's sim mode: the fake Official Account platform of
// cloud/wechat/wechattest served in-process, standing in for WeChat. cmd/mirror-cloud wires it
// into the hub (hub.Options.Sim) when wechat.sim is set; the hub itself links neither it nor
// wechattest.
package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

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
	keep   *os.File        // where Keep appends the codes issued
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

// Keep makes the simulator's QR codes outlive a restart of the hub, as WeChat's do: the codes
// issued by an earlier run that have not expired are loaded from path (JSON lines), and each
// new one is appended. Without it, a code on a mirror's screen from before a restart would
// be unknown to POST /sim/scan. A line that does not parse is skipped with an error naming it.
func (s *Sim) Keep(path string) error {
	var bad error
	if b, err := os.ReadFile(path); err == nil {
		now := time.Now()
		for i, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var t wechattest.Ticket
			if err := json.Unmarshal(line, &t); err != nil || t.Ticket == "" || t.URL == "" {
				bad = fmt.Errorf("hubsim: %s line %d: not a QR code record; skipped", path, i+1)
				continue
			}
			if t.Expires.After(now) {
				s.Fake.AddTicket(t)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hubsim: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("hubsim: %w", err)
	}
	s.keep = f
	s.Fake.OnTicket = func(t wechattest.Ticket) {
		b, _ := json.Marshal(t)
		s.keep.Write(append(b, '\n')) // best effort: the code works in this run either way
	}
	return bad
}

// Close closes the file Keep appends to.
func (s *Sim) Close() error {
	if s.keep == nil {
		return nil
	}
	return s.keep.Close()
}
