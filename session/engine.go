// Package session is the heart of the mirror: it turns presence decisions (made by the vision
// pipeline, the one owner of presence: Observation.Change) into sessions, takes photos,
// shows a QR code for each, and reacts when a shopper scans one. It is pure Go (no cgo):
// the camera, the QR provider, the store and the screen are small interfaces declared here.
//
//	         Entered            welcome shown, then still (auto)     each second
//	  idle ──────────▶ welcome ──────────────────────────────▶ countdown ─────────▶ capturing
//	   ▲                  ▲        trigger (button, gesture, tap)  ▲                    │ photo stored
//	   │                  │ capture failed                         │ trigger            ▼
//	   │                error ◀── QR provider down (retried) ◀── review ◀──────────────┘
//	   │                  │ provider back                          │ QR ready and review over
//	   │                  ▼                                        ▼
//	   │ goodbye ends     qr (renewed before expiry) ── scan ──▶ bound
//	goodbye ◀── Left         │ ▲ compare                         │ compare
//	   (from any state)      ▼ │                                 ▼
//	                        compare (current photo beside an earlier one; trigger → countdown)
//
// Left (the shopper is gone for the exit grace) closes the session from any state: the QR is
// withdrawn, the goodbye screen shows, and photos nobody scanned are purged after a grace.
// A shopper leaving during the countdown gets no photo. Every transition emits an Event
// (session.opened, photo.captured, qr.shown, photo.bound, session.closed, …) that the agent
// records in the durable outbox.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// Camera takes a full-resolution photo of what the camera sees now.
type Camera interface {
	Capture(ctx context.Context) (jpeg []byte, width, height int, err error)
}

// PhotoStore keeps captured photos.
type PhotoStore interface {
	Put(id string, jpeg []byte) error
	Delete(id string) error
}

// Provider issues the QR code for a photo (the local photo page, or the WeChat hub). ttl is
// how long the code must work: the engine's Config.QRTTL in force when it asks, so that a
// changed session.qr_ttl takes effect on the next code.
type Provider interface {
	QR(ctx context.Context, p Photo, ttl time.Duration) (display.QR, error)
}

// Photo is one captured photo.
type Photo struct {
	ID         string
	SessionID  string
	CapturedAt time.Time
	Width      int
	Height     int
	Bytes      int
}

// Event is something that happened, for the fleet's event stream (docs/contracts.md §1).
type Event struct {
	Type      string
	At        time.Time
	SessionID string
	PhotoID   string
	Data      any // the event type's data type from internal/wire (wire.SessionClosed, …); nil: none
}

// Config times the session's screens. Zero durations are allowed (tests); use DefaultConfig.
type Config struct {
	// Welcome is how long the welcome screen shows before an automatic countdown.
	Welcome time.Duration
	// AutoCapture starts the countdown by itself once the welcome has shown and the shopper
	// has held still for StillFor (the face moved less than a fifth of its width).
	AutoCapture bool
	// StillFor is how long the shopper must hold still for an automatic photo.
	StillFor time.Duration
	// Countdown is the number of seconds counted down before a photo.
	Countdown int
	// Review is how long the fresh photo is acknowledged before its QR code shows.
	Review time.Duration
	// QRTTL is how long a QR code works; it is renewed while on screen.
	QRTTL time.Duration
	// QRRetry is the wait before asking the provider again after it failed.
	QRRetry time.Duration
	// Goodbye is how long the goodbye screen shows before the mirror goes black.
	Goodbye time.Duration
	// UnboundGrace keeps photos nobody scanned for this long after the session closes
	// (a scan made just before leaving can still arrive), then purges them.
	UnboundGrace time.Duration
	// QRLinger keeps a QR code on screen this long after its shopper left (the photo itself is
	// no longer shown), unless someone new arrives: shoppers step back to find their phone. A
	// scan meanwhile binds and shows ✓. 0: the mirror says goodbye at once.
	QRLinger time.Duration
}

// DefaultConfig is the embedded default.
var DefaultConfig = Config{
	Welcome:      1500 * time.Millisecond,
	AutoCapture:  true,
	StillFor:     time.Second,
	Countdown:    3,
	Review:       1200 * time.Millisecond,
	QRTTL:        5 * time.Minute,
	QRRetry:      5 * time.Second,
	Goodbye:      2500 * time.Millisecond,
	UnboundGrace: 30 * time.Second,
	QRLinger:     30 * time.Second,
}

