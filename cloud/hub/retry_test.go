package hub_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
)

// slowPublisher takes 6 s over its first publish, longer than WeChat waits for an answer.
type slowPublisher struct {
	mu    sync.Mutex
	calls int
	got   []string
}

func (p *slowPublisher) Publish(_ context.Context, topic string, payload []byte) error {
	p.mu.Lock()
	p.calls++
	first := p.calls == 1
	p.mu.Unlock()
	if first {
		time.Sleep(6 * time.Second)
	}
	p.mu.Lock()
	p.got = append(p.got, string(payload))
	p.mu.Unlock()
	return nil
}

func (p *slowPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

// A publish that takes 6 s does not hold up the answer: WeChat gets the reply on its first
// try at once, and the delivery loop publishes the binding once.
func TestSlowPublishDoesNotHoldTheAnswer(t *testing.T) {
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
		pub := &slowPublisher{}
		h, err := hub.New(hub.Options{Store: st, PhotoDir: t.TempDir(), WeChat: client, Callback: cb, Publisher: pub,
			AppID: "wxhub", PublicURL: "https://hub.test", Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); h.Run(ctx) }()
		if err := st.AddScene(t.Context(), hub.Scene{Scene: "S1", Ticket: "T1", PhotoID: "P1", DeviceID: "m1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		fake.Client = &http.Client{Transport: wechattest.HandlerTransport(h.Handler())}
		start := time.Now()
		res, err := fake.Push(t.Context(), "https://hub.test/wechat/callback", fake.ScanEvent("S1", "T1", "o_gus", false), wechattest.Safe)
		if err != nil {
			t.Fatal(err)
		}
		// The bubble's clock moves only when everything waits: the 6 s publish cannot hide
		// here; a millisecond may pass (SQLite's busy wait while the loop records its attempt).
		if res.Attempts != 1 || time.Since(start) > 100*time.Millisecond {
			t.Errorf("push took %d tries and %v, want 1 try answered at once", res.Attempts, time.Since(start))
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := pub.count(); n != 1 {
			t.Errorf("published %d bindings, want 1", n)
		}
		if r := fake.Replies(); len(r) != 1 || r[0].OpenID != "o_gus" {
			t.Errorf("shopper got %d replies, want 1", len(r))
		}
		cancel()
		<-done
	})
}
