package wechattest_test

import (
	"errors"
	"strings"

	"bytes"
	"encoding/json"
	"github.com/fitmirror/fitmirror/cloud/wechat"
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

func (a fakeAPI) get(path string, q url.Values) map[string]any {
	a.t.Helper()
	resp, err := http.Get(a.url + path + "?" + q.Encode())
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// Tokens as documented: a classic fetch leaves the previous classic token working for 5
// minutes; stable and classic tokens do not affect each other; force_refresh revokes the
// previous stable token at once.
func TestFakeTokens(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := wechattest.New("wxapp", "secret")
	f.Now = func() time.Time { return now }
	srv := f.Start()
	defer srv.Close()
	api := fakeAPI{t, srv.URL}
	classicQ := url.Values{"grant_type": {"client_credential"}, "appid": {"wxapp"}, "secret": {"secret"}}
	stableReq := map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret"}
	works := func(tok any) int {
		s, _ := tok.(string)
		return errcode(api.post("/cgi-bin/qrcode/create", url.Values{"access_token": {s}},
			map[string]any{"expire_seconds": 60, "action_name": "QR_STR_SCENE", "action_info": map[string]any{"scene": map[string]any{"scene_str": "S"}}}))
	}
	stable := api.post("/cgi-bin/stable_token", nil, stableReq)["access_token"]
	c1 := api.get("/cgi-bin/token", classicQ)["access_token"]
	c2 := api.get("/cgi-bin/token", classicQ)["access_token"]
	if c1 == nil || c1 == c2 || c1 == stable {
		t.Fatalf("classic tokens %v, %v (stable %v): want a new one per fetch", c1, c2, stable)
	}
	if works(c1) != 0 || works(c2) != 0 || works(stable) != 0 {
		t.Fatal("the previous classic token, the new one and the stable token must all work right after a fetch")
	}
	now = now.Add(5*time.Minute + time.Second)
	if c := works(c1); c != 40001 && c != 42001 {
		t.Errorf("previous classic token 5 min after the next fetch: errcode %d, want 40001 or 42001", c)
	}
	if works(c2) != 0 || works(stable) != 0 {
		t.Error("the current classic token and the stable token must still work")
	}
	if again := api.post("/cgi-bin/stable_token", nil, stableReq)["access_token"]; again != stable {
		t.Error("a classic fetch changed the stable token")
	}
	force := map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret", "force_refresh": true}
	s2 := api.post("/cgi-bin/stable_token", nil, force)["access_token"]
	if s2 == stable || works(s2) != 0 || works(stable) != 40001 {
		t.Errorf("force_refresh: new token %v works %d, old works %d; want a new token and the old one revoked", s2, works(s2), works(stable))
	}
	if works(c2) != 0 {
		t.Error("force_refresh of the stable token revoked the classic token")
	}
	if c := errcode(api.get("/cgi-bin/token", url.Values{"grant_type": {"x"}, "appid": {"wxapp"}, "secret": {"secret"}})); c != 40002 {
		t.Errorf("classic token with a bad grant_type: errcode %d, want 40002", c)
	}
}

// pushTo sends m to a callback that answers with reply.
func pushTo(t *testing.T, f *wechattest.Server, m wechat.Message, reply func(wechat.Message) []byte) (wechattest.PushResult, error) {
	t.Helper()
	f.RetryAfter = time.Second
	f.Client = &http.Client{Transport: wechattest.HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(reply(m))
	}))}
	return f.Push(t.Context(), "http://hub.test/cb", m, wechattest.Plain)
}