// Options wires an Engine. Camera, Store, Provider and Screen are required.
type Options struct {
	Config   Config
	Camera   Camera
	Store    PhotoStore
	Provider Provider
	Screen   display.Renderer
	Events   func(Event)   // nil: events are only logged
	Inputs   *Inputs       // the input queue the feeding parts hold; nil: a queue of its own
	Logger   *slog.Logger  // nil: slog.Default()
	NewID    func() string // nil: ULIDs
	// Clock is the engine's time (events, timeouts); nil: the wall clock. Replay passes a
	// ManualClock on media time.
	Clock Clock
}

// Stats are the engine's counters since start.
type Stats struct {
	Sessions, Photos, QRShown, Bound, Purged int64
}

// state is where the engine is. Some states share a public name (the scene on screen, the
// state in telemetry) but differ in what comes next: stReady is a welcome whose time is up,
// stAwaitQR a review that waits for its code, stCaptureFailed and stQRUnavailable are errors.
// A state may time out once (Engine.timeout); what then happens is the state's own:
//
//	state            timeout                    then
//	welcome          Config.Welcome (auto only)  ready
//	ready            —                          countdown once the shopper holds still
//	countdown        1 s                        countdown (one less) or capturing
//	capturing        —                          review, or captureFailed
//	review           Config.Review              qr when the code is there, else awaitQR
//	awaitQR          —                          qr when the code arrives
//	qr               renewal (or QRRetry)       a new code is asked for; the screen stays
//	bound            —
//	captureFailed    3 s                        welcome (no automatic photo)
//	qrUnavailable    Config.QRRetry             the code is asked for again
//	compare          —
//	goodbye          Config.Goodbye             idle
//	linger           Config.QRLinger            idle (no session: the shopper left a QR code unscanned)
type state int

const (
	stIdle state = iota
	stWelcome
	stReady
	stCountdown
	stCapturing
	stReview
	stAwaitQR
	stQR
	stBound
	stCaptureFailed
	stQRUnavailable
	stGoodbye
	stCompare
	stLinger
)

var stateNames = [...]string{"idle", "welcome", "welcome", "countdown", "capturing", "review", "review", "qr", "bound",
	"error", "error", "goodbye", "compare", "qr"}

// String is the state's public name (Snapshot.State).
func (s state) String() string { return stateNames[s] }

// captureFailedFor is how long the capture-failed error shows before the welcome.
const captureFailedFor = 3 * time.Second

type photoRec struct {
	Photo
	qr        *display.QR
	qrShownAt time.Time
	qrPending bool
	bound     bool
	purgeAt   time.Time // set once its session closed and it is unbound
}

type sess struct {
	id     string
	opened time.Time
	photos []*photoRec
	cur    *photoRec // the photo on screen (review/qr/bound)
}

// input is anything that reaches the engine's loop.
type input interface{}

type (
	obsIn      Observation
	triggerIn  struct{ source string }
	bindIn     struct{ photoID, event string }
	configIn   Config
	capturedIn struct {
		sessionID string
		photo     Photo
		err       error
	}
	qrIn struct {
		photoID string
		qr      display.QR
		err     error
	}
	snapshotIn chan Snapshot
	compareIn  struct{}
	endIn      struct{ reason string }
	purgeIn    chan int
)

// Snapshot is the engine's state, for telemetry and tests.
type Snapshot struct {
	State     string
	SessionID string
	Screen    display.Screen
}

// Engine runs sessions. Create it with New, start it with Run; its methods are safe for
// concurrent use and may be called before Run starts.
type Engine struct {
	opts Options
	cfg  Config
	log  *slog.Logger
	in   *Inputs

	stats struct{ sessions, photos, qrShown, bound, purged atomic.Int64 }

	// owned by the Run goroutine
	ctx       context.Context
	wg        sync.WaitGroup
	st        state
	timeout   time.Time // when st times out (see state); zero: it does not
	sess      *sess
	closed    []*photoRec // unbound photos of closed sessions, waiting for purge
	linger    *photoRec   // the closed session's photo whose code still shows (stLinger)
	countdown int
	// automatic photo: the shopper's face has been still since stillSince
	stillRef   image.Rectangle
	stillSince time.Time
	screen     display.Screen
}

