package vision

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// replayEngine is the session engine `mirror-agent run` uses (session.Engine), on a manual
// clock set to each frame's media time, with nothing outside the process: photos are the
// replayed frames, kept in memory until the engine purges them or the replay ends; QR codes
// are local placeholders; the screen shows nothing. Only the session events are printed.
type replayEngine struct {
	clock   *session.ManualClock
	inputs  *session.Inputs
	eng     *session.Engine
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan error
	capture chan chan captureResult
	quality int
	hook    func(session.Event)

	mu     sync.Mutex
	queued []session.Event // engine events not yet passed on, in order

	ids      map[string]string // engine session ID → printed (deterministic) ID
	current  string            // the printed ID of the session open now ("" = none)
	sessions int
}

// replayEpoch is media time zero on the engine's clock.
var replayEpoch = time.Unix(0, 0)

func startReplayEngine(opts ReplayOptions) (*replayEngine, error) {
	cfg := opts.Session
	if cfg == (session.Config{}) {
		cfg = session.DefaultConfig
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &replayEngine{
		clock:   session.NewManualClock(replayEpoch),
		inputs:  session.NewInputs(),
		done:    make(chan error, 1),
		capture: make(chan chan captureResult),
		quality: opts.JPEGQuality,
		hook:    opts.Events,
		ids:     map[string]string{},
	}
	if r.quality <= 0 {
		r.quality = 90
	}
	eng, err := session.New(session.Options{
		Config:   cfg,
		Camera:   replayCamera{r.capture},
		Store:    &memPhotos{m: map[string][]byte{}},
		Provider: replayQR{},
		Screen:   noScreen{},
		Logger:   log,
		Clock:    r.clock,
		Inputs:   r.inputs,
		Events: func(ev session.Event) {
			r.mu.Lock()
			r.queued = append(r.queued, ev)
			r.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	r.eng = eng
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- eng.Run(r.ctx) }()
	return r, nil
}

// step runs the engine up to media time t: the clock moves there (the timeouts that came
// meanwhile fire), res (when the frame was analysed) is fed as the live pipeline feeds it, the
// events the engine emitted are passed on, and a photo asked for is taken from this frame.
func (r *replayEngine) step(t time.Duration, res *Result, frame *camera.Picture, emit func(ReplayEvent) error) error {
	r.clock.Set(replayEpoch.Add(t))
	if res != nil {
		Feed(r.ctx, r.inputs, *res)
	}
	if err := r.flush(emit); err != nil {
		return err
	}
	select {
	case reply := <-r.capture:
		reply <- photoOf(frame, r.quality)
	default:
	}
	return nil
}

// flush waits until the engine has handled everything sent so far (a snapshot is answered
// after them) and passes on the events it emitted.
func (r *replayEngine) flush(emit func(ReplayEvent) error) error {
	if _, ok := r.eng.Snapshot(r.ctx); !ok {
		return errors.New("replay: the session engine stopped")
	}
	return r.pass(emit)
}

func (r *replayEngine) pass(emit func(ReplayEvent) error) error {
	r.mu.Lock()
	evs := r.queued
	r.queued = nil
	r.mu.Unlock()
	for _, ev := range evs {
		if r.hook != nil {
			r.hook(ev)
		}
		if emit == nil {
			continue
		}
		t := ev.At.Sub(replayEpoch)
		switch ev.Type {
		case wire.EventSessionOpened:
			r.sessions++
			r.ids[ev.SessionID] = replayID(t, uint64(r.sessions))
			r.current = r.ids[ev.SessionID]
			if err := emit(ReplayEvent{Type: ev.Type, TMs: t.Milliseconds(), SessionID: r.ids[ev.SessionID]}); err != nil {
				return err
			}
		case wire.EventSessionClosed:
			var reason string
			if d, ok := ev.Data.(wire.SessionClosed); ok {
				reason = d.Reason
			}
			r.current = ""
			if err := emit(ReplayEvent{Type: ev.Type, TMs: t.Milliseconds(), SessionID: r.ids[ev.SessionID], Reason: reason}); err != nil {
				return err
			}
		}
	}
	return nil
}

// end closes a session still open at the last frame ("end_of_input") and stops the engine.
func (r *replayEngine) end(emit func(ReplayEvent) error) error {
	r.inputs.EndSession(r.ctx, "end_of_input")
	if err := r.flush(emit); err != nil {
		return err
	}
	return r.stop()
}

// stop ends the engine's run and passes on what it emitted while stopping (no session
// events: end closed the session first); safe to call twice.
func (r *replayEngine) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	err := <-r.done
	r.pass(nil)
	return err
}

// replayCamera takes a photo from the frame being replayed (replayEngine.step serves it).
type replayCamera struct{ req chan chan captureResult }

func (c replayCamera) Capture(ctx context.Context) ([]byte, int, int, error) {
	reply := make(chan captureResult, 1)
	select {
	case c.req <- reply:
	case <-ctx.Done():
		return nil, 0, 0, ctx.Err()
	}
	select {
	case res := <-reply:
		return res.jpeg, res.w, res.h, res.err
	case <-ctx.Done():
		return nil, 0, 0, ctx.Err()
	}
}

// memPhotos keeps replay's photos in memory: nothing reaches the state directory.
type memPhotos struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memPhotos) Put(id string, jpeg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = jpeg
	return nil
}

func (s *memPhotos) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

// replayQR is a QR code that leads nowhere: replay shows no code and calls no provider.
type replayQR struct{}

func (replayQR) QR(_ context.Context, p session.Photo, ttl time.Duration) (display.QR, error) {
	return display.QR{Content: "replay:" + p.ID, ExpiresAt: p.CapturedAt.Add(ttl)}, nil
}

type noScreen struct{}

func (noScreen) Show(display.Screen) {}
