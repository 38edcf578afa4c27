package kiosk

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/display"
)

const zbarimg = "/usr/bin/zbarimg" // Debian zbar-tools

func getQR(t *testing.T, srv *httptest.Server, query string) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/qr.png?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// scan decodes the QR code in the PNG with zbarimg, an independent decoder.
func scan(t *testing.T, pngData []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, pngData, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg --raw -q %s: %v", file, err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

func TestQRDecodesToContent(t *testing.T) {
	srv := httptest.NewServer(New(Options{Logger: discardLogger()}).Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name, content string
		m             string // pixels per module; "" = default
		wantPx        int
	}{
		{"wechat ticket", "http://weixin.qq.com/q/02Vw2GRH0zd3h1Mx5n1xxx", "", 10},
		{"local photo page with token", "http://192.168.1.20:8080/p/01JD0000000000000000000002?k=Zm9v-YmFy_MTIz&x=1", "", 10},
		{"utf-8", "照片发送到你的微信 fitmirror ✓", "", 10},
		{"reserved characters", "a b&c=d#e%f+g?h", "", 10},
		{"smallest modules", "http://weixin.qq.com/q/02abc", "2", 2},
		{"odd modules", "http://weixin.qq.com/q/02abc", "3", 3},
		{"largest modules", "x", "40", 40},
		{"1024 bytes", longURL(maxQRContent), "4", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.content) > maxQRContent {
				t.Fatalf("test content has %d bytes, over the limit %d", len(tt.content), maxQRContent)
			}
			q := url.Values{"c": {tt.content}}
			if tt.m != "" {
				q.Set("m", tt.m)
			}
			resp, body := getQR(t, srv, q.Encode())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("Get(%q) = %d %s, want 200", q.Encode(), resp.StatusCode, body)
			}
			for header, want := range map[string]string{"Content-Type": "image/png", "Cache-Control": "no-store"} {
				if got := resp.Header.Get(header); got != want {
					t.Errorf("Get(%q) %s = %q, want %q", q.Encode(), header, got, want)
				}
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("Get(%q): decode PNG: %v", q.Encode(), err)
			}
			checkModules(t, img, tt.wantPx)
			if got := scan(t, body); got != tt.content {
				t.Errorf("zbarimg(Get(%q)) = %q, want %q", q.Encode(), got, tt.content)
			}
		})
	}
}

// longURL returns a photo page URL of n bytes.
func longURL(n int) string {
	const prefix, suffix = "http://192.168.1.20:8080/p/", "?k=token"
	return prefix + strings.Repeat("0123456789abcdef", n/16)[:n-len(prefix)-len(suffix)] + suffix
}

// checkModules checks that img is a pixel-exact QR code: only pure black and white, square
// modules of px×px pixels, a symbol size of 21+4k modules and a white quiet zone of 4 modules.
func checkModules(t *testing.T, img image.Image, px int) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != b.Dy() || b.Dx()%px != 0 {
		t.Fatalf("image is %dx%d, want a square of whole %d px modules", b.Dx(), b.Dy(), px)
	}
	modules := b.Dx() / px
	if symbol := modules - 2*4; symbol < 21 || (symbol-21)%4 != 0 {
		t.Fatalf("image has %d modules across, want 21+4k plus a quiet zone of 2×4", modules)
	}

	dark := func(x, y int) bool {
		r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		switch {
		case a == 0xffff && r == 0 && g == 0 && bl == 0:
			return true
		case a == 0xffff && r == 0xffff && g == 0xffff && bl == 0xffff:
			return false
		}
		t.Fatalf("pixel (%d,%d) = %v, want pure black or white", x, y, img.At(b.Min.X+x, b.Min.Y+y))
		return false
	}
	var darkModules int
	for my := 0; my < modules; my++ {
		for mx := 0; mx < modules; mx++ {
			d := dark(mx*px, my*px)
			for y := my * px; y < (my+1)*px; y++ {
				for x := mx * px; x < (mx+1)*px; x++ {
					if dark(x, y) != d {
						t.Fatalf("module (%d,%d) is not uniform at pixel (%d,%d)", mx, my, x, y)
					}
				}
			}
			quiet := mx < 4 || my < 4 || mx >= modules-4 || my >= modules-4
			if quiet && d {
				t.Fatalf("module (%d,%d) in the quiet zone is black, want white", mx, my)
			}
			if d {
				darkModules++
			}
		}
	}
	// The top left finder pattern starts with a dark module right inside the quiet zone:
	// dark modules on a light ground, as scanners expect.
	if !dark(4*px, 4*px) {
		t.Errorf("module (4,4) is white, want the black corner of the finder pattern")
	}
	if darkModules == 0 {
		t.Errorf("no dark modules")
	}
}

func TestQRBadRequests(t *testing.T) {
	srv := httptest.NewServer(New(Options{Logger: discardLogger()}).Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name, query string
	}{
		{"no content", ""},
		{"empty content", "c="},
		{"other parameter only", "content=x"},
		{"1025 bytes", url.Values{"c": {longURL(maxQRContent + 1)}}.Encode()},
		{"1025 bytes of UTF-8", url.Values{"c": {strings.Repeat("照", 341) + "ab"}}.Encode()},
		{"m too small", "c=x&m=1"},
		{"m too large", "c=x&m=41"},
		{"m zero", "c=x&m=0"},
		{"m negative", "c=x&m=-5"},
		{"m not a number", "c=x&m=ten"},
		{"bad escape", "c=%zz"},
		{"semicolon", "c=x;y"},
		{"w zero", "c=x&w=0"},
		{"w too large", "c=x&w=8193"},
		{"w not a number", "c=x&w=wide"},
		{"w and m", "c=x&w=200&m=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := getQR(t, srv, tt.query)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("Get(%q) = %d %q, want %d", "/qr.png?"+tt.query, resp.StatusCode, body, http.StatusBadRequest)
			}
		})
	}
}

// TestQRWidth: with w the code gets the largest whole scale that fits (at least 2), at the
// kiosk's error-correction level.
func TestQRWidth(t *testing.T) {
	const content = "http://weixin.qq.com/q/02Vw2GRH0zd3h1Mx5n1xxx"
	for _, level := range []display.QRLevel{display.QRLevelL, display.QRLevelQ, display.QRLevelH} {
		modules, err := display.QRModules(content, level)
		if err != nil {
			t.Fatal(err)
		}
		side := len(modules)
		srv := httptest.NewServer(New(Options{Logger: discardLogger(), QRLevel: level}).Handler())
		for _, w := range []int{1, side*2 - 1, side * 5, side*5 + side - 1, 600} {
			resp, body := getQR(t, srv, url.Values{"c": {content}, "w": {strconv.Itoa(w)}}.Encode())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("level %s w=%d: %d %s", level, w, resp.StatusCode, body)
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			want := max(w/side, minQRPx)
			if got := img.Bounds().Dx(); got != want*side {
				t.Errorf("level %s w=%d: image is %d px, want %d (%d modules × %d)", level, w, got, want*side, side, want)
			}
			checkModules(t, img, want)
			if got := scan(t, body); got != content {
				t.Errorf("level %s w=%d: zbarimg = %q, want %q", level, w, got, content)
			}
		}
		srv.Close()
	}
}
