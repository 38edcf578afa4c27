package photopage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPages(t *testing.T) {
	rec := httptest.NewRecorder()
	Message(rec, http.StatusGone, "照片已删除", "<b>gone</b>")
	body := rec.Body.String()
	if rec.Code != http.StatusGone || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(body, "<h1>照片已删除</h1>") || !strings.Contains(body, "&lt;b&gt;gone") || strings.Contains(body, "<img") {
		t.Errorf("Message = %d %q", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	Photo(rec, "你的照片", "Your photo", "/p/P1?raw=1&k=a", "/p/P1?download=1")
	body = rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<img src="/p/P1?raw=1&amp;k=a"`) || !strings.Contains(body, `href="/p/P1?download=1"`) {
		t.Errorf("Photo = %d %q", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	Photo(rec, "你的照片", "Press and hold", "/p/P1?raw=1", "")
	if body := rec.Body.String(); !strings.Contains(body, `<img src="/p/P1?raw=1"`) || strings.Contains(body, "<a ") {
		t.Errorf("Photo without a download link = %q", body)
	}
}
