package vision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/session"
)

// PipelineOptions wire camera → detector → session.
type PipelineOptions struct {
	Camera   camera.Options // opened by Run, reopened after errors
	Detector *Detector
	// Observe receives one observation per frame; it may block (back-pressure).
	Observe func(context.Context, session.Observation)
	// JPEGQuality for captured photos; 0 = 90.
	JPEGQuality int
	Logger      *slog.Logger
}

// Pipeline reads the camera, detects faces and feeds the session engine. It also takes photos:
// Capture encodes the next full-resolution frame, so no frame is ever copied or kept for it.
type Pipeline struct {
	opts    PipelineOptions
	capture chan chan captureResult
	frames  atomic.Int64
	detectN atomic.Int64 // total detection time, ns
	open    atomic.Bool
}

type captureResult struct {
	jpeg []byte
	w, h int
	err  error
}

// NewPipeline returns a pipeline; Run starts it.
func NewPipeline(opts PipelineOptions) *Pipeline {
	if opts.JPEGQuality <= 0 {
		opts.JPEGQuality = 90
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Pipeline{opts: opts, capture: make(chan chan captureResult)}
}

var _ session.Camera = (*Pipeline)(nil)

// Frames is the number of frames processed.
func (p *Pipeline) Frames() int64 { return p.frames.Load() }

// CameraOK reports whether the camera is open and delivering.
func (p *Pipeline) CameraOK() bool { return p.open.Load() }

// Capture returns the next frame as JPEG. It fails when no frame comes within 3 s.
func (p *Pipeline) Capture(ctx context.Context) ([]byte, int, int, error) {
	reply := make(chan captureResult, 1)
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case p.capture <- reply:
	case <-t.C:
		return nil, 0, 0, errors.New("vision: capture: no camera frame within 3s")
	case <-ctx.Done():
		return nil, 0, 0, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.jpeg, r.w, r.h, r.err
	case <-ctx.Done():
		return nil, 0, 0, ctx.Err()
	}
}

// Run processes frames until ctx ends. A camera that fails is reopened with jittered backoff;
// a file that ends (without loop) leaves the mirror seeing nobody.
func (p *Pipeline) Run(ctx context.Context) error {
	log := p.opts.Logger
	frame := gocv.NewMat()
	defer frame.Close()
	wait := 500 * time.Millisecond
	for ctx.Err() == nil {
		src, err := camera.Open(p.opts.Camera)
		if err != nil {
			log.Error("camera unavailable", "err", err, "retry_in", wait.Round(time.Millisecond))
			if !p.idle(ctx, wait) {
				return nil
			}
			wait = min(2*wait, 30*time.Second)
			continue
		}
		w, h := src.Size()
		log.Info("camera open", "source", src.Name(), "kind", string(src.Kind()), "size", fmt.Sprintf("%dx%d", w, h), "fps", src.FPS())
		p.open.Store(true)
		err = p.loop(ctx, src, &frame)
		p.open.Store(false)
		src.Close()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			log.Info("camera input ended", "source", src.Name())
			p.idle(ctx, 0)
			return nil
		default:
			log.Error("camera lost", "source", src.Name(), "err", err)
			wait = 500 * time.Millisecond
			if !p.idle(ctx, wait) {
				return nil
			}
		}
	}
	return nil
}

func (p *Pipeline) loop(ctx context.Context, src *camera.Source, frame *gocv.Mat) error {
	for ctx.Err() == nil {
		f, err := src.Read(frame)
		if err != nil {
			return err
		}
		det := p.opts.Detector.Detect(*frame)
		p.frames.Add(1)
		p.detectN.Add(int64(det.Elapsed))
		p.opts.Observe(ctx, session.Observation{At: f.At, Faces: len(det.Faces), Primary: det.Primary, Frame: det.Frame})
		select {
		case reply := <-p.capture:
			jpeg, err := camera.EncodeJPEG(*frame, p.opts.JPEGQuality)
			reply <- captureResult{jpeg: jpeg, w: frame.Cols(), h: frame.Rows(), err: err}
		default:
		}
	}
	return ctx.Err()
}

// idle reports "nobody seen" at 5 Hz for d (forever when d is 0) while there are no frames,
// so an open session closes after its grace, and refuses captures. It returns false when ctx ended.
func (p *Pipeline) idle(ctx context.Context, d time.Duration) bool {
	var end <-chan time.Time
	if d > 0 {
		d += time.Duration(rand.Int64N(int64(d) / 4)) // jitter
		t := time.NewTimer(d)
		defer t.Stop()
		end = t.C
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-end:
			return true
		case now := <-tick.C:
			p.opts.Observe(ctx, session.Observation{At: now})
		case reply := <-p.capture:
			reply <- captureResult{err: errors.New("vision: capture: camera unavailable")}
		}
	}
}
