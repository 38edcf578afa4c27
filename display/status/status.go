package status

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/lan"
)

// Drawer is a small display, in the shape of periph's display.Drawer (ssd1306.Dev is one).
type Drawer interface {
	Bounds() image.Rectangle
	Draw(r image.Rectangle, src image.Image, sp image.Point) error
}

// Options configure a Status. New does not modify them.
type Options struct {
	// DeviceID is shown on the first line.
	DeviceID string
	// IP returns the address shown on the second line. nil means lan.Address: the machine's
	// LAN address by the same rule as the QR codes' photo page URL.
	IP func() string
	// Refresh is how often the IP is read again and the display redrawn. 0 means 30s.
	Refresh time.Duration
	// Logger receives draw errors. nil means slog.Default().
	Logger *slog.Logger
}

// Info is what the status display shows.
type Info struct {
	DeviceID, IP, State, LastError string
}

// Status draws Info on a small display. Show and SetError are safe for concurrent use.
type Status struct {
	d       Drawer
	opts    Options
	log     *slog.Logger
	wake    chan struct{}
	drawMu  sync.Mutex
	mu      sync.Mutex
	state   string
	lastErr string
}

var _ display.Renderer = (*Status)(nil)

// New returns a Status drawing on d.
func New(d Drawer, opts Options) *Status {
	s := &Status{d: d, opts: opts, log: opts.Logger, wake: make(chan struct{}, 1), state: display.SceneIdle}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.IP == nil {
		s.opts.IP = lan.Address // the address the QR codes use
	}
	if s.opts.Refresh <= 0 {
		s.opts.Refresh = 30 * time.Second
	}
	return s
}

// OpenSSD1306 opens a 128×64 SSD1306 at address 0x3C on bus and returns a Status on it.
func OpenSSD1306(bus i2c.Bus, opts Options) (*Status, error) {
	dev, err := ssd1306.NewI2C(bus, &ssd1306.Opts{W: 128, H: 64}) // a fresh Opts: NewI2C may keep it
	if err != nil {
		return nil, fmt.Errorf("status: ssd1306: %w", err)
	}
	return New(dev, opts), nil
}

// Show records the scene as the state (and an error scene's message as the last error); Run
// redraws. It never blocks.
func (s *Status) Show(sc display.Screen) {
	s.mu.Lock()
	s.state = sc.Scene
	if msg := sc.Text(); sc.Scene == display.SceneError && msg != "" {
		s.lastErr = msg
	}
	s.mu.Unlock()
	s.poke()
}

// SetError records err as the last error (nil keeps the previous one); Run redraws.
func (s *Status) SetError(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
	s.poke()
}

func (s *Status) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Info returns what the display shows now.
func (s *Status) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Info{DeviceID: s.opts.DeviceID, IP: s.opts.IP(), State: s.state, LastError: s.lastErr}
}

// Run draws now, on every change and every Options.Refresh until ctx ends. Draw errors (a loose
// wire) are logged and retried on the next change.
func (s *Status) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		if err := s.Render(); err != nil {
			s.log.Warn("status: draw", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Render draws the current Info now.
func (s *Status) Render() error {
	s.drawMu.Lock()
	defer s.drawMu.Unlock()
	img := Draw(s.Info(), s.d.Bounds())
	if err := s.d.Draw(s.d.Bounds(), img, img.Bounds().Min); err != nil {
		return fmt.Errorf("status: draw: %w", err)
	}
	return nil
}

// Draw renders info as a 1-bit image of size r: four lines of 7×13 ASCII (other characters
// show as '?'), each cut to the width.
func Draw(info Info, r image.Rectangle) *image1bit.VerticalLSB {
	img := image1bit.NewVerticalLSB(r)
	draw.Draw(img, r, &image.Uniform{image1bit.Off}, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	cols := r.Dx() / face.Advance
	lines := []string{
		"ID " + orDash(info.DeviceID),
		"IP " + orDash(info.IP),
		"ST " + orDash(info.State),
		"ER " + orDash(info.LastError),
	}
	d := font.Drawer{Dst: img, Src: &image.Uniform{color.White}, Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(r.Min.X, r.Min.Y+face.Ascent+i*(face.Height+3))
		d.DrawString(fit(l, cols))
	}
	return img
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fit replaces what the 7×13 font lacks with '?' and cuts s to n characters.
func fit(s string, n int) string {
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i == n {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
		i++
	}
	return b.String()
}
