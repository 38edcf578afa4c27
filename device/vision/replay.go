package vision

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"
	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// ReplayEvent is one line of `mirror-agent replay` output (docs/contracts.md §4).
type ReplayEvent struct {
	Type      string `json:"type"`
	TMs       int64  `json:"t_ms"`
	SessionID string `json:"session_id"`
	Reason    string `json:"reason,omitempty"`
}

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
}

// ReplayOptions say what to replay and with which settings.
type ReplayOptions struct {
	Source   string // video file or image folder
	FPS      float64
	Rotation int // camera.Options.Rotation: a clip recorded by a camera mounted sideways
	Detector DetectorOptions
	Presence PresenceConfig
	// Vision are the other tunables (motion gate, frame rates, buttons); its Detector and
	// Presence are replaced by the two fields above.
	Vision Options
	// DebugVideo, when set, is an .avi file that receives every frame with the faces, motion,
	// zone, buttons and presence state drawn on it.
	DebugVideo string
}

// Replay runs the real camera → vision → presence pipeline over a file or image folder on
// media time (frame index / fps), as fast as the CPU allows, and calls emit for each session
// event. An open session is closed with reason "end_of_input" at the last frame's time.
func Replay(opts ReplayOptions, emit func(ReplayEvent) error) (ReplaySummary, error) {
	src, err := camera.Open(camera.Options{Source: opts.Source, FPS: opts.FPS, Rotation: opts.Rotation})
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
	var dbg *camera.Writer
	if opts.DebugVideo != "" {
		w, h := src.Size()
		if dbg, err = camera.CreateVideo(opts.DebugVideo, src.FPS(), w, h); err != nil {
			return ReplaySummary{}, fmt.Errorf("replay: debug video: %w", err)
		}
		defer dbg.Close()
	}

	frame := gocv.NewMat()
	defer frame.Close()
	var (
		analyse  []time.Duration
		sum      = ReplaySummary{Type: "summary"}
		last     time.Duration
		open     string
		lastRes  Result
		annotate = newAnnotator()
	)
	defer annotate.Close()
	cpu0 := cpuTime()
	epoch := time.Unix(0, 0)
	for {
		f, err := src.Read(&frame)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ReplaySummary{}, err
		}
		sum.Frames++
		last = f.MediaTime
		at := epoch.Add(f.MediaTime)
		if an.Due(at) {
			res, err := an.Analyze(frame, at)
			if err != nil {
				return ReplaySummary{}, fmt.Errorf("replay: %w", err)
			}
			lastRes = res
			analyse = append(analyse, res.Elapsed)
			if res.Detected {
				sum.Detections++
			}
			switch res.Transition {
			case session.Entered:
				sum.Sessions++
				open = replayID(f.MediaTime, uint64(sum.Sessions))
				if err := emit(ReplayEvent{Type: wire.EventSessionOpened, TMs: f.MediaTime.Milliseconds(), SessionID: open}); err != nil {
					return ReplaySummary{}, err
				}
			case session.Left:
				if err := emit(ReplayEvent{Type: wire.EventSessionClosed, TMs: f.MediaTime.Milliseconds(), SessionID: open, Reason: "absent"}); err != nil {
					return ReplaySummary{}, err
				}
				open = ""
			}
		}
		if dbg != nil {
			annotate.Draw(&frame, lastRes, an.Options(), f.MediaTime)
			if err := dbg.Write(frame); err != nil {
				return ReplaySummary{}, fmt.Errorf("replay: debug video: %w", err)
			}
		}
	}
	if open != "" {
		if err := emit(ReplayEvent{Type: wire.EventSessionClosed, TMs: last.Milliseconds(), SessionID: open, Reason: "end_of_input"}); err != nil {
			return ReplaySummary{}, err
		}
	}
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
