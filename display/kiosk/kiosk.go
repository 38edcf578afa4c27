package kiosk

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/display"
)

// Options configure a Kiosk. The zero value is ready to use.
type Options struct {
	// Logger receives connection and error logs. nil means slog.Default().
	Logger *slog.Logger
	// Heartbeat is the interval of the ": ping" comments on /events, which keep proxies and idle
	// timeouts from closing the stream. 0 means 15s.
	Heartbeat time.Duration
	// Photos, when set, lets the page show the photos of the review and compare scenes: the
	// kiosk serves GET /photos/{id}.jpg for the photo IDs of the current Screen (and no others).
	// session/store.Photos fits. nil: those scenes show their words only.
	Photos Photos
	// Panel is the display's physical size. When known, the page sizes the QR code to
	// QRSizeMM millimetres (at most about a third of the shorter side).
	Panel display.Panel
	// QRSizeMM is the QR code's physical width, quiet zone included. 0 means
	// display.DefaultQRSizeMM.
	QRSizeMM float64
	// QRLevel is the QR codes' error-correction level. "" means display.DefaultQRLevel (Q).
	QRLevel display.QRLevel
	// Wording is what the QR and bound scenes say (display.WordingLocal without WeChat). The
	// zero value is WeChat's.
	Wording display.Wording
}

// Photos opens stored photos by ID.
type Photos interface {
	Open(id string) (io.ReadSeekCloser, error)
}

const (
	defaultHeartbeat = 15 * time.Second
	// queueSize is how many Screens a page may fall behind before its oldest are dropped.
	queueSize = 64
)

// Kiosk is the kiosk web renderer. It is safe for concurrent use.
type Kiosk struct {
	log       *slog.Logger
	heartbeat time.Duration
	handler   http.Handler
	photos    Photos
	qrLevel   display.QRLevel
	index     []byte // web/index.html with the display settings filled in

	mu      sync.Mutex
	cur     display.Screen // a private copy, see clone
	curJSON []byte
	subs    map[*subscriber]struct{}
	gest    gestureState  // the air buttons' feedback (ShowGestures)
	left    time.Time     // when the last page left
	done    chan struct{} // closed by Close
	closed  bool
}

var _ display.Renderer = (*Kiosk)(nil)

// subscriber is one open /events stream.
type subscriber struct {
	// ch holds the encoded Screens not yet written. Only Show sends (holding Kiosk.mu), so after
	// it drops the oldest entry of a full queue there is room for the newest.
	ch      chan []byte
	lagging bool // guarded by Kiosk.mu: dropping Screens since the last clean send
	// gest holds the air buttons' feedback frames not yet written (guarded by Kiosk.mu): the
	// newest, and an unsent one in which a button fired. gestReady says there are some.
	gest      []gestureFrame
	gestReady chan struct{}
}