// Passive replies WeChat would not show are rejected: malformed, to someone else, from
// another account, an unknown media_id, a news reply whose ArticleCount lies.
func TestFakeRejectsBadPassiveReplies(t *testing.T) {
	f := wechattest.New("wxapp", "secret")
	srv := f.Start()
	defer srv.Close()
	ev := f.ScanEvent("S", "T", "o_shopper", false)
	good := wechat.NewsReply("o_shopper", f.OpenAccount, 1, wechat.Article{Title: "t", URL: "https://hub.example/p/1", PicURL: "https://hub.example/t/x.jpg"})
	tests := []struct {
		name  string
		reply []byte
		ok    bool
	}{
		{"news", good, true},
		{"text", wechat.TextReply("o_shopper", f.OpenAccount, 1, "你好"), true},
		{"success", []byte("success"), true},
		{"empty", nil, true},
		{"malformed", []byte("<xml><ToUserName>o_shopper"), false},
		{"to another user", wechat.NewsReply("o_other", f.OpenAccount, 1, wechat.Article{Title: "t", URL: "https://hub.example/p/1"}), false},
		{"from another account", wechat.NewsReply("o_shopper", "gh_other", 1, wechat.Article{Title: "t", URL: "https://hub.example/p/1"}), false},
		{"unknown media_id", wechat.ImageReply("o_shopper", f.OpenAccount, 1, "nosuchmedia"), false},
		{"news without url", wechat.NewsReply("o_shopper", f.OpenAccount, 1, wechat.Article{Title: "t"}), false},
		{"news with a bad PicUrl", wechat.NewsReply("o_shopper", f.OpenAccount, 1, wechat.Article{Title: "t", URL: "https://hub.example/p/1", PicURL: "/t/x.jpg"}), false},
		{"ArticleCount lies", bytes.Replace(good, []byte("<ArticleCount>1</ArticleCount>"), []byte("<ArticleCount>2</ArticleCount>"), 1), false},
		{"empty text", wechat.TextReply("o_shopper", f.OpenAccount, 1, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.Replies())
			_, err := pushTo(t, f, ev, func(wechat.Message) []byte { return tt.reply })
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, wechattest.ErrReplyRejected)) {
				t.Errorf("reply %q: err %v, want ok=%v", tt.reply, err, tt.ok)
			}
			if shown := len(f.Replies()) - before; !tt.ok && shown != 0 {
				t.Errorf("a rejected reply reached the shopper")
			}
		})
	}
	if f.Stats().RejectedReplies != 8 {
		t.Errorf("RejectedReplies = %d, want 8", f.Stats().RejectedReplies)
	}
}

