package framebuffer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/fitmirror/fitmirror/display"
)

// Photos opens stored photos by ID (session/store.Photos does).
type Photos interface {
	Open(id string) (io.ReadSeekCloser, error)
}

// Options configure a Framebuffer. Open does not modify them.
type Options struct {
	// Device is the framebuffer device, or a regular file that receives the frames (tests,
	// previews). "" means /dev/fb0.
	Device string
	// Geometry is the panel's size and pixel format. Required for a regular file; for a device
	// the zero value means: ask the device.
	Geometry Geometry
	// Sysfs is where the fbN folders are, for devices whose ioctl fails. "" means
	// /sys/class/graphics.
	Sysfs string
	// Rotation is how far, clockwise, the picture is turned on the panel: 0, 90, 180 or 270.
	// A landscape panel mounted as a portrait mirror needs 90 or 270.
	Rotation int
	// Font is a TTF/OTF/TTC file with CJK glyphs. "" means DefaultFont.
	Font string
	// Panel is the physical size, for sizing the QR code in millimetres. Zero: the code takes
	// about a third of the shorter side.
	Panel display.Panel
	// QRSizeMM is the QR code's physical width, quiet zone included, when Panel is known.
	// 0 means display.DefaultQRSizeMM.
	QRSizeMM float64
	// QRLevel is the error-correction level of the code. "" means display.DefaultQRLevel.
	QRLevel display.QRLevel
	// Wording is what the qr and bound scenes say (display.WordingLocal without WeChat); the
	// zero value is WeChat's.
	Wording display.Wording
	// Photos, when set, provides the photos of the review and compare scenes.
	Photos Photos
	// Now is the clock. nil means time.Now.
	Now func() time.Time
	// Logger receives errors. nil means slog.Default().
	Logger *slog.Logger
}

// Framebuffer draws Screens into a framebuffer. Show is safe for concurrent use; Run draws.
type Framebuffer struct {
	f     *os.File
	geo   Geometry
	rot   int
	tf    *typeface
	opts  Options // defaults filled in
	log   *slog.Logger
	wake  chan struct{}
	frame []byte

	mu     sync.Mutex
	cur    display.Screen
	qrSeen map[string]time.Time // when the current QR content was first drawn
	gest   gestureState         // the air buttons (ShowGestures)

	afterWrite func()       // tests and benchmarks: called after each frame is written
	accepting  atomic.Bool  // the last frame written was taken by the device
	lastOK     atomic.Int64 // unix nanos of the last frame taken
	failing    bool         // Run's: the last draw failed (logged once)

	drawMu sync.Mutex // one Render at a time
	canvas *image.RGBA
	photos map[photoKey]image.Image
}

var _ display.Renderer = (*Framebuffer)(nil)

type photoKey struct {
	id  string
	box image.Point
}

