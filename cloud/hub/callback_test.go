package hub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

func decodeBinding(t *testing.T, p published) wire.Binding {
	t.Helper()
	var b wire.Binding
	dec := json.NewDecoder(bytes.NewReader(p.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("binding %s: %v", p.Payload, err)
	}
	return b
}

func TestScanPublishesBindingAndRepliesNews(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    wechattest.Mode
	}{{"plain", wechattest.Plain}, {"safe", wechattest.Safe}, {"compat", wechattest.Compat}} {
		t.Run(mode.name, func(t *testing.T) {
			var e *env
			if mode.m == wechattest.Plain {
				e = newEnv(t, plainMode)
			} else {
				e = newEnv(t)
			}
			scene, ticket := e.upload("P1")
			before := time.Now().UTC().Truncate(time.Millisecond)
			res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_alice", false, mode.m)
			if err != nil || res.Status != 200 || res.Attempts != 1 {
				t.Fatalf("Scan = %+v, %v", res, err)
			}
			e.hub.Deliver(t.Context())
			msgs := e.pub.all()
			if len(msgs) != 1 || msgs[0].Topic != "mirror/m1/binding" {
				t.Fatalf("published %+v, want one message on mirror/m1/binding", msgs)
			}
			b := decodeBinding(t, msgs[0])
			var raw struct{ At string }
			json.Unmarshal(msgs[0].Payload, &raw)
			at, err := time.Parse("2006-01-02T15:04:05.000Z", raw.At)
			if err != nil || at.Before(before.Truncate(time.Millisecond)) {
				t.Errorf("binding at %q: not RFC 3339 ms UTC after %v (%v)", raw.At, before, err)
			}
			if !ulidRE.MatchString(b.BindingID) || b.User == "" || strings.Contains(b.User, "alice") {
				t.Errorf("binding %+v: want a ULID and a salted user hash", b)
			}
			want := wire.Binding{BindingID: b.BindingID, PhotoID: "P1", Scene: scene, Event: "subscribe", User: b.User, At: b.At}
			if diff := cmp.Diff(want, b); diff != "" {
				t.Errorf("binding (-want +got):\n%s", diff)
			}
			m, err := wechat.ParseMessage(res.Reply)
			if err != nil || m.MsgType != "news" || m.ToUserName != "o_alice" || !bytes.Contains(res.Reply, []byte(e.opts.PublicURL+"/p/P1")) {
				t.Errorf("reply = %s (%v), want a news article to o_alice linking to the photo page", res.Reply, err)
			}
			// The same shopper, now following, scans again: a SCAN event, a second binding.
			e.fake.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
			if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_alice", true, mode.m); err != nil {
				t.Fatal(err)
			}
			e.hub.Deliver(t.Context())
			msgs = e.pub.all()
			if len(msgs) != 2 {
				t.Fatalf("published %d messages after a SCAN, want 2", len(msgs))
			}
			if b2 := decodeBinding(t, msgs[1]); b2.Event != "SCAN" || b2.User != b.User || b2.BindingID == b.BindingID {
				t.Errorf("SCAN binding = %+v, want event SCAN, the same user hash and a new binding id", b2)
			}
		})
	}
}

// The same event delivered three times (WeChat's retries) yields one binding and the same
// reply each time.
func TestSameEventThreeTimes(t *testing.T) {
	e := newEnv(t)
	_, ticket := e.upload("P1")
	ev := e.fake.ScanEvent(mustScene(t, e, ticket), ticket, "o_bob", false)
	var replies [][]byte
	for range 3 {
		res, err := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe)
		if err != nil || res.Status != 200 {
			t.Fatalf("Push = %+v, %v", res, err)
		}
		replies = append(replies, res.Reply)
	}
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 1 {
		t.Errorf("published %d bindings for one event delivered three times, want 1", n)
	}
	for i := 1; i < 3; i++ {
		if !bytes.Equal(replies[i], replies[0]) {
			t.Errorf("reply %d = %s, want the first reply %s", i+1, replies[i], replies[0])
		}
	}
	if got := metric(t, e, `mirror_cloud_callbacks_total{result="duplicate"}`); got != "2" {
		t.Errorf("duplicate callbacks metric = %q, want 2", got)
	}
}