// New returns a Kiosk that shows display.Idle until the first Show.
func New(opts Options) *Kiosk {
	k := &Kiosk{
		log:       opts.Logger,
		heartbeat: opts.Heartbeat,
		subs:      make(map[*subscriber]struct{}),
		done:      make(chan struct{}),
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	if k.heartbeat <= 0 {
		k.heartbeat = defaultHeartbeat
	}
	k.photos = opts.Photos
	k.qrLevel = opts.QRLevel
	if k.qrLevel == "" {
		k.qrLevel = display.DefaultQRLevel
	}
	qrMM := opts.QRSizeMM
	if qrMM <= 0 {
		qrMM = display.DefaultQRSizeMM
	}
	w := opts.Wording.Or()
	k.index = pageWithSettings(pageSettings{QRSizeMM: qrMM, DPI: opts.Panel.DPI, DiagonalIn: opts.Panel.DiagonalIn,
		Words: words{ScanZh1: w.ScanZh1, ScanZh2: w.ScanZh2, ScanEn: w.ScanEn, BoundZh: w.BoundZh, BoundEn: w.BoundEn}})
	k.cur = clone(display.Idle)
	k.curJSON, _ = json.Marshal(k.cur) // cannot fail: no time in display.Idle
	k.handler = k.routes()
	return k
}

// Show makes s the current Screen and queues it for every open page. It never blocks on a page.
// The Kiosk keeps its own copy of s. A Screen that cannot be encoded as JSON (a QR expiry outside
// years 0–9999) is logged and ignored.
func (k *Kiosk) Show(s display.Screen) {
	s = clone(s)
	s.Message = s.Text() // the page shows the words of the screen's message code
	b, err := json.Marshal(s)
	if err != nil {
		k.log.Error("kiosk: encode screen", "scene", s.Scene, "err", err)
		return
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur, k.curJSON = s, b
	for sub := range k.subs {
		k.enqueue(sub, b)
	}
	k.log.Debug("kiosk: show", "scene", s.Scene, "pages", len(k.subs))
}

// enqueue queues b for sub, dropping its oldest queued Screen when the queue is full.
// k.mu must be held.
func (k *Kiosk) enqueue(sub *subscriber, b []byte) {
	select {
	case sub.ch <- b:
		sub.lagging = false
		return
	default:
	}
	select {
	case <-sub.ch:
	default: // the page took one meanwhile
	}
	sub.ch <- b // room: only Show sends, and it holds k.mu
	if !sub.lagging {
		sub.lagging = true
		k.log.Warn("kiosk: page falls behind, dropping its oldest screens", "queue", queueSize)
	}
}

// reloadEvent in a page's queue is the reload event (a Screen is a JSON object, never this).
var reloadEvent = []byte("reload")

// Reload asks every open page to load itself again (the fleet's reload-kiosk command: a page
// that shows something stale, or new assets after an update): the stream sends "event:
// reload", on which the page reloads and reconnects. It returns how many pages were asked.
func (k *Kiosk) Reload() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	for sub := range k.subs {
		k.enqueue(sub, reloadEvent)
	}
	k.log.Info("kiosk: pages asked to reload", "pages", len(k.subs))
	return len(k.subs)
}

// Current returns the Screen shown last (display.Idle before the first Show).
func (k *Kiosk) Current() display.Screen {
	k.mu.Lock()
	defer k.mu.Unlock()
	return clone(k.cur)
}

// Close ends every open /events stream, and answers later ones with 503, so that
// http.Server.Shutdown can finish (register it with RegisterOnShutdown). The pages keep their
// last Screen for a few seconds, then turn black until an agent answers again. Show and the other
// routes keep working. Close always returns nil.
func (k *Kiosk) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		close(k.done)
	}
	return nil
}

// subscribe registers a new page whose queue starts with the current Screen, so that it gets the
// current Screen first and then every later Show, in order. It reports false after Close.
func (k *Kiosk) subscribe() (*subscriber, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, false
	}
	sub := &subscriber{ch: make(chan []byte, queueSize), gestReady: make(chan struct{}, 1)}
	sub.ch <- k.curJSON
	if len(k.gest.throttle.Shown().Buttons) > 0 {
		sub.pushGesture(gestureFrame{data: k.gest.json})
	}
	k.subs[sub] = struct{}{}
	return sub, true
}

func (k *Kiosk) unsubscribe(sub *subscriber) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.subs, sub)
	if len(k.subs) == 0 {
		k.left = time.Now()
	}
}

// Pages returns the number of pages attached: open /events streams.
func (k *Kiosk) Pages() int { return k.subscribers() }

// Attached returns when a page was last attached: now while one is, the moment the last one
// left otherwise, and the zero time if none ever was. The agent's display health reads it
// (no page for a while means nothing shows on the glass).
func (k *Kiosk) Attached() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.subs) > 0 {
		return time.Now()
	}
	return k.left
}

// subscribers returns the number of open /events streams.
func (k *Kiosk) subscribers() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.subs)
}

// clone returns s with its own copy of the QR, so that callers may reuse theirs.
func clone(s display.Screen) display.Screen {
	if s.QR != nil {
		qr := *s.QR
		s.QR = &qr
	}
	return s
}
