package hub_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat/wechattest"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
	"github.com/fitmirror/fitmirror/internal/syncbuf"
)

// A burst of requests with bad device tokens is limited (429 once past the burst) and logged
// once, not once per request.
func TestDeviceAPIBadTokenBurst(t *testing.T) {
	var logs syncbuf.Buffer
	e := newEnv(t, func(o *hub.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.DeviceAPIRate = 5 // burst 20
	})
	counts := map[int]int{}
	for i := 0; i < 200; i++ {
		st, _ := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"P1"}`), fmt.Sprintf("guess-%d", i))
		counts[st]++
	}
	if counts[http.StatusUnauthorized] == 0 || counts[http.StatusTooManyRequests] < 150 {
		t.Errorf("200 bad-token requests answered %v, want 401s then mostly 429", counts)
	}
	if n := strings.Count(logs.String(), "unknown device token"); n != 1 {
		t.Errorf("the burst of bad tokens logged %d times, want once:\n%s", n, logs.String())
	}
}

// The WeChat callback and the photo page are rate-limited per client address.
func TestCallbackAndPageRateLimits(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) { o.CallbackRate, o.PageRate = 5, 2 })
	for path, method := range map[string]string{"/wechat/callback?signature=x&timestamp=1&nonce=n": "POST", "/p/P1": "GET"} {
		limited := 0
		for i := 0; i < 60; i++ {
			req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader("<xml></xml>"))
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				limited++
				if resp.Header.Get("Retry-After") == "" {
					t.Errorf("%s 429 without Retry-After", path)
				}
			}
		}
		if limited < 30 {
			t.Errorf("%s %s: %d of 60 quick requests limited, want most past the burst", method, path, limited)
		}
	}
}

// Per-device upload quota: uploads at once, and bytes per minute.
func TestUploadQuota(t *testing.T) {
	jpg := face(t)
	e := newEnv(t, func(o *hub.Options) {
		o.MaxUploads = 2
		o.UploadBytesPerMinute = int64(len(jpg)) * 5 // five photos a minute
		o.DeviceAPIRate = -1
	})
	// Bytes per minute: the sixth photo in a row is refused, nothing partial is left.
	for i := 1; i <= 6; i++ {
		st, b := e.do("PUT", fmt.Sprintf("/v1/photos/Q%d", i), "image/jpeg", jpg, e.creds.Token)
		want := 201
		if i == 6 {
			want = 429
		}
		if st != want {
			t.Errorf("upload %d = %d %s, want %d", i, st, b, want)
		}
	}
	// At once: two slow uploads hold the slots; a third is refused meanwhile.
	e2 := newEnv(t, func(o *hub.Options) { o.MaxUploads = 2; o.DeviceAPIRate = -1 })
	addr := strings.TrimPrefix(e2.srv.URL, "http://")
	var slow []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		slow = append(slow, c)
		fmt.Fprintf(c, "PUT /v1/photos/S%d HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
			i, e2.creds.Token, len(jpg))
		c.Write(jpg[:100]) // and then nothing: the upload is in progress
	}
	time.Sleep(500 * time.Millisecond) // the two handlers are reading their bodies
	if st, b := e2.do("PUT", "/v1/photos/S3", "image/jpeg", jpg, e2.creds.Token); st != 429 || !strings.Contains(string(b), "at once") {
		t.Errorf("third concurrent upload = %d %s, want 429", st, b)
	}
	for _, c := range slow {
		c.Close()
	}
	// The slots come back when the slow uploads end.
	waitFor(t, func() bool {
		st, _ := e2.do("PUT", "/v1/photos/S4", "image/jpeg", jpg, e2.creds.Token)
		return st == 201
	})
}

// partials lists the .upload-* files in dir.
func partials(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".upload-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}

// The janitor removes partial uploads older than two minutes (an upload in progress is
// younger), and a start removes them all.
func TestPurgeSweepsPartialUploads(t *testing.T) {
	e := newEnv(t)
	dir := e.opts.PhotoDir
	old := filepath.Join(dir, ".upload-old")
	fresh := filepath.Join(dir, ".upload-fresh")
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, bytes.Repeat([]byte{0xff}, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-3 * time.Minute)
	os.Chtimes(old, past, past)
	e.hub.Purge(t.Context())
	if got := partials(t, dir); len(got) != 1 || got[0] != fresh {
		t.Errorf("after the janitor: %v, want only the fresh one", got)
	}
}

// The hub's database and its -wal and -shm files are private to the service user.
func TestDatabaseFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := hub.AddDevice(t.Context(), st, "m1", time.Now()); err != nil { // a write: the WAL exists
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// A burst of forged WeChat pushes (bad signatures) is refused and logged once.
func TestForgedCallbackBurstLoggedOnce(t *testing.T) {
	var logs syncbuf.Buffer
	e := newEnv(t, func(o *hub.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for i := 0; i < 50; i++ {
		resp, err := http.Post(fmt.Sprintf("%s/wechat/callback?signature=bad%d&timestamp=%d&nonce=n", e.srv.URL, i, time.Now().Unix()),
			"text/xml", strings.NewReader("<xml></xml>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged push %d = %d, want 401", i, resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), "wechat callback: refused"); n != 1 {
		t.Errorf("50 forged pushes logged %d times, want once:\n%s", n, logs.String())
	}
}

// Photos that are not photos: a 1 KB progressive JPEG declaring 65535×65535 (which made
// image/jpeg allocate gigabytes when its thumbnail was made), one declaring 8192×8192, a
// JPEG cut short, and HTML behind a JPEG's first bytes. Each is refused (422 or 415) without
// decoding its declared size, nothing is stored, and the hub keeps answering.
func TestPhotoBombsAreRefused(t *testing.T) {
	e := newEnv(t, func(o *hub.Options) {
		o.DeviceAPIRate, o.MaxUploads = -1, 16
		o.PhotoLimits.Workers = 1 // one decode at a time: the burst below queues
	})
	html := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10}, "JFIF\x00<html><body>not a photo</body></html>"...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, tt := range []struct {
		name string
		body []byte
		want int
		code string
	}{
		{"65535x65535", jpegtest.Bomb(65535, 65535), 422, "invalid_photo"},
		{"8192x8192", jpegtest.Bomb(8192, 8192), 422, "invalid_photo"},
		{"cut short", jpegtest.Bomb(4000, 3000), 422, "invalid_photo"},
		{"html", html, 415, "unsupported_media"},
	} {
		st, b := e.do("PUT", "/v1/photos/B1", "image/jpeg", tt.body, e.creds.Token)
		if st != tt.want || !strings.HasPrefix(errCode(b), tt.code) {
			t.Errorf("%s: PUT = %d %s, want %d %s", tt.name, st, b, tt.want, tt.code)
		}
		if st, _ := e.do("GET", "/healthz", "", nil, ""); st != 200 {
			t.Errorf("%s: /healthz = %d after the upload", tt.name, st)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
		t.Errorf("refusing the bombs allocated %d MB", got>>20)
	}
	if _, err := e.store.Photo(t.Context(), "B1"); err == nil {
		t.Error("a refused photo is indexed")
	}
	if files, _ := filepath.Glob(filepath.Join(e.dir, "photos", "*")); len(files) != 0 {
		t.Errorf("refused photos left files: %v", files)
	}
	// A burst of real photos waits for the bounded decoder rather than being refused.
	prog := jpegtest.Progressive720p()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, b := e.do("PUT", fmt.Sprintf("/v1/photos/G%d", i), "image/jpeg", prog, e.creds.Token); st != 201 {
				t.Errorf("real photo %d = %d %s", i, st, b)
			}
		}()
	}
	wg.Wait()
}

// A bomb stored before uploads were checked (written into the photo storage directly) gets
// no thumbnail: the card's picture is 404 and the hub does not decode its declared size.
func TestStoredBombHasNoThumbnail(t *testing.T) {
	e := newEnv(t, func(*hub.Options) {})
	bomb := jpegtest.Bomb(65535, 65535)
	sum := sha256.Sum256(bomb)
	p := hub.Photo{ID: "L1", DeviceID: "m1", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(bomb)), CreatedAt: time.Now()}
	if err := os.WriteFile(filepath.Join(e.dir, "photos", p.BlobKey()), bomb, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutPhoto(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	st, b := e.do("POST", "/v1/qrcodes", "application/json", []byte(`{"photo_id":"L1"}`), e.creds.Token)
	if st != 201 {
		t.Fatalf("POST /v1/qrcodes = %d %s", st, b)
	}
	var qr struct{ Ticket string }
	json.Unmarshal(b, &qr)
	res, err := e.fake.Scan(t.Context(), e.callbackURL(), qr.Ticket, "o_bomb", false, wechattest.Safe)
	if err != nil {
		t.Fatal(err)
	}
	var m newsReply
	if err := xmlUnmarshal(res.Reply, &m); err != nil || len(m.Items) != 1 {
		t.Fatalf("reply %s: %v", res.Reply, err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, err := http.Get(m.Items[0].PicUrl)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 404 {
		t.Errorf("thumbnail of a stored bomb = %d, want 404", resp.StatusCode)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("the thumbnail request allocated %d MB", got>>20)
	}
	if st, _ := e.do("GET", "/healthz", "", nil, ""); st != 200 {
		t.Errorf("/healthz = %d", st)
	}
}
