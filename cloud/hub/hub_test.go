package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
)

// recorder is a Publisher that keeps what it is given; Fail makes publishes fail.
type recorder struct {
	mu   sync.Mutex
	msgs []published
	Fail error
}

type published struct {
	Topic   string
	Payload []byte
}

func (r *recorder) Publish(_ context.Context, topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return r.Fail
	}
	r.msgs = append(r.msgs, published{topic, append([]byte(nil), payload...)})
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.Fail = err
	r.mu.Unlock()
}

func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.msgs...)
}

// env is a hub on real SQLite in a temporary state directory, talking to the fake WeChat.
type env struct {
	t     testing.TB
	dir   string
	fake  *wechattest.Server
	api   *httptest.Server // the fake's API
	store *sqlite.Store
	pub   *recorder
	hub   *hub.Hub
	srv   *httptest.Server // the hub
	creds hub.Credentials
	opts  hub.Options
}

const testAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, edit ...func(*hub.Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), pub: &recorder{}}
	e.fake = wechattest.New("wxhub", "s3cret")
	e.fake.Token = "cbtoken"
	e.fake.AESKey = testAESKey
	e.api = e.fake.Start()
	t.Cleanup(e.api.Close)
	os.MkdirAll(filepath.Join(e.dir, "photos"), 0o700)
	e.open(edit...)
	var err error
	if e.creds, err = hub.AddDevice(t.Context(), e.store, "m1", time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

// open (re)starts the hub on the state directory: a restart keeps the database and photos.
func (e *env) open(edit ...func(*hub.Options)) {
	t := e.t
	st, err := sqlite.Open(filepath.Join(e.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := wechat.NewClient(wechat.Options{BaseURL: e.api.URL, AppID: "wxhub", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: "cbtoken", AppID: "wxhub", AESKey: testAESKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	e.fake.OAuthDomain = srv.Listener.Addr().String() // the account's web OAuth domain
	opts := hub.Options{Store: st, PhotoDir: filepath.Join(e.dir, "photos"), WeChat: client, Callback: cb,
		Publisher: e.pub, AppID: "wxhub", PublicURL: "http://" + srv.Listener.Addr().String(), OAuthBase: e.api.URL,
		Logger: quietLogger(),
		// The tests' many requests from one address: the rate limits have their own tests.
		CallbackRate: -1, DeviceAPIRate: -1, PageRate: -1}
	for _, f := range edit {
		f(&opts)
	}
	if opts.ReleaseFiles != nil {
		opts.Releases = st // the store just opened keeps the releases
	}
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	e.store, e.hub, e.srv, e.opts = st, h, srv, opts
}

func (e *env) restart(edit ...func(*hub.Options)) {
	e.srv.Close()
	e.store.Close()
	e.open(edit...)
}

// do sends a request with the device token and returns status and body.
func (e *env) do(method, path, ctype string, body []byte, token string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func face(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload stores a photo and requests its QR code.
func (e *env) upload(photoID string) (scene, ticket string) {
	e.t.Helper()
	if st, b := e.do("PUT", "/v1/photos/"+photoID, "image/jpeg", face(e.t), e.creds.Token); st != 201 {
		e.t.Fatalf("PUT photo = %d %s", st, b)
	}
	st, b := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"`+photoID+`","expire_seconds":300}`), e.creds.Token)
	if st != 201 {
		e.t.Fatalf("POST qrcodes = %d %s", st, b)
	}
	var qr struct{ Scene, Ticket, URL string }
	json.Unmarshal(b, &qr)
	return qr.Scene, qr.Ticket
}

func (e *env) callbackURL() string { return e.srv.URL + "/wechat/callback" }

func errCode(b []byte) string {
	var v struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(b, &v)
	return v.Error.Code + ": " + v.Error.Message
}

var errBrokerDown = errors.New("broker down")

func TestPutPhoto(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.MaxPhotoBytes = 40 << 10 })
	jpg := face(t)
	other := jpegtest.Padded(jpg, len(jpg)+4) // the same picture, other bytes
	big := jpegtest.Padded(jpg, len(jpg)+10<<10)
	tests := []struct {
		name, id, ctype string
		body            []byte
		token           string
		want            int
		wantCode        string
	}{
		{"created", "P1", "image/jpeg", jpg, e.creds.Token, 201, ""},
		{"same bytes again", "P1", "image/jpeg", jpg, e.creds.Token, 200, ""},
		{"different bytes", "P1", "image/jpeg", other, e.creds.Token, 409, "conflict"},
		{"too large", "P2", "image/jpeg", big, e.creds.Token, 413, "too_large"},
		{"not a jpeg", "P3", "image/jpeg", []byte("GIF89a...."), e.creds.Token, 415, "unsupported_media"},
		{"wrong content type", "P4", "image/png", jpg, e.creds.Token, 400, "bad_request"},
		{"bad id", "..%2Fx", "image/jpeg", jpg, e.creds.Token, 400, "bad_request"},
		{"no token", "P5", "image/jpeg", jpg, "", 401, "unauthorized"},
		{"unknown token", "P6", "image/jpeg", jpg, "nope", 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := e.do("PUT", "/v1/photos/"+tt.id, tt.ctype, tt.body, tt.token)
			if st != tt.want || (tt.wantCode != "" && !strings.HasPrefix(errCode(b), tt.wantCode)) {
				t.Errorf("PUT /v1/photos/%s = %d %s, want %d %s", tt.id, st, b, tt.want, tt.wantCode)
			}
		})
	}
	// Only P1 is stored, with its first bytes.
	files, _ := filepath.Glob(filepath.Join(e.dir, "photos", "*"))
	if len(files) != 1 {
		t.Fatalf("photo dir holds %v, want only P1", files)
	}
	if got, _ := os.ReadFile(files[0]); !bytes.Equal(got, jpg) {
		t.Error("stored P1 is not the first upload")
	}
	for _, id := range []string{"P2", "P3", "P4", "P5", "P6"} {
		if _, err := e.store.Photo(t.Context(), id); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("photo %s indexed after a refused upload (err %v)", id, err)
		}
	}
}

func TestPutPhotoChunkedTooLarge(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.MaxPhotoBytes = 40 << 10 })
	big := append(face(t), make([]byte, 10<<10)...)
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v1/photos/P9", io.MultiReader(bytes.NewReader(big))) // no Content-Length
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("Authorization", "Bearer "+e.creds.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized PUT = %d, want 413", resp.StatusCode)
	}
	if files, _ := filepath.Glob(filepath.Join(e.dir, "photos", "*")); len(files) != 0 {
		t.Errorf("photo dir holds %v after a refused upload", files)
	}
}

func TestPostQRCode(t *testing.T) {
	e := newEnv(t)
	if st, b := e.do("PUT", "/v1/photos/P1", "image/jpeg", face(t), e.creds.Token); st != 201 {
		t.Fatalf("PUT = %d %s", st, b)
	}
	other, _ := hub.AddDevice(t.Context(), e.store, "m2", time.Now())
	long := strings.Repeat("s", 65)
	tests := []struct {
		name, body, token string
		want              int
		wantCode          string
	}{
		{"ok", `{"photo_id":"P1","expire_seconds":300}`, e.creds.Token, 201, ""},
		{"default expiry", `{"photo_id":"P1"}`, e.creds.Token, 201, ""},
		{"chosen scene", `{"photo_id":"P1","scene":"store7-P1"}`, e.creds.Token, 201, ""},
		{"scene taken", `{"photo_id":"P1","scene":"store7-P1"}`, e.creds.Token, 409, "conflict"},
		{"scene of 65 chars", `{"photo_id":"P1","scene":"` + long + `"}`, e.creds.Token, 400, "bad_request: scene must be 1-64"},
		{"expiry too short", `{"photo_id":"P1","expire_seconds":59}`, e.creds.Token, 400, "bad_request: expire_seconds"},
		{"expiry too long", `{"photo_id":"P1","expire_seconds":2592001}`, e.creds.Token, 400, "bad_request: expire_seconds"},
		{"unknown photo", `{"photo_id":"NOPE"}`, e.creds.Token, 404, "not_found"},
		{"another device's photo", `{"photo_id":"P1"}`, other.Token, 404, "not_found"},
		{"malformed", `{"photo_id":`, e.creds.Token, 400, "bad_request"},
		{"unknown field", `{"photo":"P1"}`, e.creds.Token, 400, "bad_request"},
		{"no token", `{"photo_id":"P1"}`, "", 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := e.do("POST", "/v1/qrcodes", "application/json", []byte(tt.body), tt.token)
			if st != tt.want || (tt.wantCode != "" && !strings.HasPrefix(errCode(b), tt.wantCode)) {
				t.Fatalf("POST /v1/qrcodes %s = %d %s, want %d %s", tt.body, st, b, tt.want, tt.wantCode)
			}
			if st != 201 {
				return
			}
			var qr struct {
				Scene, Ticket, URL string
				ExpiresAt          string `json:"expires_at"`
			}
			json.Unmarshal(b, &qr)
			sc, err := e.store.Scene(t.Context(), qr.Scene)
			if err != nil || sc.PhotoID != "P1" || sc.DeviceID != "m1" || sc.Ticket != qr.Ticket {
				t.Errorf("scene %q maps to %+v (%v), want P1 of m1", qr.Scene, sc, err)
			}
			if tk, ok := e.fake.TicketFor(qr.Scene); !ok || tk.URL != qr.URL {
				t.Errorf("fake has no ticket with url %s for scene %s", qr.URL, qr.Scene)
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", qr.ExpiresAt); err != nil {
				t.Errorf("expires_at %q is not RFC 3339 ms UTC", qr.ExpiresAt)
			}
		})
	}
	if n := e.fake.Stats().QRIssued; n != 3 {
		t.Errorf("fake issued %d tickets, want 3 (refused requests must not reach WeChat)", n)
	}
}

func TestQRCodeWeChatErrors(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/v1/photos/P1", "image/jpeg", face(t), e.creds.Token)
	e.fake.FailNext("qrcode/create", wechat.CodeDailyQuota, 1)
	st, b := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"P1"}`), e.creds.Token)
	if st != 502 || !strings.Contains(errCode(b), "wechat_error") || !strings.Contains(string(b), "45009") {
		t.Errorf("quota exceeded: POST /v1/qrcodes = %d %s, want 502 wechat_error with 45009", st, b)
	}
	e.api.Close() // WeChat unreachable
	st, b = e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"P1"}`), e.creds.Token)
	if st != 503 {
		t.Errorf("WeChat down: POST /v1/qrcodes = %d %s, want 503", st, b)
	}
	if n := len(e.fake.Tickets()); n != 0 {
		t.Errorf("%d tickets issued", n)
	}
}

// 50 agents asking for QR codes at once on a fresh hub make exactly one token call.
func TestConcurrentQRCodesShareOneToken(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/v1/photos/P1", "image/jpeg", face(t), e.creds.Token)
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Go(func() {
			st, _ := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"P1"}`), e.creds.Token)
			statuses <- st
		})
	}
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 201 {
			t.Errorf("POST /v1/qrcodes = %d, want 201", st)
		}
	}
	if s := e.fake.Stats(); s.TokenCalls != 1 || s.QRIssued != 50 {
		t.Errorf("fake stats %+v, want 1 token call and 50 tickets", s)
	}
}