// OAuth links must keep WeChat's parameter order, the #wechat_redirect fragment, a state of
// letters and digits (at most 128) and the account's OAuth domain; a used code answers 40163.
func TestFakeOAuthRules(t *testing.T) {
	f := wechattest.New("wxapp", "secret")
	f.OAuthDomain = "hub.example"
	srv := f.Start()
	defer srv.Close()
	good := wechat.AuthorizeURL(srv.URL, "wxapp", "https://hub.example/p/P1", "abc123")
	if err := f.CheckAuthorizeURL(good); err != nil {
		t.Fatalf("wechat.AuthorizeURL: %v", err)
	}
	base := srv.URL + "/connect/oauth2/authorize?"
	bad := map[string]string{
		"no fragment":     strings.TrimSuffix(good, "#wechat_redirect"),
		"parameter order": base + "redirect_uri=https%3A%2F%2Fhub.example%2Fp%2FP1&appid=wxapp&response_type=code&scope=snsapi_base&state=a#wechat_redirect",
		"state with _":    wechat.AuthorizeURL(srv.URL, "wxapp", "https://hub.example/p/P1", "01jd_x"),
		"state of 129":    wechat.AuthorizeURL(srv.URL, "wxapp", "https://hub.example/p/P1", strings.Repeat("a", 129)),
		"other domain":    wechat.AuthorizeURL(srv.URL, "wxapp", "https://evil.example/p/P1", "a"),
		"other appid":     wechat.AuthorizeURL(srv.URL, "wxother", "https://hub.example/p/P1", "a"),
		"no state":        base + "appid=wxapp&redirect_uri=https%3A%2F%2Fhub.example%2Fp%2FP1&response_type=code&scope=snsapi_base#wechat_redirect",
	}
	for name, u := range bad {
		if err := f.CheckAuthorizeURL(u); err == nil {
			t.Errorf("%s: %s accepted", name, u)
		}
		// What the phone sends (no fragment) is refused too, except for the fragment itself.
		if name == "no fragment" {
			continue
		}
		resp, err := http.Get(strings.TrimSuffix(u, "#wechat_redirect"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: the OAuth page answered %d, want 400", name, resp.StatusCode)
		}
	}
	api := fakeAPI{t, srv.URL}
	code := f.AuthorizeCode("o1")
	q := url.Values{"appid": {"wxapp"}, "secret": {"secret"}, "code": {code}, "grant_type": {"authorization_code"}}
	if out := api.get("/sns/oauth2/access_token", q); out["openid"] != "o1" {
		t.Fatalf("first exchange = %v", out)
	}
	if c := errcode(api.get("/sns/oauth2/access_token", q)); c != 40163 {
		t.Errorf("reused code: errcode %d, want 40163", c)
	}
	q.Set("code", "nosuchcode")
	if c := errcode(api.get("/sns/oauth2/access_token", q)); c != 40029 {
		t.Errorf("unknown code: errcode %d, want 40029", c)
	}
}

// Customer-service messages: a scan opens 3 messages for a minute, a message from the user 5
// for 48 hours; a scan without following opens nothing (WeChat pushes no event); the message
// must be valid (known media_id, one article).
func TestFakeCustomMessageRules(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := wechattest.New("wxapp", "secret")
	f.Now = func() time.Time { return now }
	srv := f.Start()
	defer srv.Close()
	api := fakeAPI{t, srv.URL}
	tok := api.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret"})["access_token"].(string)
	send := func(to string, msg map[string]any) int {
		msg["touser"] = to
		return errcode(api.post("/cgi-bin/message/custom/send", url.Values{"access_token": {tok}}, msg))
	}
	text := func() map[string]any {
		return map[string]any{"msgtype": "text", "text": map[string]string{"content": "hi"}}
	}
	// A scan by someone who does not follow and does not tap Follow: no event, no window.
	tq := url.Values{"access_token": {tok}}
	ticket := api.post("/cgi-bin/qrcode/create", tq, map[string]any{"expire_seconds": 60, "action_name": "QR_STR_SCENE",
		"action_info": map[string]any{"scene": map[string]any{"scene_str": "S"}}})["ticket"].(string)
	pushes := f.Stats().Pushes
	if !f.ScanWithoutFollowing(ticket, "o_lurker") || f.Stats().Pushes != pushes {
		t.Error("a scan without following pushed an event")
	}
	if c := send("o_lurker", text()); c != 45015 {
		t.Errorf("after a scan without following: errcode %d, want 45015", c)
	}
	if _, err := pushTo(t, f, f.ScanEvent("S", ticket, "o1", true), func(wechat.Message) []byte { return []byte("success") }); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		msg  map[string]any
		want int
	}{
		{"unknown media_id", map[string]any{"msgtype": "image", "image": map[string]string{"media_id": "nope"}}, 40007},
		{"two articles", map[string]any{"msgtype": "news", "news": map[string]any{"articles": []map[string]string{{"title": "a", "url": "https://x.example"}, {"title": "b", "url": "https://x.example"}}}}, 45008},
		{"unknown type", map[string]any{"msgtype": "telegram"}, 40008},
		{"empty text", map[string]any{"msgtype": "text", "text": map[string]string{"content": ""}}, 44004},
	}
	for _, c := range checks {
		if got := send("o1", c.msg); got != c.want {
			t.Errorf("%s: errcode %d, want %d", c.name, got, c.want)
		}
	}
	for i := range 3 {
		if c := send("o1", text()); c != 0 {
			t.Errorf("message %d after a scan: errcode %d", i+1, c)
		}
	}
	if c := send("o1", text()); c != 45047 {
		t.Errorf("fourth message after a scan: errcode %d, want 45047", c)
	}
	if _, err := pushTo(t, f, f.ScanEvent("S", ticket, "o2", true), func(wechat.Message) []byte { return []byte("success") }); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute + time.Second)
	if c := send("o2", text()); c != 45015 {
		t.Errorf("61 s after a scan: errcode %d, want 45015", c)
	}
	// A message from the user: 5 within 48 hours.
	msg := wechat.Message{ToUserName: f.OpenAccount, FromUserName: "o3", CreateTime: now.Unix(), MsgType: "text", Content: "在吗"}
	if _, err := pushTo(t, f, msg, func(wechat.Message) []byte { return []byte("success") }); err != nil {
		t.Fatal(err)
	}
	now = now.Add(47 * time.Hour)
	tok = api.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": "wxapp", "secret": "secret"})["access_token"].(string)
	for i := range 5 {
		if c := send("o3", text()); c != 0 {
			t.Errorf("message %d within 48 h of the user's message: errcode %d", i+1, c)
		}
	}
	if c := send("o3", text()); c != 45047 {
		t.Errorf("sixth message: errcode %d, want 45047", c)
	}
}