// New returns an engine; it does nothing until Run.
func New(opts Options) (*Engine, error) {
	if opts.Camera == nil || opts.Store == nil || opts.Provider == nil || opts.Screen == nil {
		return nil, errors.New("session: Camera, Store, Provider and Screen are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NewID == nil {
		opts.NewID = func() string { return ulid.Make().String() }
	}
	if opts.Clock == nil {
		opts.Clock = WallClock{}
	}
	if opts.Inputs == nil {
		opts.Inputs = NewInputs()
	}
	return &Engine{
		opts: opts,
		cfg:  opts.Config,
		log:  opts.Logger,
		in:   opts.Inputs,
	}, nil
}

// Observe feeds one vision observation. It blocks while the engine is busy (back-pressure on
// the camera loop) and returns when ctx ends.
func (e *Engine) Observe(ctx context.Context, o Observation) { e.send(ctx, obsIn(o)) }

// Trigger asks for a photo (button, gesture, tap); source names which, for the logs.
func (e *Engine) Trigger(ctx context.Context, source string) { e.send(ctx, triggerIn{source}) }

// Bind reports that a shopper scanned the QR code of photoID; event is "subscribe", "SCAN"
// or "local". A photo is bound once; later bindings for it, and bindings for photos no longer
// kept, are ignored.
func (e *Engine) Bind(ctx context.Context, photoID, event string) {
	e.send(ctx, bindIn{photoID, event})
}

// SetConfig changes the configuration live (screen timings).
func (e *Engine) SetConfig(ctx context.Context, c Config) { e.send(ctx, configIn(c)) }

// Snapshot returns the current state; ok is false when ctx ended first.
func (e *Engine) Snapshot(ctx context.Context) (Snapshot, bool) {
	ch := make(chan Snapshot, 1)
	e.send(ctx, snapshotIn(ch))
	select {
	case s := <-ch:
		return s, true
	case <-ctx.Done():
		return Snapshot{}, false
	}
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	return Stats{e.stats.sessions.Load(), e.stats.photos.Load(), e.stats.qrShown.Load(),
		e.stats.bound.Load(), e.stats.purged.Load()}
}

func (e *Engine) send(ctx context.Context, in input) { e.in.send(ctx, in) }

// Run drives sessions until ctx ends; then it closes an open session ("shutdown"), purges
// photos nobody scanned, shows the idle screen, and waits for capture and QR work in flight.
func (e *Engine) Run(ctx context.Context) error {
	workCtx, cancel := context.WithCancel(context.Background())
	e.ctx = workCtx
	defer func() {
		cancel()
		e.wg.Wait()
	}()
	e.show(display.Idle)
	clock := e.opts.Clock
	for {
		var tc <-chan time.Time
		stop := func() {}
		if d := e.nextDeadline(); !d.IsZero() {
			tc, stop = clock.At(d)
		}
		select {
		case <-ctx.Done():
			stop()
			now := clock.Now()
			if e.sess != nil {
				e.closeSession(now, "shutdown")
			}
			e.purgeDue(now, true)
			e.show(display.Idle)
			return nil
		case in := <-e.in.ch:
			now := clock.Now()
			if d := e.nextDeadline(); !d.IsZero() && !now.Before(d) {
				// A timeout that came before this input is handled first: on a manual clock
				// (replay) the timer and the input may be ready together, and the order must
				// not depend on which the select picks.
				e.tick(now)
			}
			e.handle(now, in)
		case <-tc:
			e.tick(clock.Now())
		}
		stop()
	}
}

func (e *Engine) nextDeadline() time.Time {
	d := e.timeout
	for _, p := range e.closed {
		if d.IsZero() || p.purgeAt.Before(d) {
			d = p.purgeAt
		}
	}
	return d
}

func (e *Engine) handle(now time.Time, in input) {
	switch in := in.(type) {
	case obsIn:
		e.trackStill(Observation(in))
		switch in.Change { // the vision pipeline decides presence; the engine follows
		case Entered:
			e.openSession(now)
		case Left:
			if e.sess != nil {
				e.closeSession(now, "absent")
			}
		}
	case triggerIn:
		e.onTrigger(now, in.source)
	case bindIn:
		e.onBind(now, in.photoID, in.event)
	case configIn:
		e.cfg = Config(in)
	case capturedIn:
		e.onCaptured(now, in)
	case qrIn:
		e.onQR(now, in)
	case compareIn:
		e.onCompare(now)
	case endIn:
		if e.sess != nil {
			e.closeSession(now, in.reason)
		}
	case purgeIn:
		in <- e.purgeAll(now)
	case snapshotIn:
		s := Snapshot{State: e.st.String(), Screen: e.screen}
		if e.sess != nil {
			s.SessionID = e.sess.id
		}
		in <- s
	}
}

// enter makes st the state, timing out at timeout (zero: never).
func (e *Engine) enter(st state, timeout time.Time) {
	e.st, e.timeout = st, timeout
}

// tick runs when the state's timeout has come (and purges photos whose grace is over).
func (e *Engine) tick(now time.Time) {
	e.purgeDue(now, false)
	if e.timeout.IsZero() || now.Before(e.timeout) {
		return
	}
	e.timeout = time.Time{}
	switch e.st {
	case stWelcome:
		e.enter(stReady, time.Time{})
		e.maybeAutoCapture(now)
	case stCountdown:
		e.countdown--
		if e.countdown > 0 {
			e.show(display.Screen{Scene: display.SceneCountdown, SessionID: e.sess.id, Countdown: e.countdown})
			e.timeout = now.Add(time.Second)
			return
		}
		e.capture()
	case stReview:
		if e.sess.cur.qr != nil {
			e.showQR(now)
		} else {
			e.enter(stAwaitQR, time.Time{})
		}
	case stQR:
		e.refreshQR(now)
	case stQRUnavailable:
		if e.sess.cur != nil {
			e.requestQR(e.sess.cur)
		}
	case stCaptureFailed:
		e.enter(stWelcome, time.Time{}) // no automatic retry loop on a broken camera; a button or tap still works
		e.show(display.Screen{Scene: display.SceneWelcome, SessionID: e.sess.id})
	case stGoodbye, stLinger:
		e.linger = nil
		e.enter(stIdle, time.Time{})
		e.show(display.Idle)
	}
}

func (e *Engine) openSession(now time.Time) {
	e.linger = nil // someone new: a lingering code gives way
	e.sess = &sess{id: e.opts.NewID(), opened: now}
	e.stats.sessions.Add(1)
	e.emit(Event{Type: wire.EventSessionOpened, At: now, SessionID: e.sess.id})
	var welcomeEnds time.Time // without the automatic photo, the welcome waits for a trigger
	if e.cfg.AutoCapture {
		welcomeEnds = now.Add(e.cfg.Welcome)
	}
	e.enter(stWelcome, welcomeEnds)
	e.show(display.Screen{Scene: display.SceneWelcome, SessionID: e.sess.id})
}

func (e *Engine) closeSession(now time.Time, reason string) {
	s := e.sess
	e.emit(Event{Type: wire.EventSessionClosed, At: now, SessionID: s.id, Data: wire.SessionClosed{
		DurationMS: now.Sub(s.opened).Milliseconds(), Photos: len(s.photos), Reason: reason}})
	// The shopper left while their code was on screen: it stays QRLinger (within the code's
	// life), the photo itself hidden, and the photo is kept at least that long to bind.
	var linger *photoRec
	if reason == "absent" && e.st == stQR && e.cfg.QRLinger > 0 && s.cur != nil && !s.cur.bound && s.cur.qr != nil &&
		now.Before(s.cur.qr.ExpiresAt) {
		linger = s.cur
	}
	for _, p := range s.photos {
		if !p.bound {
			p.purgeAt = now.Add(e.cfg.UnboundGrace)
			if p == linger && p.purgeAt.Before(now.Add(e.cfg.QRLinger)) {
				p.purgeAt = now.Add(e.cfg.QRLinger)
			}
			e.closed = append(e.closed, p)
		}
	}
	e.sess = nil
	if linger != nil {
		e.linger = linger
		end := now.Add(e.cfg.QRLinger)
		if linger.qr.ExpiresAt.Before(end) {
			end = linger.qr.ExpiresAt
		}
		e.enter(stLinger, end)
		e.show(display.Screen{Scene: display.SceneQR, QR: linger.qr}) // no session, no photo: the code only
		return
	}
	e.enter(stGoodbye, now.Add(e.cfg.Goodbye))
	e.show(display.Screen{Scene: display.SceneGoodbye})
}

// purgeDue deletes unbound photos of closed sessions whose grace is over (all when force).
func (e *Engine) purgeDue(now time.Time, force bool) {
	kept := e.closed[:0]
	for _, p := range e.closed {
		if p.bound {
			continue
		}
		if !force && now.Before(p.purgeAt) {
			kept = append(kept, p)
			continue
		}
		if err := e.opts.Store.Delete(p.ID); err != nil {
			e.log.Error("purge photo", "photo_id", p.ID, "err", err)
		}
		e.stats.purged.Add(1)
		e.emit(Event{Type: wire.EventPhotoPurged, At: now, SessionID: p.SessionID, PhotoID: p.ID,
			Data: wire.PhotoPurged{Reason: wire.PurgeUnbound}})
	}
	e.closed = kept
}

func (e *Engine) onTrigger(now time.Time, source string) {
	switch e.st {
	case stWelcome, stReady, stQR, stBound, stCaptureFailed, stQRUnavailable, stCompare:
		e.log.Info("photo requested", "session_id", e.sess.id, "source", source)
		e.startCountdown(now)
	default:
		e.log.Debug("photo request ignored", "state", e.st.String(), "source", source)
	}
}

func (e *Engine) startCountdown(now time.Time) {
	if e.cfg.Countdown <= 0 {
		e.capture()
		return
	}
	e.enter(stCountdown, now.Add(time.Second))
	e.countdown = e.cfg.Countdown
	e.show(display.Screen{Scene: display.SceneCountdown, SessionID: e.sess.id, Countdown: e.countdown})
}

// capture runs off the loop: the camera, JPEG encoding and disk never hold the screen.
func (e *Engine) capture() {
	e.enter(stCapturing, time.Time{})
	sid := e.sess.id
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		res := capturedIn{sessionID: sid}
		jpeg, w, h, err := e.opts.Camera.Capture(e.ctx)
		if err == nil {
			res.photo = Photo{ID: e.opts.NewID(), SessionID: sid, CapturedAt: e.opts.Clock.Now(), Width: w, Height: h, Bytes: len(jpeg)}
			err = e.opts.Store.Put(res.photo.ID, jpeg)
		}
		res.err = err
		e.send(e.ctx, res)
	}()
}

