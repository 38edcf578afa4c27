package hub_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubsim"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
)

func TestSimScan(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sim := hubsim.New("wxsim", "secret", "simtoken", testAESKey)
	client, _ := wechat.NewClient(wechat.Options{BaseURL: "http://wechat.sim", AppID: "wxsim", Secret: "secret", HTTPClient: sim.Client()})
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "simtoken", AppID: "wxsim", AESKey: testAESKey})
	pub := &recorder{}
	srv := httptest.NewUnstartedServer(nil)
	h, err := hub.New(hub.Options{Store: st, PhotoDir: dir, WeChat: client, Callback: cb, Publisher: pub, AppID: "wxsim",
		PublicURL: "http://" + srv.Listener.Addr().String(), Sim: sim, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h.Handler()
	srv.Start()
	defer srv.Close()
	e := &env{t: t, dir: dir, store: st, srv: srv, pub: pub}
	if e.creds, err = hub.AddDevice(t.Context(), st, "m1", time.Now()); err != nil {
		t.Fatal(err)
	}
	scene, _ := e.upload("P1")
	qrURL := sim.Fake.Tickets()[0].URL

	tests := []struct {
		name, body string
		want       int
		wantEvent  string
		wantBinds  int
	}{
		{"scene too long", `{"scene":"` + strings.Repeat("s", 65) + `","openid":"o1"}`, 400, "", 0},
		{"no openid", `{"scene":"` + scene + `"}`, 400, "", 0},
		{"unknown qr", `{"qr":"http://weixin.qq.com/q/nope","openid":"o1"}`, 404, "", 0},
		{"unknown field", `{"scene":"` + scene + `","openid":"o1","x":1}`, 400, "", 0},
		{"unknown scene: pushed, answered success, no binding", `{"scene":"nosuch","openid":"o1"}`, 200, "subscribe", 0},
		{"by qr content", `{"qr":"` + qrURL + `","openid":"o1"}`, 200, "subscribe", 1},
		{"by scene, following", `{"scene":"` + scene + `","openid":"o2","subscribed":true}`, 200, "SCAN", 2},
		{"not following, Follow not tapped: no event", `{"scene":"` + scene + `","openid":"o3","no_follow":true}`, 200, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/sim/scan", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Event string
				Error struct{ Code, Message string }
			}
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != tt.want || out.Event != tt.wantEvent {
				t.Errorf("POST /sim/scan %s = %d %+v, want %d %s", tt.body, resp.StatusCode, out, tt.want, tt.wantEvent)
			}
			h.Deliver(t.Context())
			if n := len(pub.all()); n != tt.wantBinds {
				t.Errorf("bindings published = %d, want %d", n, tt.wantBinds)
			}
		})
	}
	// The simulator's OAuth page redirects only under public_url (an open redirect would hand
	// an OAuth code to any site).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		redirect string
		ok       bool
	}{
		{srv.URL + "/p/P1", true},
		{srv.URL + "/p/P1?x=1", true},
		{"https://evil.example/steal", false},
		{"http://evil.example" + strings.TrimPrefix(srv.URL, "http://127.0.0.1"), false},
		{"//evil.example/p/P1", false},
		{"http://user@" + strings.TrimPrefix(srv.URL, "http://") + "/p/P1", false},
		{"/p/P1", false},
	} {
		q := url.Values{"appid": {"wxsim"}, "scope": {"snsapi_base"}, "response_type": {"code"}, "state": {"s"}, "redirect_uri": {tt.redirect}}
		resp, err := noFollow.Get(srv.URL + "/sim/connect/oauth2/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if tt.ok != (resp.StatusCode == http.StatusFound) || (!tt.ok && loc != "") || (tt.ok && !strings.HasPrefix(loc, srv.URL+"/")) {
			t.Errorf("sim OAuth to %q = %d Location %q, want redirect %v", tt.redirect, resp.StatusCode, loc, tt.ok)
		}
	}

	// Outside sim mode there is no /sim/scan.
	if resp, _ := http.Post(newEnv(t).srv.URL+"/sim/scan", "application/json", strings.NewReader(`{}`)); resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("/sim/scan without sim mode = %d, want 404", resp.StatusCode)
	}
}

func TestNewChecksOptions(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "t"})
	client, _ := wechat.NewClient(wechat.Options{AppID: "a", Secret: "s"})
	ok := hub.Options{Store: st, PhotoDir: "x", WeChat: client, Callback: cb, Publisher: &recorder{}, PublicURL: "https://hub.example"}
	tests := []struct {
		edit func(*hub.Options)
		want string
	}{
		{func(o *hub.Options) { o.PublicURL = "hub.example" }, "public_url"},
		{func(o *hub.Options) { o.Reply = "video" }, "reply mode"},
		{func(o *hub.Options) { o.Store = nil }, "required"},
	}
	for _, tt := range tests {
		o := ok
		tt.edit(&o)
		if _, err := hub.New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New: err = %v, want one naming %s", err, tt.want)
		}
	}
	if _, err := hub.New(ok); err != nil {
		t.Errorf("New(valid options) = %v", err)
	}
}
