// Package displaytest has what tests of display renderers share: the same scenes for every
// renderer, an in-memory photo store, and a Recorder that keeps what it is shown.
package displaytest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// Photo IDs of the two photos NewPhotos holds.
const (
	PhotoA = "01JD0000000000000000000002"
	PhotoB = "01JD0000000000000000000003"
)

// QRContent is the code of the qr scene: a local photo page URL with a token.
const QRContent = "http://192.168.1.20:8080/p/01JD0000000000000000000002?k=Zm9v-YmFy_MTIz"

// ErrorMessage is the message of the error scene; markup in it must show as text.
const ErrorMessage = "摄像头没有画面 <b>camera</b> lost"

// Scene is one screen every renderer must show, and the words that must be on it.
type Scene struct {
	Name   string
	Screen display.Screen
	Texts  []string // zh-CN first, then English
}

// Scenes returns every scene, in the order of a session, ending with idle. The QR code was
// issued 30 s before now and expires 60 s after it (the ring is two thirds full). The qr and
// bound scenes say WeChat's words (display.WordingWeChat); ScenesWith takes another wording.
func Scenes(now time.Time) []Scene { return ScenesWith(now, display.WordingWeChat) }

// ScenesWith is Scenes with the qr and bound scenes in the wording w.
func ScenesWith(now time.Time, w display.Wording) []Scene {
	now = now.UTC().Truncate(time.Millisecond)
	qr := &display.QR{Content: QRContent, IssuedAt: now.Add(-30 * time.Second), ExpiresAt: now.Add(60 * time.Second)}
	return []Scene{
		{"idle", display.Idle, nil},
		{"welcome", display.Screen{Scene: display.SceneWelcome, SessionID: "s1"},
			[]string{"欢迎", "Welcome — stand still for a photo"}},
		{"countdown", display.Screen{Scene: display.SceneCountdown, SessionID: "s1", Countdown: 3}, []string{"3"}},
		{"review", display.Screen{Scene: display.SceneReview, SessionID: "s1", PhotoID: PhotoA},
			[]string{"拍好了", "Got it"}},
		{"qr", display.Screen{Scene: display.SceneQR, SessionID: "s1", PhotoID: PhotoA, QR: qr},
			[]string{w.ScanZh1 + w.ScanZh2, w.ScanEn, "剩余", "秒", "s left"}},
		{"bound", display.Screen{Scene: display.SceneBound, SessionID: "s1", PhotoID: PhotoA},
			[]string{w.BoundZh, w.BoundEn}},
		{"compare", display.Screen{Scene: display.SceneCompare, SessionID: "s1", PhotoID: PhotoA, CompareID: PhotoB},
			[]string{"对比", "Compare"}},
		{"goodbye", display.Screen{Scene: display.SceneGoodbye}, []string{"谢谢光临", "Thank you"}},
		{"error", display.Screen{Scene: display.SceneError, SessionID: "s1", Message: ErrorMessage},
			[]string{"出了点问题", "Something went wrong", ErrorMessage}},
	}
}

// Photos is an in-memory photo store: JPEG bytes by photo ID.
type Photos map[string][]byte

// NewPhotos returns a store with PhotoA and PhotoB: 480×640 portrait pictures, distinct and
// the same on every run.
func NewPhotos() Photos {
	return Photos{
		PhotoA: picture(480, 640, color.RGBA{0xc0, 0x50, 0x40, 0xff}),
		PhotoB: picture(480, 640, color.RGBA{0x40, 0x70, 0xc0, 0xff}),
	}
}

// Open returns the photo, or an error wrapping fs.ErrNotExist.
func (p Photos) Open(id string) (io.ReadSeekCloser, error) {
	b, ok := p[id]
	if !ok {
		return nil, fmt.Errorf("photo %s: %w", id, fs.ErrNotExist)
	}
	return readSeekCloser{bytes.NewReader(b)}, nil
}

type readSeekCloser struct{ *bytes.Reader }

func (readSeekCloser) Close() error { return nil }

// picture draws a figure in a frame: a light background, a body of colour c, a head.
func picture(w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			col := color.RGBA{0xe8, 0xe4, 0xdc, 0xff}
			dx, dy := x-w/2, y-h/4
			switch {
			case dx*dx+dy*dy < (w/8)*(w/8):
				col = color.RGBA{0xe0, 0xb0, 0x90, 0xff}
			case y > h/3 && x > w/4 && x < 3*w/4:
				col = c
			}
			img.SetRGBA(x, y, col)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		panic(err) // cannot fail on a bytes.Buffer
	}
	return buf.Bytes()
}

// Recorder is a display.Renderer that keeps every Screen it is shown.
type Recorder struct {
	mu      sync.Mutex
	screens []display.Screen
}

var _ display.Renderer = (*Recorder)(nil)

// Show records s.
func (r *Recorder) Show(s display.Screen) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.screens = append(r.screens, s)
}

// Screens returns a copy of what was shown, in order.
func (r *Recorder) Screens() []display.Screen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]display.Screen(nil), r.screens...)
}
