package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/session"
)

type memPhotos map[string][]byte

type rsc struct{ *bytes.Reader }

func (rsc) Close() error { return nil }

func (m memPhotos) Open(id string) (io.ReadSeekCloser, error) {
	b, ok := m[id]
	if !ok {
		return nil, errors.New("not found")
	}
	return rsc{bytes.NewReader(b)}, nil
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newTestProvider(t *testing.T, photos memPhotos) (*Provider, *clock, *[]string) {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	var bound []string
	p, err := New(Options{PublicURL: "http://192.0.2.7:8081/", TTL: time.Minute, Photos: photos,
		OnBound: func(id string) { bound = append(bound, id) }, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return p, clk, &bound
}

func get(t *testing.T, h http.Handler, target, accept string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// pathOf strips the public base so the QR content can be served by the handler directly.
func pathOf(t *testing.T, content string) string {
	u, err := url.Parse(content)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func TestQRContentAndPhotoPage(t *testing.T) {
	jpeg := []byte("\xff\xd8the photo\xff\xd9")
	p, clk, bound := newTestProvider(t, memPhotos{"P1": jpeg})
	qr, err := p.QR(context.Background(), session.Photo{ID: "P1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(qr.Content, "http://192.0.2.7:8081/p/P1?k=") || len(qr.Content) < len("http://192.0.2.7:8081/p/P1?k=")+22 {
		t.Errorf("QR content = %q, want the public URL, /p/P1 and a 22-char token", qr.Content)
	}
	if want := clk.Now().Add(time.Minute); !qr.ExpiresAt.Equal(want) {
		t.Errorf("QR expires %v, want %v", qr.ExpiresAt, want)
	}
	// The engine asks with the session.qr_ttl in force: a changed one counts from the next code.
	if qr2, _ := p.QR(context.Background(), session.Photo{ID: "P1"}, 3*time.Minute); !qr2.ExpiresAt.Equal(clk.Now().Add(3 * time.Minute)) {
		t.Errorf("QR asked for 3m expires %v, want %v", qr2.ExpiresAt, clk.Now().Add(3*time.Minute))
	}

	res := get(t, p, pathOf(t, qr.Content), "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(body, jpeg) {
		t.Fatalf("GET link = %d %q %q, want 200 image/jpeg with the photo", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if len(*bound) != 1 || (*bound)[0] != "P1" {
		t.Errorf("OnBound calls = %v, want [P1]", *bound)
	}

	res = get(t, p, pathOf(t, qr.Content), "text/html,application/xhtml+xml")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), "<img src=\"/p/P1?k=") || !strings.Contains(string(body), "download=1") {
		t.Errorf("GET link as a browser = %d %s, want a page with the photo and a save link", res.StatusCode, body)
	}

	res = get(t, p, pathOf(t, qr.Content)+"&download=1", "")
	if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("download Content-Disposition = %q, want attachment", cd)
	}
}

func TestPhotoPageRefuses(t *testing.T) {
	p, clk, bound := newTestProvider(t, memPhotos{"P1": []byte("x"), "P2": []byte("y")})
	qr1, _ := p.QR(context.Background(), session.Photo{ID: "P1"}, 0)
	qr2, _ := p.QR(context.Background(), session.Photo{ID: "P2"}, 0)
	tok2 := strings.SplitN(qr2.Content, "k=", 2)[1]
	tests := []struct {
		name   string
		target string
		want   int
	}{
		{"no token", "/p/P1", http.StatusForbidden},
		{"wrong token", "/p/P1?k=AAAAAAAAAAAAAAAAAAAAAA", http.StatusForbidden},
		{"another photo's token", "/p/P1?k=" + tok2, http.StatusForbidden},
		{"unknown photo", "/p/P9?k=" + tok2, http.StatusForbidden},
		{"nested path", "/p/P1/x?k=" + tok2, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := get(t, p, tt.target, ""); res.StatusCode != tt.want {
				t.Errorf("GET %s = %d, want %d", tt.target, res.StatusCode, tt.want)
			}
		})
	}
	if len(*bound) != 0 {
		t.Errorf("OnBound called %v for refused requests", *bound)
	}

	// A renewed code does not break the one a phone scanned a moment earlier.
	clk.Advance(30 * time.Second)
	if _, err := p.QR(context.Background(), session.Photo{ID: "P1"}, 0); err != nil {
		t.Fatal(err)
	}
	if res := get(t, p, pathOf(t, qr1.Content), ""); res.StatusCode != 200 {
		t.Errorf("old link after renewal = %d, want 200 until it expires", res.StatusCode)
	}
	clk.Advance(31 * time.Second)
	if res := get(t, p, pathOf(t, qr1.Content), ""); res.StatusCode != http.StatusForbidden {
		t.Errorf("old link after expiry = %d, want 403", res.StatusCode)
	}

	// A purged photo: the link is valid but the photo is gone.
	qr3, _ := p.QR(context.Background(), session.Photo{ID: "P3"}, 0)
	if res := get(t, p, pathOf(t, qr3.Content), ""); res.StatusCode != http.StatusGone {
		t.Errorf("link to a purged photo = %d, want 410", res.StatusCode)
	}
	p.Forget("P2")
	if res := get(t, p, pathOf(t, qr2.Content), ""); res.StatusCode != http.StatusForbidden {
		t.Errorf("link after Forget = %d, want 403", res.StatusCode)
	}
	req := httptest.NewRequest(http.MethodPost, "/p/P1", nil)
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", rec.Code)
	}
}

func TestNewRejectsBadPublicURL(t *testing.T) {
	for _, u := range []string{"", "192.168.1.2:8081", "ftp://x", "http://"} {
		if _, err := New(Options{PublicURL: u, Photos: memPhotos{}}); err == nil || !strings.Contains(err.Error(), "cloud.local.public_url") {
			t.Errorf("New(PublicURL %q) = %v, want an error naming cloud.local.public_url", u, err)
		}
	}
}

// The LAN photo page: anti-framing and no-sniff headers, the same answer for an unknown photo
// and a known one with a wrong token, and a burst of bad links from one phone limited and
// logged once.
func TestPhotoPageHardening(t *testing.T) {
	var logs bytes.Buffer
	p, err := New(Options{PublicURL: "http://192.0.2.7:8081/", Photos: memPhotos{"P1": []byte("x")},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p.QR(context.Background(), session.Photo{ID: "P1"}, 0)
	body := func(res *http.Response) string { b, _ := io.ReadAll(res.Body); return string(b) }
	known := get(t, p, "/p/P1?k=AAAAAAAAAAAAAAAAAAAAAA", "text/html")
	unknown := get(t, p, "/p/P9?k=AAAAAAAAAAAAAAAAAAAAAA", "text/html")
	if known.StatusCode != unknown.StatusCode || body(known) != body(unknown) {
		t.Errorf("wrong token for a known photo = %d, unknown photo = %d (or other pages); want the same answer", known.StatusCode, unknown.StatusCode)
	}
	for _, h := range []http.Header{known.Header, unknown.Header} {
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers: CSP %q, X-Content-Type-Options %q", h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
		}
	}
	limited := 0
	for i := 0; i < 100; i++ {
		if res := get(t, p, "/p/P1?k=guess"+strings.Repeat("x", i), ""); res.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 70 {
		t.Errorf("%d of 100 quick bad-link requests limited, want all past the burst", limited)
	}
	if n := strings.Count(logs.String(), "link invalid or expired"); n != 1 {
		t.Errorf("a burst of bad links logged %d times, want once:\n%s", n, logs.String())
	}
}
