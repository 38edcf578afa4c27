package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

type newsReply struct {
	MsgType string
	Items   []struct {
		Title, Url, PicUrl string
	} `xml:"Articles>item"`
}

// With reply: image and a media/upload that takes 6 s, the push is still answered within
// 4.5 s (the news card), and the photo itself reaches the shopper as a customer-service
// message within 60 s.
func TestSlowImageUploadFallsBackToCustomMessage(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.Reply = hub.ReplyImage })
	_, ticket := e.upload("P1")
	e.fake.Delay("media/upload", 6*time.Second)
	start := time.Now()
	res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_slow", false, wechattest.Safe)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var m newsReply
	if err := xmlUnmarshal(res.Reply, &m); err != nil || m.MsgType != "news" || res.Attempts != 1 || took > 4500*time.Millisecond {
		t.Fatalf("push with a 6 s upload: %d tries, %v, reply %s (%v); want the news card within 4.5 s", res.Attempts, took, res.Reply, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got *wechattest.Sent
		for _, s := range e.fake.SentMessages() {
			if s.ToUser == "o_slow" && s.MsgType == "image" {
				got = &s
			}
		}
		if got != nil {
			var body struct {
				Image struct {
					MediaID string `json:"media_id"`
				} `json:"image"`
			}
			json.Unmarshal(got.Body, &body)
			if b, ok := e.fake.Media(body.Image.MediaID); !ok || !bytes.Equal(b, face(t)) {
				t.Errorf("the customer-service image %q is not the photo", body.Image.MediaID)
			}
			t.Logf("photo reached the shopper %v after the scan", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the photo did not reach the shopper within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(e.fake.SentMessages()); n != 1 {
		t.Errorf("%d customer-service messages, want 1 (the image)", n)
	}
}

// slowStore takes 16 s over recording an event: every one of WeChat's three tries times out.
type slowStore struct {
	*sqlite.Store
	once sync.Once
}

func (s *slowStore) RecordEvent(ctx context.Context, e hub.Event) (hub.Event, bool, error) {
	s.once.Do(func() { time.Sleep(16 * time.Second) })
	return s.Store.RecordEvent(ctx, e)
}

// A push none of whose tries was answered in time still gets the photo to the shopper: the
// news card as a customer-service message once WeChat's tries are over. A push answered in
// time sends none.
func TestMissedWindowSendsCustomMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "hub.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		fake := wechattest.New("wxhub", "s3cret")
		fake.Token, fake.AESKey = "cbtoken", testAESKey
		client, _ := wechat.NewClient(wechat.Options{BaseURL: "http://api.test", AppID: "wxhub", Secret: "s3cret",
			HTTPClient: &http.Client{Transport: wechattest.HandlerTransport(fake)}})
		cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: "cbtoken", AppID: "wxhub", AESKey: testAESKey})
		h, err := hub.New(hub.Options{Store: &slowStore{Store: st}, PhotoDir: t.TempDir(), WeChat: client, Callback: cb, Publisher: &recorder{},
			AppID: "wxhub", PublicURL: "https://hub.test", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"S1", "S2"} {
			if err := st.AddScene(t.Context(), hub.Scene{Scene: s, Ticket: "T" + s, PhotoID: "P1", DeviceID: "m1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		fake.Client = &http.Client{Transport: wechattest.HandlerTransport(h.Handler())}
		res, err := fake.Push(t.Context(), "https://hub.test/wechat/callback", fake.ScanEvent("S1", "TS1", "o_late", false), wechattest.Safe)
		if err == nil || res.Attempts != 3 {
			t.Fatalf("push = %+v, %v; want three tries without an answer", res, err)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		sent := fake.SentMessages()
		if len(sent) != 1 || sent[0].ToUser != "o_late" || sent[0].MsgType != "news" || !strings.Contains(string(sent[0].Body), "https://hub.test/p/P1") {
			t.Fatalf("customer-service messages %+v, want the news card to o_late", sent)
		}
		// Answered in time: no customer-service message.
		if _, err := fake.Push(t.Context(), "https://hub.test/wechat/callback", fake.ScanEvent("S2", "TS2", "o_quick", true), wechattest.Safe); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(fake.SentMessages()); n != 1 {
			t.Errorf("%d customer-service messages after a push answered in time, want still 1", n)
		}
	})
}

// The news card's PicUrl is a thumbnail under public_url: a small JPEG, unguessable (a
// tampered token is 404) and short-lived (404 after 30 minutes, and once the photo is purged).
func TestNewsCardThumbnail(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newEnv(t, func(o *hub.Options) { o.Now = clk.Now })
	e.fake.Now = clk.Now
	_, ticket := e.upload("P1")
	res, err := e.fake.Scan(t.Context(), e.callbackURL(), ticket, "o_thumb", false, wechattest.Safe)
	if err != nil {
		t.Fatal(err)
	}
	var m newsReply
	if err := xmlUnmarshal(res.Reply, &m); err != nil || len(m.Items) != 1 {
		t.Fatalf("reply %s: %v", res.Reply, err)
	}
	pic := m.Items[0].PicUrl
	if !strings.HasPrefix(pic, e.opts.PublicURL+"/t/") || strings.Contains(pic, "/p/") {
		t.Fatalf("PicUrl %q, want a thumbnail URL under public_url", pic)
	}
	get := func(u string) (int, string, []byte) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	st, ct, b := get(pic)
	if st != 200 || ct != "image/jpeg" || len(b) > 2<<20 {
		t.Fatalf("GET PicUrl = %d %s, %d bytes; want a JPEG of at most 2 MB", st, ct, len(b))
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := jpeg.Decode(bytes.NewReader(face(t)))
	r, f := img.Bounds(), full.Bounds()
	if ratio := float64(r.Dx()*f.Dy()) / float64(r.Dy()*f.Dx()); max(r.Dx(), r.Dy()) > 480 || ratio < 0.98 || ratio > 1.02 {
		t.Errorf("thumbnail %v of a %v photo: want the longer side at most 480 and the same shape", r, f)
	}
	if st, _, _ := get(pic); st != 200 {
		t.Errorf("second GET (cached) = %d", st)
	}
	i := strings.LastIndex(pic, ".jpg")
	flip := "A"
	if pic[i-1] == 'A' {
		flip = "B"
	}
	tampered := pic[:i-1] + flip + ".jpg"
	for _, u := range []string{tampered, strings.Replace(pic, "/t/P1.", "/t/P2.", 1), e.opts.PublicURL + "/t/P1.jpg"} {
		if st, _, _ := get(u); st != 404 {
			t.Errorf("GET %s = %d, want 404", u, st)
		}
	}
	clk.Advance(31 * time.Minute)
	if st, _, _ := get(pic); st != 404 {
		t.Errorf("GET PicUrl after 31 minutes = %d, want 404", st)
	}
}

// A shopper who scans a mirror code that expired, or whose photo was purged, gets a short
// text saying what to do (zh-CN first), no binding.
func TestExpiredCodeGetsTextReply(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := newEnv(t, func(o *hub.Options) { o.Now = clk.Now })
	scene, ticket := e.upload("P1")
	clk.Advance(6 * time.Minute) // the code was for 5 minutes
	ev := e.fake.ScanEvent(scene, ticket, "o_late", false)
	for _, step := range []string{"expired", "purged"} {
		res, err := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		m, err := wechat.ParseMessage(res.Reply)
		if err != nil || m.MsgType != "text" || !strings.HasPrefix(m.Content, "二维码已过期") || !strings.Contains(m.Content, "Tap the mirror") {
			t.Errorf("%s code: reply %s (%v), want the zh-CN-first text", step, res.Reply, err)
		}
		e.hub.Purge(t.Context())
		clk.Advance(time.Hour)
		e.hub.Purge(t.Context())
		ev.CreateTime++
	}
	if _, err := e.store.Photo(t.Context(), "P1"); err == nil {
		t.Fatal("the photo was not purged")
	}
	e.hub.Deliver(t.Context())
	if n := len(e.pub.all()); n != 0 {
		t.Errorf("%d bindings for expired codes", n)
	}
	// Another QR code of the account (not a mirror's) is not ours to answer.
	ev.EventKey, ev.Event = "poster-2024", "SCAN"
	if res, err := e.fake.Push(t.Context(), e.callbackURL(), ev, wechattest.Safe); err != nil || string(res.Reply) != "success" {
		t.Errorf("foreign scene: reply %s (%v), want success", res.Reply, err)
	}
}
