package kiosk

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fitmirror/fitmirror/display"
)

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(New(Options{}).Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string // prefix of Content-Type; "" = do not check
		wantBody     string // substring; "" = do not check
	}{
		{"GET", "/healthz", http.StatusOK, "text/plain", "ok"},
		{"GET", "/", http.StatusOK, "text/html", `<html lang="zh-CN">`},
		{"GET", "/", http.StatusOK, "text/html", `<body data-scene="idle">`},
		{"GET", "/style.css", http.StatusOK, "text/css", "image-rendering: pixelated"},
		{"GET", "/app.js", http.StatusOK, "text/javascript", "EventSource"},
		{"HEAD", "/", http.StatusOK, "text/html", ""},
		{"HEAD", "/events", http.StatusOK, "text/event-stream", ""},
		{"GET", "/index.html", http.StatusNotFound, "", ""},
		{"GET", "/nope", http.StatusNotFound, "", ""},
		{"GET", "/events/x", http.StatusNotFound, "", ""},
		{"GET", "/web/app.js", http.StatusNotFound, "", ""},
		{"POST", "/", http.StatusMethodNotAllowed, "", ""},
		{"POST", "/events", http.StatusMethodNotAllowed, "", ""},
		{"PUT", "/qr.png?c=x", http.StatusMethodNotAllowed, "", ""},
		{"DELETE", "/healthz", http.StatusMethodNotAllowed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s(%q) status = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("%s(%q) Content-Type = %q, want %q…", tt.method, tt.path, ct, tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%s(%q) body = %.200q, want it to contain %q", tt.method, tt.path, body, tt.wantBody)
			}
		})
	}
}

func TestHealthzBody(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Options{}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if got, want := rec.Body.String(), "ok"; rec.Code != http.StatusOK || got != want {
		t.Errorf("Get(%q) = %d %q, want 200 %q", "/healthz", rec.Code, got, want)
	}
}

// The kiosk must work offline and leak nothing: the page may load only from its own server.
func TestPageHasNoExternalURLs(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:|wss?:|ftp:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`)
	files := map[string][]byte{"index.html": indexHTML, "style.css": styleCSS, "app.js": appJS}
	for name, b := range files {
		if m := external.Find(b); m != nil {
			t.Errorf("web/%s references %q, want no external URLs", name, m)
		}
		if len(b) == 0 {
			t.Errorf("web/%s is empty", name)
		}
	}
	rec := httptest.NewRecorder()
	New(Options{}).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Get(%q) Content-Security-Policy = %q, want default-src 'none'", "/", csp)
	}
}

func TestPageRevalidates(t *testing.T) {
	h := New(Options{}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatalf("Get(%q) ETag = %q, want one", "/app.js", etag)
	}
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("Get(%q, If-None-Match %s) = %d, want %d", "/app.js", etag, rec.Code, http.StatusNotModified)
	}
}

func TestCurrent(t *testing.T) {
	k := New(Options{})
	if got := k.Current(); !cmp.Equal(got, display.Idle) {
		t.Errorf("New().Current() = %+v, want %+v", got, display.Idle)
	}

	exp := time.Date(2026, 11, 20, 10, 5, 0, 123e6, time.UTC)
	qr := &display.QR{Content: "http://weixin.qq.com/q/02abc", ExpiresAt: exp}
	k.Show(display.Screen{Scene: display.SceneQR, SessionID: "s1", PhotoID: "p1", QR: qr})
	qr.Content = "changed by the caller after Show"

	want := display.Screen{Scene: display.SceneQR, SessionID: "s1", PhotoID: "p1",
		QR: &display.QR{Content: "http://weixin.qq.com/q/02abc", ExpiresAt: exp}}
	got := k.Current()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Current() after Show mismatch (-want +got):\n%s", diff)
	}
	got.QR.Content = "changed via Current"
	if diff := cmp.Diff(want, k.Current()); diff != "" {
		t.Errorf("Current() after changing a returned Screen (-want +got):\n%s", diff)
	}
}

func TestShowIgnoresUnencodableScreen(t *testing.T) {
	k := New(Options{Logger: discardLogger()})
	k.Show(display.Screen{Scene: display.SceneWelcome})
	k.Show(display.Screen{Scene: display.SceneQR, QR: &display.QR{Content: "x", ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	if got, want := k.Current(), (display.Screen{Scene: display.SceneWelcome}); !cmp.Equal(got, want) {
		t.Errorf("Current() = %+v, want %+v", got, want)
	}
}