func mustScene(t *testing.T, e *env, ticket string) string {
	sc, err := e.store.SceneByTicket(t.Context(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	return sc.Scene
}

func metric(t *testing.T, e *env, name string) string {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// A hub restart between the first delivery and WeChat's retry still yields one binding: here
// the first try was recorded but its publish failed (the broker was down) and the hub was
// restarted; the binding recorded the first time is published after the restart, once, and
// the retries get the first reply.
func TestRestartBetweenDeliveryAndRetry(t *testing.T) {
	e := newEnv(t)
	_, ticket := e.upload("P1")
	ev := e.fake.ScanEvent(mustScene(t, e, ticket), ticket, "o_carol", false)
	e.pub.setFail(errBrokerDown)
	first, err := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Deliver(t.Context())
	e.restart()
	e.pub.setFail(nil)
	e.hub.Deliver(t.Context()) // not due yet: the failed publish backs off
	retry, err := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe)
	if err != nil {
		t.Fatal(err)
	}
	e.restart(func(o *hub.Options) { o.Now = func() time.Time { return time.Now().Add(time.Minute) } })
	e.hub.Deliver(t.Context())
	again, _ := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe)
	e.hub.Deliver(t.Context())
	msgs := e.pub.all()
	if len(msgs) != 1 {
		t.Fatalf("published %d bindings across two restarts, want 1", len(msgs))
	}
	if !bytes.Equal(first.Reply, retry.Reply) || !bytes.Equal(retry.Reply, again.Reply) {
		t.Errorf("replies differ across restarts:\n%s\n%s\n%s", first.Reply, retry.Reply, again.Reply)
	}
}

// A binding is published again until the mirror acknowledges it, with growing gaps; a
// failed publish is retried sooner. The acknowledgement is the device's own: another device
// cannot acknowledge it.
func TestDeliveryUntilAcknowledged(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := newEnv(t, func(o *hub.Options) { o.Now = clock })
	e.fake.Now = clock
	_, ticket := e.upload("P1")
	e.pub.setFail(errBrokerDown)
	if _, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_dan", false, wechattest.Safe); err != nil {
		t.Fatal(err)
	}
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 0 {
		t.Fatalf("published %d while the broker was down", n)
	}
	e.pub.setFail(nil)
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 0 {
		t.Fatalf("published %d before the failed publish's backoff", n)
	}
	advance(2 * time.Second)
	e.hub.Deliver(t.Context())
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 1 {
		t.Fatalf("published %d after the backoff, want 1", n)
	}
	advance(10 * time.Second)
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 1 {
		t.Fatalf("published %d 10 s later, want still 1", n)
	}
	advance(20 * time.Second)
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 2 {
		t.Fatalf("published %d 30 s later without an acknowledgement, want 2", n)
	}
	b := decodeBinding(t, e.pub.all()[0])

	// What the mirror missed, by HTTP; then its acknowledgement.
	status, body := e.do("GET", "/v1/bindings", "", nil, e.creds.Token)
	if status != 200 || !strings.Contains(string(body), b.BindingID) {
		t.Fatalf("GET /v1/bindings = %d %s, want the pending binding", status, body)
	}
	other, err := hub.AddDevice(t.Context(), e.store, "m2", now)
	if err != nil {
		t.Fatal(err)
	}
	ack := []byte(`{"binding_ids":["` + b.BindingID + `"]}`)
	if status, body := e.do("POST", "/v1/bindings/ack", "application/json", ack, other.Token); status != 200 || string(body) != `{"acked":0}`+"\n" {
		t.Errorf("another device's ack = %d %s, want 200 {\"acked\":0}", status, body)
	}
	if status, body := e.do("POST", "/v1/bindings/ack", "application/json", ack, e.creds.Token); status != 200 || string(body) != `{"acked":1}`+"\n" {
		t.Errorf("ack = %d %s, want 200 {\"acked\":1}", status, body)
	}
	if status, body := e.do("POST", "/v1/bindings/ack", "application/json", ack, e.creds.Token); status != 200 || string(body) != `{"acked":0}`+"\n" {
		t.Errorf("repeated ack = %d %s, want 200 {\"acked\":0}", status, body)
	}
	for _, bad := range []string{`{}`, `{"binding_ids":[]}`, `{"binding_ids":"x"}`, `{"ids":["x"]}`} {
		if status, _ := e.do("POST", "/v1/bindings/ack", "application/json", []byte(bad), e.creds.Token); status != 400 {
			t.Errorf("ack %s = %d, want 400", bad, status)
		}
	}
	if status, _ := e.do("POST", "/v1/bindings/ack", "application/json", ack, "nope"); status != 401 {
		t.Errorf("ack without a valid token = %d, want 401", status)
	}
	advance(time.Hour)
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 2 {
		t.Errorf("published %d after the acknowledgement, want still 2", n)
	}
	if status, body := e.do("GET", "/v1/bindings", "", nil, e.creds.Token); status != 200 || string(body) != `{"bindings":[]}`+"\n" {
		t.Errorf("GET /v1/bindings after the ack = %d %s, want none", status, body)
	}
}

