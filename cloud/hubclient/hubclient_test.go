package hubclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// memPhotos is a photo store in memory.
type memPhotos map[string][]byte

func (m memPhotos) Open(id string) (io.ReadSeekCloser, error) {
	b, ok := m[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return nopCloser{bytes.NewReader(b)}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, []byte) error { return nil }

// env: a real hub (SQLite, fake WeChat) behind a counting handler.
type env struct {
	fake *wechattest.Server
	api  *httptest.Server
	srv  *httptest.Server
	puts atomic.Int32
	cred hub.Credentials
}

func newEnv(t *testing.T) *env {
	e := &env{fake: wechattest.New("wxhub", "s3cret")}
	e.api = e.fake.Start()
	t.Cleanup(e.api.Close)
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, _ := wechat.NewClient(wechat.Options{BaseURL: e.api.URL, AppID: "wxhub", Secret: "s3cret"})
	cb, _ := wechat.NewCallback(wechat.CallbackOptions{Token: e.fake.Token})
	h, err := hub.New(hub.Options{Store: st, PhotoDir: dir, WeChat: client, Callback: cb, Publisher: nopPublisher{},
		AppID: "wxhub", PublicURL: "https://hub.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hh := h.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PUT" {
			e.puts.Add(1)
		}
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	if e.cred, err = hub.AddDevice(t.Context(), st, "m1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

func face(t *testing.T) []byte {
	b, err := os.ReadFile("../../testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQR(t *testing.T) {
	e := newEnv(t)
	p, err := hubclient.New(hubclient.Options{BaseURL: e.srv.URL, Token: e.cred.Token, Photos: memPhotos{"P1": face(t)}, TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	qr, err := p.QR(t.Context(), session.Photo{ID: "P1", SessionID: "S1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(qr.Content, "http://weixin.qq.com/q/") {
		t.Errorf("QR content = %q, want the WeChat url", qr.Content)
	}
	if d := qr.ExpiresAt.Sub(before); d < 119*time.Second || d > 121*time.Second {
		t.Errorf("QR expires in %v, want 2m", d)
	}
	tickets := e.fake.Tickets()
	if len(tickets) != 1 || tickets[0].URL != qr.Content {
		t.Errorf("fake tickets %+v, want one with the QR's url", tickets)
	}
	// A renewal asks for a new code without uploading again.
	qr2, err := p.QR(t.Context(), session.Photo{ID: "P1", SessionID: "S1"}, 0)
	if err != nil || qr2.Content == qr.Content {
		t.Errorf("renewal = %+v, %v; want a new code", qr2, err)
	}
	if n := e.puts.Load(); n != 1 {
		t.Errorf("uploads = %d, want 1", n)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	photos := memPhotos{"P1": face(t), "BIG": append(face(t), make([]byte, 9<<20)...), "CUT": face(t)[:len(face(t))/2]}
	p, _ := hubclient.New(hubclient.Options{BaseURL: e.srv.URL, Token: e.cred.Token, Photos: photos})
	bad, _ := hubclient.New(hubclient.Options{BaseURL: e.srv.URL, Token: "wrong", Photos: photos})

	e.fake.FailNext("qrcode/create", wechat.CodeDailyQuota, 1)
	_, err := p.QR(t.Context(), session.Photo{ID: "P1"}, 0)
	var he *hubclient.Error
	if !errors.As(err, &he) || he.Status != 502 || he.Code != "wechat_error" || !strings.Contains(he.Message, "45009") || !hubclient.Down(err) {
		t.Errorf("quota: err = %v, want a 502 wechat_error carrying 45009 that counts as down", err)
	}
	_, err = bad.QR(t.Context(), session.Photo{ID: "P1"}, 0)
	if !errors.As(err, &he) || he.Status != 401 || hubclient.Down(err) {
		t.Errorf("bad token: err = %v, want 401, not down", err)
	}
	_, err = p.QR(t.Context(), session.Photo{ID: "BIG"}, 0)
	if !errors.As(err, &he) || he.Status != 413 || hubclient.Down(err) {
		t.Errorf("9 MiB photo: err = %v, want 413", err)
	}
	// A photo file cut short (a broken write) is refused on the mirror, as the hub would
	// refuse it, and never sent.
	puts := e.puts.Load()
	_, err = p.QR(t.Context(), session.Photo{ID: "CUT"}, 0)
	if !errors.As(err, &he) || he.Code != "invalid_photo" || hubclient.Down(err) || e.puts.Load() != puts {
		t.Errorf("cut photo: err = %v after %d uploads, want invalid_photo and none sent", err, e.puts.Load()-puts)
	}
	_, err = p.QR(t.Context(), session.Photo{ID: "GONE"}, 0)
	if err == nil || hubclient.Down(err) {
		t.Errorf("missing photo: err = %v", err)
	}
	e.srv.Close()
	_, err = p.QR(t.Context(), session.Photo{ID: "P1"}, 0)
	if !errors.Is(err, hubclient.ErrUnreachable) || !hubclient.Down(err) {
		t.Errorf("hub down: err = %v, want ErrUnreachable", err)
	}
}

// The provider keeps the hub's health part: failing while WeChat refuses for now (502) or the
// hub is unreachable, ok again with the next code; a refusal that is not "down" (a missing
// photo) does not touch it. A changed TTL is sent with the next code.
func TestHubHealthAndTTL(t *testing.T) {
	e := newEnv(t)
	tr := health.New(nil)
	p, _ := hubclient.New(hubclient.Options{BaseURL: e.srv.URL, Token: e.cred.Token, Photos: memPhotos{"P1": face(t)}, Health: tr})
	state := func() string { s, _ := tr.State(wire.PartHub); return s }
	if state() != wire.HealthOK {
		t.Fatalf("hub part at start = %q, want ok", state())
	}
	e.fake.FailNext("qrcode/create", wechat.CodeDailyQuota, 1)
	p.QR(t.Context(), session.Photo{ID: "P1"}, 0)
	if s, reason := tr.State(wire.PartHub); s != "failing" || !strings.Contains(reason, "45009") {
		t.Errorf("after a 502: hub part %s %q, want failing with the WeChat code", s, reason)
	}
	before := time.Now()
	qr, err := p.QR(t.Context(), session.Photo{ID: "P1"}, 7*time.Minute)
	if err != nil || state() != wire.HealthOK {
		t.Errorf("next code: %v, hub part %s; want ok", err, state())
	}
	if d := qr.ExpiresAt.Sub(before); d < 419*time.Second || d > 421*time.Second {
		t.Errorf("code asked for 7m expires in %v", d)
	}
	p.QR(t.Context(), session.Photo{ID: "GONE"}, 0)
	if state() != wire.HealthOK {
		t.Errorf("a missing photo made the hub part %s; it is not the hub's fault", state())
	}
	e.srv.Close()
	p.QR(t.Context(), session.Photo{ID: "P1"}, 0)
	if state() != "failing" {
		t.Errorf("hub unreachable: hub part %s, want failing", state())
	}
}

func TestNewChecksOptions(t *testing.T) {
	tests := []struct {
		opts hubclient.Options
		want string
	}{
		{hubclient.Options{BaseURL: "hub:8090", Token: "t", Photos: memPhotos{}}, "cloud.hub_url"},
		{hubclient.Options{BaseURL: "http://hub", Photos: memPhotos{}}, "cloud.token"},
		{hubclient.Options{BaseURL: "http://hub", Token: "t"}, "Photos"},
		{hubclient.Options{BaseURL: "http://hub", Token: "t", Photos: memPhotos{}, TTL: time.Second}, "TTL"},
	}
	for _, tt := range tests {
		if _, err := hubclient.New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.opts, err, tt.want)
		}
	}
}
