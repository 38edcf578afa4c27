package vision

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/backoff"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// PipelineOptions wire camera → analyser → session.
type PipelineOptions struct {
	Camera camera.Options // opened by Run, reopened after errors
	// Vision are the tunables; SetOptions changes them while running.
	Vision Options
	// Detector, when set, is used instead of loading Vision.Detector (the caller closes it).
	Detector *Detector
	// Observe receives one observation per analysed frame; it may block (back-pressure).
	Observe func(context.Context, session.Observation)
	// OnGesture receives the action of each air-button press (ActionPhoto, ActionNext). The
	// agent passes it to the session engine like a GPIO button.
	OnGesture func(ctx context.Context, action string)
	// OnHold, when set, receives the air buttons as the kiosk shows them (HoldFeedback) on
	// every analysed frame while gestures are on: where they are and how far a hold has come
	// while a shopper is engaged, no buttons otherwise. It must not block; the kiosk throttles.
	OnHold func(display.Gestures)
	// OnCamera is called when the camera's status changes (ok, lost, frozen) with a one-line
	// reason: a change from ok is camera.lost (and the degraded status), a change back to ok
	// is camera.restored; a change between lost and frozen only updates telemetry. The pipeline
	// logs every change itself: the callback records, it need not log.
	OnCamera func(s camera.Status, reason string)
	// Events, when set, records the camera's changes: ok → lost or frozen is camera.lost,
	// back to ok is camera.restored (a change between lost and frozen is not an event).
	Events func(session.Event)
	// Health, when set, gets the camera part: starting until the first frame, then ok, lost
	// or frozen with the reason.
	Health *health.Tracker
	// FrozenAfter is how long without frames, or with identical frames, before the camera
	// counts as lost or frozen (and is reopened); 0 = 5 s.
	FrozenAfter time.Duration
	// Debug receives annotated frames while someone watches it; nil = no debug view.
	Debug *DebugView
	// JPEGQuality for captured photos; 0 = 90.
	JPEGQuality int
	Logger      *slog.Logger
}

// Pipeline reads the camera, analyses frames and feeds the session engine. It also takes
// photos: Capture encodes the next full-resolution frame, so no frame is ever copied or kept
// for it.
type Pipeline struct {
	opts    PipelineOptions
	capture chan chan captureResult
	pending atomic.Pointer[pendingOptions]
	mon     *camera.Monitor

	frames   atomic.Int64
	analysed atomic.Int64
	size     atomic.Pointer[image.Point] // the camera's frame size, once it has opened
	detectN  atomic.Int64                // total analysis time, ns
	gestures gestureCounter
	holdOn   bool // OnHold was last told of buttons

	mu      sync.Mutex
	latency []time.Duration // ring of recent frame-to-decision latencies
	analyse []time.Duration // ring of recent analysis times, same positions
	latNext int
	cur     DetectorOptions // detector options in force, for SetOptions

	camMu   sync.Mutex
	camLast camera.Status // the last status told to Events
}

type pendingOptions struct {
	opts Options
	det  *Detector
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
	p := &Pipeline{opts: opts, capture: make(chan chan captureResult), latency: make([]time.Duration, 0, 512), analyse: make([]time.Duration, 0, 512), camLast: camera.StatusOK}
	p.cur = opts.Vision.Detector.withDefaults()
	if opts.Detector != nil {
		p.cur = opts.Detector.Options()
	}
	log := opts.Logger
	p.mon = camera.NewMonitor(camera.MonitorOptions{FrozenAfter: opts.FrozenAfter, OnChange: func(s camera.Status, why string) {
		if s == camera.StatusOK {
			log.Info("camera restored", "reason", why)
		} else {
			log.Error("camera "+string(s), "reason", why)
		}
		if opts.OnCamera != nil {
			opts.OnCamera(s, why)
		}
		p.cameraChanged(s, why)
	}})
	if opts.Health != nil {
		opts.Health.Register(wire.PartCamera, health.Unhealthy, wire.HealthStarting)
	}
	return p
}