func TestCallbackRefusesBadInput(t *testing.T) {
	e := newEnv(t, plainMode) // plain pushes
	se := newEnv(t)           // safe mode
	scene, ticket := e.upload("P1")
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	ev := wechat.EventXML(e.fake.ScanEvent(scene, ticket, "o_eve", false))
	nonce := 100
	signed := func(token string) url.Values {
		nonce++ // each push its own URL: a plain-mode hub refuses a URL again with another body
		n := strconv.Itoa(nonce)
		return url.Values{"timestamp": {ts}, "nonce": {n}, "signature": {wechat.Signature(token, ts, n)}}
	}
	safe := func(appID string, msg []byte) (url.Values, []byte) {
		ci, _ := wechat.NewCipher(appID, testAESKey, "")
		body, enc, _ := wechat.EncryptedPush(ci, "gh", msg)
		return url.Values{"timestamp": {ts}, "nonce": {"2"}, "encrypt_type": {"aes"}, "msg_signature": {wechat.Signature("cbtoken", ts, "2", enc)}}, body
	}
	wrongQ, wrongBody := safe("wxother", ev)
	long := strings.Repeat("x", 65)
	longEv := wechat.EventXML(wechat.Message{ToUserName: "gh", FromUserName: "o_eve", CreateTime: now.Unix(), MsgType: "event", Event: "SCAN", EventKey: long, Ticket: ticket})
	e.upload("P2")
	e.store.AddScene(t.Context(), hub.Scene{Scene: "old", Ticket: "TOLD", PhotoID: "P2", DeviceID: "m1", ExpiresAt: now.Add(-time.Minute)})
	oldEv := wechat.EventXML(wechat.Message{ToUserName: "gh", FromUserName: "o_eve", CreateTime: now.Unix(), MsgType: "event", Event: "SCAN", EventKey: "old"})
	follow := wechat.EventXML(wechat.Message{ToUserName: "gh", FromUserName: "o_eve", CreateTime: now.Unix(), MsgType: "event", Event: "subscribe"})
	unknown := wechat.EventXML(wechat.Message{ToUserName: "gh", FromUserName: "o_eve", CreateTime: now.Unix(), MsgType: "event", Event: "SCAN", EventKey: "nosuchscene"})
	stale := url.Values{"timestamp": {"1000000000"}, "nonce": {"1"}, "signature": {wechat.Signature("cbtoken", "1000000000", "1")}}
	tests := []struct {
		name     string
		q        url.Values
		body     []byte
		want     int
		wantBody string
		safeHub  bool
	}{
		{"tampered signature", url.Values{"timestamp": {ts}, "nonce": {"1"}, "signature": {wechat.Signature("cbtoken", ts, "9")}}, ev, 401, "", false},
		{"wrong token", signed("other"), ev, 401, "", false},
		{"stale timestamp", stale, ev, 401, "", false},
		{"oversized body", signed("cbtoken"), append(ev, bytes.Repeat([]byte(" "), 70<<10)...), 413, "", false},
		{"malformed XML", signed("cbtoken"), []byte("<xml><Event>SCAN</Event>"), 400, "", false},
		{"not xml root", signed("cbtoken"), []byte("<html></html>"), 400, "", false},
		{"wrong appid in ciphertext", wrongQ, wrongBody, 400, "", true},
		{"scene over 64 chars", signed("cbtoken"), longEv, 200, "success", false},
		{"expired scene: a text reply", signed("cbtoken"), oldEv, 200, "轻点试衣镜", false},
		{"unknown scene", signed("cbtoken"), unknown, 200, "success", false},
		{"plain follow", signed("cbtoken"), follow, 200, "success", false},
		{"unsealed push to a safe-mode hub", signed("cbtoken"), ev, 401, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := e
			if tt.safeHub {
				target = se
			}
			resp, err := http.Post(target.callbackURL()+"?"+tt.q.Encode(), "text/xml", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("POST callback = %d %q, want %d %q", resp.StatusCode, b, tt.want, tt.wantBody)
			}
			if tt.want >= 400 && strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
				t.Errorf("error body %q is not one line", b)
			}
		})
	}
	e.hub.Deliver(t.Context())
	se.hub.Deliver(t.Context())
	if msgs := append(e.pub.all(), se.pub.all()...); len(msgs) != 0 {
		t.Errorf("bad input published %d bindings: %s", len(msgs), msgs[0].Payload)
	}
	if ok, _ := e.store.IsViewer(t.Context(), "P1", "x"); ok {
		t.Error("viewer stored")
	}
	if n, _ := e.store.PendingBindings(t.Context(), "", time.Now().Add(time.Hour), 10); len(n) != 0 {
		t.Errorf("bad input recorded %d events", len(n))
	}
}

