package vision

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/session"
)

// ReplayEvent is one line of `mirror-agent replay` output (docs/contracts.md §4): a session
// event, or an air button that fired (Type EventGesture, Action ActionPhoto or ActionNext,
// SessionID the session open then, if any).
type ReplayEvent struct {
	Type      string `json:"type"`
	TMs       int64  `json:"t_ms"`
	Action    string `json:"action,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Reason    string `json:"reason,omitempty"`
	HeldMs    int64  `json:"held_ms,omitempty"` // EventGestureAbandoned: how long the hand was held
}

// The replay lines of the air buttons: one that fired, and a hold that ended without firing.
const (
	EventGesture          = "gesture"
	EventGestureAbandoned = "gesture_abandoned"
)

// ReplaySummary is the last line of replay output. The first five fields are the contract;
// the rest say how the frames were spent.
type ReplaySummary struct {
	Type          string  `json:"type"` // "summary"
	Frames        int     `json:"frames"`
	DetectMsP50   float64 `json:"detect_ms_p50"` // analysis time (motion gate + detection) per analysed frame
	DetectMsP95   float64 `json:"detect_ms_p95"`
	CPUMsPerFrame float64 `json:"cpu_ms_per_frame"` // process CPU (decode included) per input frame
	Analysed      int     `json:"analysed"`         // frames analysed (the rest skipped for the idle rate)
	Detections    int     `json:"detections"`       // frames the face detector ran on
	Sessions      int     `json:"sessions"`
	Detector      string  `json:"detector"` // the face detector used: "blazeface" or "haar"
}

// ReplayOptions say what to replay and with which settings.
type ReplayOptions struct {
	Source string // video file or image folder
	// Start skips the frames before this media time: the replay begins there, on media time
	// counted from it (a clip started with someone already in view).
	Start    time.Duration
	FPS      float64
	Rotation int // camera.Options.Rotation: a clip recorded by a camera mounted sideways
	Detector DetectorOptions
	Presence PresenceConfig
	// Vision are the other tunables (motion gate, frame rates, buttons); its Detector and
	// Presence are replaced by the two fields above.
	Vision Options
	// Session times the session engine's screens (automatic photo, countdown, review, …); the
	// zero Config is session.DefaultConfig. Session open and close follow Presence alone.
	Session session.Config
	// JPEGQuality of the photos the engine takes from the replayed frames (kept in memory
	// only); 0 = 90.
	JPEGQuality int
	// Events, when set, receives every event of the session engine (photos, QR codes, purges
	// too) on media time, in order, on Replay's goroutine.
	Events func(session.Event)
	// Started, when set, is called once everything is set up, just before the first frame is
	// read (a benchmark measures the frame loop from there, without the model's loading).
	Started func()
	// Warn, when set, receives one line when BlazeFace was asked for and could not be loaded
	// (naming the file tried): the replay then runs on the cascade.
	Warn io.Writer
	// Logger receives the session engine's log; nil = none.
	Logger *slog.Logger
	// DebugVideo, when set, is an .avi file that receives every frame with the faces, motion,
	// zone, buttons and presence state drawn on it.
	DebugVideo string
}

// Replay runs the real camera → vision → session pipeline over a file or image folder on
// media time (frame index / fps), as fast as the CPU allows: each frame's analysis is fed
// (Feed) to the session engine that `mirror-agent run` uses, on a clock set to the frame's
// media time, and emit is called for each session the engine opens or closes. A session still
// open at the last frame is ended there with reason "end_of_input".
func Replay(opts ReplayOptions, emit func(ReplayEvent) error) (ReplaySummary, error) {
	src, err := camera.Open(camera.Options{Source: opts.Source, FPS: opts.FPS, Rotation: opts.Rotation, Encoded: true})
	if err != nil {
		return ReplaySummary{}, err
	}
	defer src.Close()
	if k := src.Kind(); k != camera.KindFile && k != camera.KindFolder {
		return ReplaySummary{}, fmt.Errorf("replay: %s is a %s; replay takes a video file or an image folder", opts.Source, k)
	}
	vo := opts.Vision
	vo.Detector, vo.Presence = opts.Detector, opts.Presence
	an, err := NewAnalyzer(vo)
	if err != nil {
		return ReplaySummary{}, err
	}
	defer an.Close()
	if fb := an.det.Fallback(); fb != nil && opts.Warn != nil {
		fmt.Fprintf(opts.Warn, "warning: BlazeFace unavailable, replaying with the Haar cascade: %v\n", fb)
	}
	var dbg *camera.Writer
	if opts.DebugVideo != "" {
		w, h := src.Size()
		if dbg, err = camera.CreateVideo(opts.DebugVideo, src.FPS(), w, h); err != nil {
			return ReplaySummary{}, fmt.Errorf("replay: debug video: %w", err)
		}
		defer dbg.Close()
	}
	eng, err := startReplayEngine(opts)
	if err != nil {
		return ReplaySummary{}, fmt.Errorf("replay: %w", err)
	}
	defer eng.stop()

	// An MJPG clip's frames stay encoded: the analysis decodes the frames it looks at at the
	// size it works at; the others (skipped for the frame rate) are not decoded at all.
	frame := camera.NewPicture()
	defer frame.Close()
	var (
		analyse  []time.Duration
		sum      = ReplaySummary{Type: "summary"}
		lastRes  Result
		annotate = newAnnotator()
	)
	defer annotate.Close()
	if opts.Started != nil {
		opts.Started()
	}
	cpu0 := cpuTime()
	for {
		f, err := src.ReadPicture(frame)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ReplaySummary{}, err
		}
		if f.MediaTime < opts.Start {
			continue
		}
		f.MediaTime -= opts.Start
		sum.Frames++
		at := replayEpoch.Add(f.MediaTime)
		var fed *Result
		if an.Due(at) {
			res, err := an.AnalyzePicture(frame, at)
			if err != nil {
				return ReplaySummary{}, fmt.Errorf("replay: frame %d (%v): %w", sum.Frames-1, f.MediaTime.Round(time.Millisecond), err)
			}
			lastRes, fed = res, &res
			analyse = append(analyse, res.Elapsed)
			if res.Detected {
				sum.Detections++
			}
		}
		if err := eng.step(f.MediaTime, fed, frame, emit); err != nil {
			return ReplaySummary{}, err
		}
		if err := emitGestures(f.MediaTime, fed, eng.current, emit); err != nil {
			return ReplaySummary{}, err
		}
		if dbg != nil {
			if err := debugFrame(dbg, annotate, frame, lastRes, an.Options(), f.MediaTime); err != nil {
				return ReplaySummary{}, fmt.Errorf("replay: debug video: %w", err)
			}
		}
	}
	if err := eng.end(emit); err != nil {
		return ReplaySummary{}, err
	}
	sum.Sessions = eng.sessions
	sum.Detector = an.det.Kind()
	sum.Analysed = len(analyse)
	if n := len(analyse); n > 0 {
		sort.Slice(analyse, func(i, j int) bool { return analyse[i] < analyse[j] })
		sum.DetectMsP50 = ms(analyse[(n-1)*50/100])
		sum.DetectMsP95 = ms(analyse[(n-1)*95/100])
	}
	if sum.Frames > 0 {
		sum.CPUMsPerFrame = ms((cpuTime() - cpu0) / time.Duration(sum.Frames))
	}
	if dbg != nil {
		if err := dbg.Close(); err != nil {
			return ReplaySummary{}, fmt.Errorf("replay: debug video: %w", err)
		}
	}
	return sum, nil
}

// debugFrame draws the analysis on the frame at full size and appends it to the debug video.
func debugFrame(dbg *camera.Writer, annotate *annotator, frame *camera.Picture, res Result, o Options, t time.Duration) error {
	full, err := frame.Full()
	if err != nil {
		return err
	}
	annotate.Draw(&full, res, o, t)
	return dbg.Write(full)
}

// emitGestures prints the air buttons that fired on an analysed frame (res; nil: the frame was
// not analysed) at media time t, with the session open then, and the holds that ended there
// without firing.
func emitGestures(t time.Duration, res *Result, session string, emit func(ReplayEvent) error) error {
	if res == nil || emit == nil {
		return nil
	}
	for _, act := range res.Actions {
		if err := emit(ReplayEvent{Type: EventGesture, TMs: t.Milliseconds(), Action: act, SessionID: session}); err != nil {
			return err
		}
	}
	for _, b := range res.Buttons {
		if b.Abandoned > 0 {
			ev := ReplayEvent{Type: EventGestureAbandoned, TMs: t.Milliseconds(), Action: b.Action, SessionID: session, HeldMs: b.Abandoned.Milliseconds()}
			if err := emit(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// replayID is a ULID whose time part is the media time and whose entropy is the session
// number, so the same input always prints the same IDs.
func replayID(t time.Duration, n uint64) string {
	var e [10]byte
	binary.BigEndian.PutUint64(e[2:], n)
	return ulid.MustNew(uint64(t.Milliseconds()), &fixed{e[:]}).String()
}

type fixed struct{ b []byte }

func (f *fixed) Read(p []byte) (int, error) { return copy(p, f.b), nil }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