func (e *Engine) onCaptured(now time.Time, c capturedIn) {
	if e.sess == nil || e.sess.id != c.sessionID {
		// The shopper left while the photo was taken: keep nothing.
		if c.err == nil {
			if err := e.opts.Store.Delete(c.photo.ID); err != nil {
				e.log.Error("discard photo", "photo_id", c.photo.ID, "err", err)
			}
		}
		return
	}
	if c.err != nil {
		e.log.Error("capture failed", "session_id", c.sessionID, "err", c.err)
		e.enter(stCaptureFailed, now.Add(captureFailedFor))
		e.show(display.Screen{Scene: display.SceneError, SessionID: e.sess.id, Code: display.MsgCaptureFailed})
		return
	}
	p := &photoRec{Photo: c.photo}
	e.sess.photos = append(e.sess.photos, p)
	e.sess.cur = p
	e.stats.photos.Add(1)
	e.emit(Event{Type: wire.EventPhotoCaptured, At: now, SessionID: p.SessionID, PhotoID: p.ID,
		Data: wire.PhotoCaptured{Width: p.Width, Height: p.Height, Bytes: p.Bytes}})
	e.enter(stReview, now.Add(e.cfg.Review))
	e.show(display.Screen{Scene: display.SceneReview, SessionID: p.SessionID, PhotoID: p.ID})
	e.requestQR(p)
}

