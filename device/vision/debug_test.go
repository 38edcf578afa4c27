package vision

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDebugViewStreamsJPEGsToLoopbackOnly(t *testing.T) {
	v := NewDebugView()
	srv := httptest.NewServer(v) // httptest listens on 127.0.0.1
	defer srv.Close()
	if v.Watching() {
		t.Fatal("Watching() before anyone connected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("Content-Type %q, want multipart/x-mixed-replace", resp.Header.Get("Content-Type"))
	}
	for !v.Watching() {
		select {
		case <-ctx.Done():
			t.Fatal("the viewer never registered")
		case <-time.After(10 * time.Millisecond):
		}
	}
	frames := [][]byte{{0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9}, {0xFF, 0xD8, 4, 5, 0xFF, 0xD9}}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i, want := range frames {
		v.Publish(want)
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(part)
		if part.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(got, want) {
			t.Errorf("part %d: %s %x, want image/jpeg %x", i, part.Header.Get("Content-Type"), got, want)
		}
	}
	cancel()

	// A client on the store network is refused: frames show shoppers.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/debug/vision", nil)
	r.RemoteAddr = "192.0.2.10:52000"
	v.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("request from 192.0.2.10: status %d, want 403", rec.Code)
	}
}