// Open opens the device (or file), reads its geometry and loads the font. It does not draw:
// the panel keeps what it shows until Run or Render.
func Open(opts Options) (*Framebuffer, error) {
	if opts.Device == "" {
		opts.Device = "/dev/fb0"
	}
	if opts.Sysfs == "" {
		opts.Sysfs = "/sys/class/graphics"
	}
	if opts.Font == "" {
		opts.Font = DefaultFont
	}
	if opts.QRSizeMM <= 0 {
		opts.QRSizeMM = display.DefaultQRSizeMM
	}
	if opts.QRLevel == "" {
		opts.QRLevel = display.DefaultQRLevel
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if !rotations[opts.Rotation] {
		return nil, fmt.Errorf("framebuffer: rotation %d: must be 0, 90, 180 or 270", opts.Rotation)
	}
	tf, err := loadFont(opts.Font)
	if err != nil {
		return nil, fmt.Errorf("framebuffer: %w", err)
	}

	st, err := os.Stat(opts.Device)
	regular := err == nil && st.Mode().IsRegular()
	if errors.Is(err, os.ErrNotExist) && opts.Geometry != (Geometry{}) {
		regular = true // a new file
	} else if err != nil {
		return nil, fmt.Errorf("framebuffer: %w", err)
	}
	flags := os.O_RDWR
	if regular {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(opts.Device, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("framebuffer: %w", err)
	}
	geo := opts.Geometry
	if geo == (Geometry{}) {
		if regular {
			f.Close()
			return nil, fmt.Errorf("framebuffer: %s is a regular file: Options.Geometry is required", opts.Device)
		}
		if geo, err = readGeometry(f, opts.Sysfs); err != nil {
			f.Close()
			return nil, fmt.Errorf("framebuffer: %s: %w", opts.Device, err)
		}
	}
	if geo.Stride == 0 {
		geo.Stride = geo.Width * geo.Format.BitsPerPixel / 8
	}
	if err := geo.check(); err != nil {
		f.Close()
		return nil, fmt.Errorf("framebuffer: %s: %w", opts.Device, err)
	}
	lw, lh := geo.Width, geo.Height
	if opts.Rotation == 90 || opts.Rotation == 270 {
		lw, lh = lh, lw
	}
	return &Framebuffer{
		f: f, geo: geo, rot: opts.Rotation, tf: tf, opts: opts, log: opts.Logger,
		wake:   make(chan struct{}, 1),
		frame:  make([]byte, geo.Stride*geo.Height),
		cur:    display.Idle,
		canvas: image.NewRGBA(image.Rect(0, 0, lw, lh)),
		photos: make(map[photoKey]image.Image),
	}, nil
}

// Geometry is the panel's geometry.
func (fb *Framebuffer) Geometry() Geometry { return fb.geo }

// Size is the size scenes are laid out at: the panel's, turned by the rotation.
func (fb *Framebuffer) Size() image.Point { return fb.canvas.Bounds().Size() }

// Show makes s the current Screen; Run draws it. It never blocks.
func (fb *Framebuffer) Show(s display.Screen) {
	if s.QR != nil {
		qr := *s.QR
		s.QR = &qr
	}
	fb.mu.Lock()
	fb.cur = s
	fb.mu.Unlock()
	select {
	case fb.wake <- struct{}{}:
	default:
	}
}

// Current returns the Screen shown last.
func (fb *Framebuffer) Current() display.Screen {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.cur
}

// Run draws the current Screen, then each new one, and redraws the QR scene every second for
// its countdown ring, until ctx ends; then it leaves a black frame (a plain mirror). A failed
// write is logged and tried again every second: the renderer keeps running.
func (fb *Framebuffer) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	fb.draw()
	for {
		select {
		case <-ctx.Done():
			if err := fb.Halt(); err != nil {
				fb.log.Error("framebuffer: blank on exit", "err", err)
			}
			return nil
		case <-fb.wake:
			fb.draw()
		case <-tick.C:
			if s := fb.Current(); s.Scene == display.SceneQR || !fb.accepting.Load() || fb.tickGone() {
				fb.draw() // the QR ring counts down; a fired button's tick goes; a failed frame is tried again
			}
		}
	}
}

func (fb *Framebuffer) draw() {
	s := fb.Current()
	err := fb.Render(s)
	switch {
	case err != nil && !fb.failing:
		fb.log.Error("framebuffer: draw", "scene", s.Scene, "err", err)
	case err == nil && fb.failing:
		fb.log.Info("framebuffer: frames are taken again", "scene", s.Scene)
	}
	fb.failing = err != nil
}

// Render draws s and writes it to the device now. Run calls it; tests and benchmarks may too.
func (fb *Framebuffer) Render(s display.Screen) error {
	fb.drawMu.Lock()
	defer fb.drawMu.Unlock()
	fb.paint(s)
	encode(fb.frame, fb.canvas, fb.geo.Width, fb.geo.Height, fb.geo.Stride, fb.geo.Format, fb.rot)
	if _, err := fb.f.WriteAt(fb.frame, 0); err != nil {
		fb.accepting.Store(false)
		return fmt.Errorf("framebuffer: write %s: %w", fb.opts.Device, err)
	}
	fb.accepting.Store(true)
	fb.lastOK.Store(time.Now().UnixNano())
	if fb.afterWrite != nil {
		fb.afterWrite()
	}
	return nil
}

// Accepting reports whether the device took the last frame written (false before the first).
func (fb *Framebuffer) Accepting() bool { return fb.accepting.Load() }

// TakesFrames returns when the device last took a frame: now while the last one was taken
// (the panel shows it), the last success after writes fail, the zero time before the first.
// The agent's display health reads it.
func (fb *Framebuffer) TakesFrames() time.Time {
	if fb.accepting.Load() {
		return time.Now()
	}
	if n := fb.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Halt writes a black frame: the glass is a plain mirror.
func (fb *Framebuffer) Halt() error { return fb.Render(display.Idle) }

// Close closes the device. It does not blank the panel (see Halt).
func (fb *Framebuffer) Close() error {
	if err := fb.f.Close(); err != nil {
		return fmt.Errorf("framebuffer: close: %w", err)
	}
	return nil
}

// paint draws s on the (black) canvas.
func (fb *Framebuffer) paint(s display.Screen) {
	clear(fb.canvas.Pix)
	for i := 3; i < len(fb.canvas.Pix); i += 4 {
		fb.canvas.Pix[i] = 0xff
	}
	now := fb.opts.Now()
	fb.mu.Lock()
	buttons := fb.airButtons(now)
	fb.mu.Unlock()
	p := &painter{dst: fb.canvas, gestures: buttons, tf: fb.tf, photo: fb.photo, now: now, words: fb.opts.Wording.Or(),
		ppmm: fb.opts.Panel.PixelsPerMM(fb.canvas.Bounds().Dx(), fb.canvas.Bounds().Dy()),
		qrMM: fb.opts.QRSizeMM, level: fb.opts.QRLevel}
	if s.QR != nil {
		p.issued = s.QR.IssuedAt
		if p.issued.IsZero() {
			p.issued = fb.firstSeen(s.QR.Content, now)
		}
	}
	p.paint(s)
}

func (fb *Framebuffer) firstSeen(content string, now time.Time) time.Time {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if t, ok := fb.qrSeen[content]; ok {
		return t
	}
	fb.qrSeen = map[string]time.Time{content: now} // only the current code is remembered
	return now
}

// photo returns photo id scaled to fit box, or nil when there is none. fb.drawMu is held.
func (fb *Framebuffer) photo(id string, box image.Point) image.Image {
	if id == "" || fb.opts.Photos == nil {
		return nil
	}
	key := photoKey{id, box}
	if img, ok := fb.photos[key]; ok {
		return img
	}
	r, err := fb.opts.Photos.Open(id)
	if err != nil {
		fb.log.Warn("framebuffer: photo", "photo_id", id, "err", err)
		return nil
	}
	defer r.Close()
	src, err := jpeg.Decode(r)
	if err != nil {
		fb.log.Warn("framebuffer: photo", "photo_id", id, "err", err)
		return nil
	}
	sb := src.Bounds()
	scale := min(float64(box.X)/float64(sb.Dx()), float64(box.Y)/float64(sb.Dy()))
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(sb.Dx())*scale)), max(1, int(float64(sb.Dy())*scale))))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, sb, xdraw.Src, nil)
	if len(fb.photos) >= 8 {
		clear(fb.photos) // photos change per session; a handful is all a scene needs
	}
	fb.photos[key] = dst
	return dst
}