// requestQR asks the provider off the loop; the answer comes back as a qrIn.
func (e *Engine) requestQR(p *photoRec) {
	if p.qrPending {
		return
	}
	p.qrPending = true
	photo, ttl := p.Photo, e.cfg.QRTTL
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		qr, err := e.opts.Provider.QR(e.ctx, photo, ttl)
		e.send(e.ctx, qrIn{photoID: photo.ID, qr: qr, err: err})
	}()
}

func (e *Engine) onQR(now time.Time, r qrIn) {
	p := e.findPhoto(r.photoID)
	if p == nil {
		return
	}
	p.qrPending = false
	if e.sess == nil || e.sess.cur != p {
		return // the shopper left or took another photo; this QR is not on screen
	}
	if r.err != nil {
		e.log.Warn("qr code unavailable", "photo_id", p.ID, "err", r.err)
		if e.st == stQR && p.qr != nil && now.Before(p.qr.ExpiresAt) {
			e.timeout = now.Add(e.cfg.QRRetry) // keep the working code on screen, try again
			return
		}
		if e.st == stBound {
			return
		}
		e.enter(stQRUnavailable, now.Add(e.cfg.QRRetry))
		e.show(display.Screen{Scene: display.SceneError, SessionID: p.SessionID, PhotoID: p.ID, Code: display.MsgQRUnavailable})
		return
	}
	qr := r.qr
	if qr.IssuedAt.IsZero() {
		qr.IssuedAt = now.UTC().Truncate(time.Millisecond) // the page draws the expiry ring from it
	}
	p.qr = &qr
	switch e.st {
	case stAwaitQR, stQR, stCaptureFailed, stQRUnavailable:
		e.showQR(now)
	} // in review, the code shows when the review is over
}