func TestHandshake(t *testing.T) {
	e := newEnv(t)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"1514711492"}, "echostr": {"hello+/="}}
	q.Set("signature", wechat.Signature("cbtoken", ts, "1514711492"))
	resp, _ := http.Get(e.callbackURL() + "?" + q.Encode())
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "hello+/=" {
		t.Errorf("handshake = %d %q, want the echostr", resp.StatusCode, b)
	}
	q.Set("signature", strings.Repeat("a", 40))
	resp, _ = http.Get(e.callbackURL() + "?" + q.Encode())
	if resp.StatusCode != 401 {
		t.Errorf("handshake with a bad signature = %d, want 401", resp.StatusCode)
	}
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	q.Set("timestamp", old)
	q.Set("signature", wechat.Signature("cbtoken", old, "1514711492"))
	resp, _ = http.Get(e.callbackURL() + "?" + q.Encode())
	if resp.StatusCode != 401 {
		t.Errorf("handshake 10 minutes old = %d, want 401", resp.StatusCode)
	}
}

// plainMode makes the hub's callback plain (no EncodingAESKey).
func plainMode(o *hub.Options) {
	cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: "cbtoken"})
	if err != nil {
		panic(err)
	}
	o.Callback = cb
}

// A hub with an EncodingAESKey refuses unsealed pushes; a plain-mode hub refuses a push URL
// (timestamp, nonce, signature) used again with another body. Neither binds anything.
func TestSignaturesBindTheBody(t *testing.T) {
	post := func(e *env, q url.Values, body []byte) (int, string) {
		resp, err := http.Post(e.callbackURL()+"?"+q.Encode(), "text/xml", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"31337"}, "signature": {wechat.Signature("cbtoken", ts, "31337")}}

	safe := newEnv(t)
	scene, ticket := safe.upload("P1")
	ev := wechat.EventXML(safe.fake.ScanEvent(scene, ticket, "o_mallory", false))
	if st, b := post(safe, q, ev); st != 401 {
		t.Errorf("unsealed push to a safe-mode hub = %d %q, want 401", st, b)
	}
	safe.hub.Deliver(t.Context())
	if n := len(safe.pub.all()); n != 0 {
		t.Errorf("the unsealed push bound %d", n)
	}

	plain := newEnv(t, plainMode)
	scene, ticket = plain.upload("P1")
	scene2, ticket2 := plain.upload("P2")
	alice := wechat.EventXML(plain.fake.ScanEvent(scene, ticket, "o_alice", false))
	if st, b := post(plain, q, alice); st != 200 || !strings.Contains(b, "/p/P1") {
		t.Fatalf("plain push = %d %q, want the reply", st, b)
	}
	if st, b := post(plain, q, alice); st != 200 || !strings.Contains(b, "/p/P1") {
		t.Errorf("the same push again = %d %q, want the same reply", st, b)
	}
	mallory := wechat.EventXML(plain.fake.ScanEvent(scene2, ticket2, "o_mallory", false))
	if st, b := post(plain, q, mallory); st != 401 {
		t.Errorf("the push URL with another body = %d %q, want 401", st, b)
	}
	plain.hub.Deliver(t.Context())
	if msgs := plain.pub.all(); len(msgs) != 1 || decodeBinding(t, msgs[0]).PhotoID != "P1" {
		t.Errorf("bindings %v, want only alice's", msgs)
	}
	if st, _, _ := newPhone(t, plain, "o_mallory").get(plain.srv.URL + "/p/P2"); st != 403 {
		t.Errorf("mallory's view of P2 = %d, want 403", st)
	}
}

func TestImageReply(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.Reply = hub.ReplyImage })
	_, ticket := e.upload("P1")
	res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_fay", false, wechattest.Safe)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MsgType string
		MediaID string `xml:"Image>MediaId"`
	}
	if err := xmlUnmarshal(res.Reply, &m); err != nil || m.MsgType != "image" {
		t.Fatalf("reply = %s (%v), want an image", res.Reply, err)
	}
	if got, ok := e.fake.Media(m.MediaID); !ok || !bytes.Equal(got, face(t)) {
		t.Errorf("media %s is not the photo", m.MediaID)
	}
}