// cameraChanged records the camera's change and sets its health part.
func (p *Pipeline) cameraChanged(s camera.Status, why string) {
	p.camMu.Lock()
	prev := p.camLast
	p.camLast = s
	p.camMu.Unlock()
	if h := p.opts.Health; h != nil {
		if s == camera.StatusOK && p.frames.Load() == 0 {
			h.Set(wire.PartCamera, wire.HealthStarting, why)
		} else {
			h.Set(wire.PartCamera, string(s), why)
		}
	}
	if p.opts.Events == nil {
		return
	}
	now := time.Now()
	switch {
	case s == camera.StatusOK && prev != camera.StatusOK:
		p.opts.Events(session.Event{Type: wire.EventCameraRestored, At: now, Data: wire.CameraRestored{Reason: why}})
	case s != camera.StatusOK && prev == camera.StatusOK:
		p.opts.Events(session.Event{Type: wire.EventCameraLost, At: now, Data: wire.CameraLost{Status: string(s), Reason: why}})
	}
}

// frameSeen counts a frame read; the first one makes the camera part ok.
func (p *Pipeline) frameSeen() {
	if p.frames.Add(1) == 1 && p.opts.Health != nil && p.mon.Status() == camera.StatusOK {
		p.opts.Health.SetOK(wire.PartCamera)
	}
}

var _ session.Camera = (*Pipeline)(nil)

// Frames is the number of frames read.
func (p *Pipeline) Frames() int64 { return p.frames.Load() }

// CameraOK reports whether the camera is open and delivering fresh frames.
func (p *Pipeline) CameraOK() bool { return p.mon.Status() == camera.StatusOK && p.frames.Load() > 0 }

// CameraStatus is the camera's health for telemetry: ok, lost or frozen.
func (p *Pipeline) CameraStatus() camera.Status { return p.mon.Status() }

// PipelineStats are the pipeline's counters, for telemetry.
type PipelineStats struct {
	Frames, Analysed int64
	AnalyseMsMean    float64 // mean analysis time per analysed frame
	AnalyseMsP50     float64 // median analysis time over recent frames (telemetry detect_ms_p50)
	LatencyMsP95     float64 // frame read → presence decided, over recent frames
}

// Stats returns the counters.
func (p *Pipeline) Stats() PipelineStats {
	s := PipelineStats{Frames: p.frames.Load(), Analysed: p.analysed.Load()}
	if s.Analysed > 0 {
		s.AnalyseMsMean = ms(time.Duration(p.detectN.Load() / s.Analysed))
	}
	p.mu.Lock()
	lat := append([]time.Duration(nil), p.latency...)
	an := append([]time.Duration(nil), p.analyse...)
	p.mu.Unlock()
	if n := len(lat); n > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		sort.Slice(an, func(i, j int) bool { return an[i] < an[j] })
		s.LatencyMsP95 = ms(lat[(n-1)*95/100])
		s.AnalyseMsP50 = ms(an[(n-1)/2])
	}
	return s
}

