package hub_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
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
