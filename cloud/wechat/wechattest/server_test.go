package wechattest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

type fakeAPI struct {
	t   *testing.T
	url string
}

func (a fakeAPI) post(path string, q url.Values, body any) map[string]any {
	a.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(a.url+path+"?"+q.Encode(), "application/json", bytes.NewReader(b))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func errcode(m map[string]any) int {
	v, _ := m["errcode"].(float64)
	return int(v)
}

func TestFakeEnforcesThePlatformRules(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := wechattest.New("wxapp", "secret")
	f.Now = func() time.Time { return now }
	srv := f.Start()
	defer srv.Close()
	api := fakeAPI{t, srv.URL}
	tokenReq := map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret"}

	tok1 := api.post("/cgi-bin/stable_token", nil, tokenReq)
	tok2 := api.post("/cgi-bin/stable_token", nil, tokenReq)
	if tok1["access_token"] == nil || tok1["access_token"] != tok2["access_token"] || len(tok1["access_token"].(string)) < 100 {
		t.Fatalf("stable tokens %v, %v: want the same long token while valid", tok1, tok2)
	}
	if c := errcode(api.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "x"})); c != 40125 {
		t.Errorf("bad secret: errcode %d, want 40125", c)
	}
	if c := errcode(api.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": "wxother", "secret": "secret"})); c != 40013 {
		t.Errorf("bad appid: errcode %d, want 40013", c)
	}
	tq := url.Values{"access_token": {tok1["access_token"].(string)}}
	qr := func(body any) map[string]any { return api.post("/cgi-bin/qrcode/create", tq, body) }
	scene := func(s string, exp any) map[string]any {
		m := map[string]any{"action_name": "QR_STR_SCENE", "action_info": map[string]any{"scene": map[string]any{"scene_str": s}}}
		if exp != nil {
			m["expire_seconds"] = exp
		}
		return m
	}
	tests := []struct {
		name     string
		body     any
		wantCode int
		wantExp  float64
	}{
		{"ok", scene("S", 300), 0, 300},
		{"default expiry is 30 s", scene("S", nil), 0, 30},
		{"scene of 65", scene(string(bytes.Repeat([]byte("x"), 65)), 300), 40097, 0},
		{"empty scene", scene("", 300), 40097, 0},
		{"expiry over 30 days", scene("S", 2592001), 40097, 0},
		{"unknown action", map[string]any{"action_name": "QR_NOPE"}, 40097, 0},
	}
	for _, tt := range tests {
		out := qr(tt.body)
		if errcode(out) != tt.wantCode || (tt.wantCode == 0 && out["expire_seconds"] != tt.wantExp) {
			t.Errorf("%s: qrcode/create = %v, want errcode %d", tt.name, out, tt.wantCode)
		}
	}
	// showqrcode: the ticket (with + / =) must be URL-encoded; unknown tickets are 404.
	ticket := qr(scene("S", 60))["ticket"].(string)
	if resp, _ := http.Get(srv.URL + "/cgi-bin/showqrcode?ticket=" + url.QueryEscape(ticket)); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpg" {
		t.Errorf("showqrcode(valid) = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := http.Get(srv.URL + "/cgi-bin/showqrcode?ticket=" + ticket); resp.StatusCode != 404 {
		t.Errorf("showqrcode(unencoded ticket with +) = %d, want 404", resp.StatusCode)
	}
	// Expiry: the token stops working after its lifetime (42001), and rotates 5 min early.
	now = now.Add(7200*time.Second - 4*time.Minute)
	if tok3 := api.post("/cgi-bin/stable_token", nil, tokenReq); tok3["access_token"] == tok1["access_token"] {
		t.Error("stable token not rotated within its last 5 minutes")
	}
	now = now.Add(5 * time.Minute)
	if c := errcode(qr(scene("S", 60))); c != 42001 {
		t.Errorf("expired token: errcode %d, want 42001", c)
	}
	f.InvalidateTokens()
	if c := errcode(qr(scene("S", 60))); c != 40001 {
		t.Errorf("invalidated token: errcode %d, want 40001", c)
	}
	// force_refresh: at most once per 30 s.
	force := map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret", "force_refresh": true}
	if c := errcode(api.post("/cgi-bin/stable_token", nil, force)); c != 0 {
		t.Errorf("force_refresh: errcode %d", c)
	}
	if c := errcode(api.post("/cgi-bin/stable_token", nil, force)); c != 45009 {
		t.Errorf("second force_refresh within 30 s: errcode %d, want 45009", c)
	}
}

func TestFakeCustomMessageWindow(t *testing.T) {
	f := wechattest.New("wxapp", "secret")
	srv := f.Start()
	defer srv.Close()
	api := fakeAPI{t, srv.URL}
	tok := api.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret"})["access_token"].(string)
	send := func() int {
		return errcode(api.post("/cgi-bin/message/custom/send", url.Values{"access_token": {tok}},
			map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": "hi"}}))
	}
	if c := send(); c != 45015 {
		t.Errorf("without an event: errcode %d, want 45015", c)
	}
	// An event from o1 (a scan pushed nowhere useful) opens the window for 3 messages.
	f.RetryAfter = time.Millisecond
	f.Client = &http.Client{Transport: wechattest.HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("success")) }))}
	if _, err := f.Push(t.Context(), "http://hub.test/cb", f.ScanEvent("S", "T", "o1", true), wechattest.Plain); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if c := send(); c != 0 {
			t.Errorf("message %d: errcode %d", i+1, c)
		}
	}
	if c := send(); c != 45047 {
		t.Errorf("fourth message: errcode %d, want 45047", c)
	}
	if n := len(f.SentMessages()); n != 3 {
		t.Errorf("sent %d, want 3", n)
	}
}