// SetOptions changes the tunables while the pipeline runs (config reload, fleet config); they
// apply from the next frame. Nonsense values, or a cascade or model that does not load, are
// an error and the previous options stay in force. Safe for concurrent use.
//
// Once the camera has opened, the zone and the air buttons are also checked against its real
// frame size: a zone outside the frame is refused here, naming it, rather than accepted and
// then dropped at the next frame.
func (p *Pipeline) SetOptions(o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if size := p.size.Load(); size != nil {
		if err := o.Detector.CheckZone(*size); err != nil {
			return err
		}
		if err := checkButtons(o.Buttons, *size); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var det *Detector
	if detectorChanged(p.cur, o.Detector) {
		var err error
		if det, err = NewDetector(o.Detector); err != nil {
			return err
		}
	}
	p.cur = o.Detector.withDefaults()
	if old := p.pending.Swap(&pendingOptions{opts: o, det: det}); old != nil && old.det != nil {
		old.det.Close()
	}
	return nil
}

// FrameSize is the camera's frame size, known once it has opened.
func (p *Pipeline) FrameSize() (image.Point, bool) {
	if size := p.size.Load(); size != nil {
		return *size, true
	}
	return image.Point{}, false
}

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

var errFrozen = errors.New("vision: camera feed frozen")

// Run processes frames until ctx ends. A camera that fails, stalls or freezes is reopened with
// jittered backoff, and the session engine is told that nobody is seen meanwhile; a file that
// ends (without loop) leaves the mirror seeing nobody.
func (p *Pipeline) Run(ctx context.Context) error {
	log := p.opts.Logger
	var an *Analyzer
	if p.opts.Detector != nil {
		if err := p.opts.Vision.Validate(); err != nil {
			return err
		}
		an = newAnalyzer(p.opts.Vision, p.opts.Detector)
	} else {
		var err error
		if an, err = NewAnalyzer(p.opts.Vision); err != nil {
			return err
		}
	}
	logDetector(log, an.det)
	defer func() {
		an.Close()
		if pd := p.pending.Swap(nil); pd != nil && pd.det != nil {
			pd.det.Close()
		}
	}()
	// A picture: an MJPG file's frames stay encoded until the analysis, a photo or the debug
	// view asks for them at the size it needs; a camera's frames come decoded.
	frame := camera.NewPicture()
	defer frame.Close()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-watchCtx.Done():
				return
			case now := <-t.C:
				p.mon.Check(now)
			}
		}
	}()

	var retry backoff.Backoff // the shared retry spacing
	for ctx.Err() == nil {
		copts := p.opts.Camera
		copts.Encoded = true
		src, err := camera.Open(copts)
		if err != nil {
			p.mon.Failed(time.Now(), err)
			wait := retry.Next()
			log.Error("camera unavailable", "err", err, "retry_in", wait.Round(time.Millisecond))
			if !p.idle(ctx, an, wait) {
				return nil
			}
			continue
		}
		w, h := src.Size()
		p.size.Store(&image.Point{X: w, Y: h})
		log.Info("camera open", "source", src.Name(), "kind", string(src.Kind()), "size", fmt.Sprintf("%dx%d", w, h), "fps", src.FPS())
		p.mon.Opened(time.Now())
		err = p.loop(ctx, src, an, frame, &retry)
		src.Close()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			log.Info("camera input ended", "source", src.Name())
			p.idle(ctx, an, 0)
			return nil
		default:
			if !errors.Is(err, errFrozen) { // a frozen feed stays "frozen" while it is reopened
				p.mon.Failed(time.Now(), err)
			}
			wait := retry.Next()
			log.Warn("camera reopening", "source", src.Name(), "err", err, "retry_in", wait.Round(time.Millisecond))
			if !p.idle(ctx, an, wait) {
				return nil
			}
		}
	}
	return nil
}

func (p *Pipeline) loop(ctx context.Context, src *camera.Source, an *Analyzer, frame *camera.Picture, retry *backoff.Backoff) error {
	log := p.opts.Logger
	live := src.Live()
	var (
		lastErr    string
		lastDebug  time.Time
		annotate   = newAnnotator()
		debugFrame = gocv.NewMat()
		start      = time.Now()
		readOK     bool
	)
	defer debugFrame.Close()
	for ctx.Err() == nil {
		if pd := p.pending.Swap(nil); pd != nil {
			an.apply(pd.opts, pd.det)
			log.Info("vision options applied")
			if pd.det != nil {
				logDetector(log, pd.det)
			}
		}
		if live && !an.Due(time.Now()) {
			// Below the camera's rate: take the frame off the device without decoding it.
			if _, err := src.Skip(); err != nil {
				return err
			}
			p.frameSeen()
			continue
		}
		f, err := src.ReadPicture(frame)
		if err != nil {
			return err
		}
		p.frameSeen()
		if !readOK {
			readOK = true
			retry.Reset()
		}
		fp := uint64(f.Index) + 1 // files and folders: frames are distinct by position
		if live {
			fp = fingerprint(frame)
		}
		p.mon.Frame(f.At, fp)
		if p.mon.Status() == camera.StatusFrozen {
			return errFrozen
		}
		if live || an.Due(f.At) {
			res, err := an.AnalyzePicture(frame, f.At)
			if errors.Is(err, camera.ErrCorruptFrame) {
				log.Warn("camera frame not analysed", "err", err) // one bad frame: the next is read as usual
			} else if err != nil {
				if err.Error() != lastErr {
					log.Error("vision setting ignored; running without it", "err", err)
					lastErr = err.Error()
				}
			} else {
				p.record(res.Elapsed, time.Since(f.At))
				p.opts.Observe(ctx, res.Observation)
				p.gestured(ctx, res, frame.Size())
				if v := p.opts.Debug; v != nil && v.Watching() && time.Since(lastDebug) >= v.interval() {
					lastDebug = time.Now()
					if full, err := frame.Full(); err == nil {
						full.CopyTo(&debugFrame)
						annotate.Draw(&debugFrame, res, an.Options(), time.Since(start))
						if jpeg, err := camera.EncodeJPEG(debugFrame, 70); err == nil {
							v.Publish(jpeg)
						}
					}
				}
			}
		}
		select {
		case reply := <-p.capture:
			reply <- photoOf(frame, p.opts.JPEGQuality)
		default:
		}
	}
	return ctx.Err()
}

