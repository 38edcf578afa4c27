package kiosk

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// TestPhotosOnlyCurrent: the page can load the photos of the current Screen and no others.
func TestPhotosOnlyCurrent(t *testing.T) {
	photos := displaytest.NewPhotos()
	photos["01JD0000000000000000000009"] = []byte("not on screen")
	k := New(Options{Logger: discardLogger(), Photos: photos})
	h := k.Handler()
	a := "/photos/" + displaytest.PhotoA + ".jpg"
	b := "/photos/" + displaytest.PhotoB + ".jpg"
	other := "/photos/01JD0000000000000000000009.jpg"

	steps := []struct {
		screen display.Screen
		ok     []string
		absent []string
	}{
		{display.Idle, nil, []string{a, b, other}},
		{display.Screen{Scene: display.SceneReview, PhotoID: displaytest.PhotoA}, []string{a}, []string{b, other}},
		{display.Screen{Scene: display.SceneCompare, PhotoID: displaytest.PhotoA, CompareID: displaytest.PhotoB},
			[]string{a, b}, []string{other, "/photos/" + displaytest.PhotoA, "/photos/.jpg", "/photos/" + displaytest.PhotoA + ".png"}},
		{display.Screen{Scene: display.SceneGoodbye}, nil, []string{a, b, other}},
	}
	for _, st := range steps {
		k.Show(st.screen)
		for _, path := range st.ok {
			rec := get(t, h, path)
			id := strings.TrimSuffix(strings.TrimPrefix(path, "/photos/"), ".jpg")
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), photos[id]) {
				t.Errorf("scene %s: Get(%q) = %d, %d bytes, want 200 and the photo's %d bytes", st.screen.Scene, path, rec.Code, rec.Body.Len(), len(photos[id]))
			}
			for header, want := range map[string]string{"Content-Type": "image/jpeg", "Cache-Control": "no-store"} {
				if got := rec.Header().Get(header); got != want {
					t.Errorf("scene %s: Get(%q) %s = %q, want %q", st.screen.Scene, path, header, got, want)
				}
			}
		}
		for _, path := range st.absent {
			if rec := get(t, h, path); rec.Code != http.StatusNotFound {
				t.Errorf("scene %s: Get(%q) = %d, want 404", st.screen.Scene, path, rec.Code)
			}
		}
	}

	// A photo on screen but gone from the store (purged): 404, and the page hides it.
	k.Show(display.Screen{Scene: display.SceneReview, PhotoID: "01JD000000000000000000000X"})
	if rec := get(t, h, "/photos/01JD000000000000000000000X.jpg"); rec.Code != http.StatusNotFound {
		t.Errorf("Get(missing photo) = %d, want 404", rec.Code)
	}
	// Without Options.Photos there are no photos at all.
	k2 := New(Options{Logger: discardLogger()})
	k2.Show(display.Screen{Scene: display.SceneReview, PhotoID: displaytest.PhotoA})
	if rec := get(t, k2.Handler(), a); rec.Code != http.StatusNotFound {
		t.Errorf("no Photos: Get(%q) = %d, want 404", a, rec.Code)
	}
}

// TestPageSettings: the panel settings and the provider's wording reach the page.
func TestPageSettings(t *testing.T) {
	wechat := `&#34;words&#34;:{&#34;scan_zh1&#34;:&#34;微信扫码，&#34;`
	tests := []struct {
		opts Options
		want []string
	}{
		{Options{}, []string{`content="{&#34;qr_mm&#34;:70,&#34;words&#34;:`, wechat}},
		{Options{Panel: display.Panel{DPI: 96}, QRSizeMM: 40}, []string{`content="{&#34;qr_mm&#34;:40,&#34;dpi&#34;:96,`}},
		{Options{Panel: display.Panel{DiagonalIn: 43}}, []string{`content="{&#34;qr_mm&#34;:70,&#34;diagonal_in&#34;:43,`}},
		{Options{Wording: display.WordingLocal}, []string{`&#34;scan_zh1&#34;:&#34;用手机扫码，&#34;`, `&#34;bound_en&#34;:&#34;Opened on your phone&#34;`}},
	}
	for _, tt := range tests {
		body, _ := io.ReadAll(get(t, New(tt.opts).Handler(), "/").Body)
		_, meta, _ := bytes.Cut(body, []byte(`<meta name="fitmirror-display" `))
		meta, _, _ = bytes.Cut(meta, []byte(">"))
		for _, w := range tt.want {
			if !bytes.Contains(meta, []byte(w)) {
				t.Errorf("New(%+v): the page's settings %s lack %s", tt.opts, meta, w)
			}
		}
	}
}