func (e *Engine) showQR(now time.Time) {
	p := e.sess.cur
	e.enter(stQR, renewAt(now, p.qr.ExpiresAt))
	e.show(display.Screen{Scene: display.SceneQR, SessionID: p.SessionID, PhotoID: p.ID, QR: p.qr})
	if p.qrShownAt.IsZero() {
		p.qrShownAt = now
		e.stats.qrShown.Add(1)
	}
	e.emit(Event{Type: wire.EventQRShown, At: now, SessionID: p.SessionID, PhotoID: p.ID,
		Data: wire.QRShown{ExpiresAt: wire.Time{Time: p.qr.ExpiresAt}}})
}

// renewAt is when a QR code on screen is renewed: a fifth of its life (at most 30 s) before it ends.
func renewAt(now, expires time.Time) time.Time {
	lead := expires.Sub(now) / 5
	if lead > 30*time.Second {
		lead = 30 * time.Second
	}
	return expires.Add(-lead)
}

func (e *Engine) refreshQR(now time.Time) {
	p := e.sess.cur
	if p == nil || p.bound || e.st != stQR {
		return
	}
	if !now.Before(p.qr.ExpiresAt) {
		e.emit(Event{Type: wire.EventQRExpired, At: now, SessionID: p.SessionID, PhotoID: p.ID})
	}
	e.requestQR(p)
}

func (e *Engine) onBind(now time.Time, photoID, event string) {
	p := e.findPhoto(photoID)
	if p == nil {
		e.log.Info("binding ignored: photo not kept", "photo_id", photoID, "event", event)
		return
	}
	if p.bound {
		e.log.Debug("binding ignored: already bound", "photo_id", photoID)
		return
	}
	p.bound = true
	e.stats.bound.Add(1)
	data := wire.PhotoBound{Event: event}
	if !p.qrShownAt.IsZero() {
		data.LatencyMS = now.Sub(p.qrShownAt).Milliseconds()
	}
	e.emit(Event{Type: wire.EventPhotoBound, At: now, SessionID: p.SessionID, PhotoID: p.ID, Data: data})
	if e.st == stLinger && e.linger == p { // scanned after the shopper stepped back: ✓, then black
		e.linger = nil
		e.enter(stGoodbye, now.Add(e.cfg.Goodbye))
		e.show(display.Screen{Scene: display.SceneBound, PhotoID: p.ID})
		return
	}
	if e.sess != nil && e.sess.cur == p {
		switch e.st {
		case stQR, stReview, stAwaitQR, stCaptureFailed, stQRUnavailable:
		default:
			return
		}
		e.enter(stBound, time.Time{})
		e.show(display.Screen{Scene: display.SceneBound, SessionID: p.SessionID, PhotoID: p.ID})
	}
}

func (e *Engine) findPhoto(id string) *photoRec {
	if e.sess != nil {
		for _, p := range e.sess.photos {
			if p.ID == id {
				return p
			}
		}
	}
	for _, p := range e.closed {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func (e *Engine) show(s display.Screen) {
	e.screen = s
	e.opts.Screen.Show(s)
}

func (e *Engine) emit(ev Event) {
	attrs := []any{"type", ev.Type}
	if ev.SessionID != "" {
		attrs = append(attrs, "session_id", ev.SessionID)
	}
	if ev.PhotoID != "" {
		attrs = append(attrs, "photo_id", ev.PhotoID)
	}
	if ev.Data != nil {
		if b, err := json.Marshal(ev.Data); err == nil {
			attrs = append(attrs, "data", string(b)) // as the fleet sees it: {"reason":"absent",…}
		}
	}
	e.log.Info("event", attrs...)
	if e.opts.Events != nil {
		e.opts.Events(ev)
	}
}