// fingerprint is camera.Fingerprint of a live frame (decoded: live frames are not kept encoded).
func fingerprint(frame *camera.Picture) uint64 {
	full, err := frame.Full()
	if err != nil {
		return 0
	}
	return camera.Fingerprint(full)
}

// photoOf is the frame at full size as a JPEG (decoded now if it is still encoded).
func photoOf(frame *camera.Picture, quality int) captureResult {
	full, err := frame.Full()
	if err != nil {
		return captureResult{err: err}
	}
	jpeg, err := camera.EncodeJPEG(full, quality)
	return captureResult{jpeg: jpeg, w: full.Cols(), h: full.Rows(), err: err}
}

// gestured passes a frame's air-button presses on, counts them, and feeds the kiosk's feedback.
func (p *Pipeline) gestured(ctx context.Context, res Result, size image.Point) {
	for _, act := range res.Actions {
		p.opts.Logger.Info("air button", "action", act)
		if p.opts.OnGesture != nil {
			p.opts.OnGesture(ctx, act)
		}
	}
	if len(res.Buttons) == 0 {
		p.holdOff()
		return
	}
	p.gestures.add(res.Buttons, res.Present)
	if p.opts.OnHold != nil {
		fb := HoldFeedback(res.Buttons, size, res.Present)
		p.holdOn = len(fb.Buttons) > 0
		p.opts.OnHold(fb)
	}
}

// holdOff tells OnHold once that no buttons show (the camera is gone, gestures were turned off).
func (p *Pipeline) holdOff() {
	if p.holdOn && p.opts.OnHold != nil {
		p.opts.OnHold(display.Gestures{Buttons: []display.GestureButton{}})
	}
	p.holdOn = false
}

// Gestures returns the air buttons' presses since the pipeline started: fired by action
// (ActionPhoto, ActionNext, always both), and holds abandoned while a shopper was engaged.
func (p *Pipeline) Gestures() GestureCounts { return p.gestures.get() }

// logDetector says which face detector is in use, with a warning when BlazeFace was asked
// for and the cascade stands in for it.
func logDetector(log *slog.Logger, d *Detector) {
	if fb := d.Fallback(); fb != nil {
		log.Warn("face detector: BlazeFace unavailable, using the cascade", "err", fb, "detector", d.Describe())
		return
	}
	log.Info("face detector", "detector", d.Describe())
}

// record keeps the analysis time and the frame-to-decision latency.
func (p *Pipeline) record(analyse, latency time.Duration) {
	p.analysed.Add(1)
	p.detectN.Add(int64(analyse))
	p.mu.Lock()
	if len(p.latency) < cap(p.latency) {
		p.latency = append(p.latency, latency)
		p.analyse = append(p.analyse, analyse)
	} else {
		p.latency[p.latNext], p.analyse[p.latNext] = latency, analyse
		p.latNext = (p.latNext + 1) % len(p.latency)
	}
	p.mu.Unlock()
}

// idle reports "nobody seen" at 5 Hz for d (forever when d is 0) while there are no frames,
// so an open session closes after its grace, and refuses captures. It returns false when ctx ended.
func (p *Pipeline) idle(ctx context.Context, an *Analyzer, d time.Duration) bool {
	p.holdOff() // no frames: no buttons to show
	var end <-chan time.Time
	if d > 0 {
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
			p.opts.Observe(ctx, an.Absent(now))
		case reply := <-p.capture:
			reply <- captureResult{err: errors.New("vision: capture: camera unavailable")}
		}
	}
}

// GesturesTo returns the OnGesture that feeds the session engine's inputs: the photo
// gesture asks for a photo, the next gesture compares, like the frame's buttons.
func GesturesTo(in *session.Inputs) func(ctx context.Context, action string) {
	return func(ctx context.Context, action string) {
		switch action {
		case ActionPhoto:
			in.Trigger(ctx, "gesture")
		case ActionNext:
			in.Compare(ctx)
		}
	}
}
