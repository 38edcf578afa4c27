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
	"github.com/fitmirror/fitmirror/session"
)

// ReplayEvent is one line of `mirror-agent replay` output (CONTRACTS §4).
type ReplayEvent struct {
	Type      string `json:"type"`
	TMs       int64  `json:"t_ms"`
	SessionID string `json:"session_id"`
	Reason    string `json:"reason,omitempty"`
}

// ReplaySummary is the last line of replay output.
type ReplaySummary struct {
	Type          string  `json:"type"` // "summary"
	Frames        int     `json:"frames"`
	DetectMsP50   float64 `json:"detect_ms_p50"`
	DetectMsP95   float64 `json:"detect_ms_p95"`
	CPUMsPerFrame float64 `json:"cpu_ms_per_frame"`
}

// ReplayOptions say what to replay and with which settings.
type ReplayOptions struct {
	Source   string // video file or image folder
	FPS      float64
	Detector DetectorOptions
	Presence session.PresenceConfig
}

// Replay runs the real camera → vision → presence pipeline over a file or image folder on
// media time (frame index / fps), as fast as the CPU allows, and calls emit for each session
// event. An open session is closed with reason "end_of_input" at the last frame's time.
func Replay(opts ReplayOptions, emit func(ReplayEvent) error) (ReplaySummary, error) {
	src, err := camera.Open(camera.Options{Source: opts.Source, FPS: opts.FPS})
	if err != nil {
		return ReplaySummary{}, err
	}
	defer src.Close()
	if k := src.Kind(); k != camera.KindFile && k != camera.KindFolder {
		return ReplaySummary{}, fmt.Errorf("replay: %s is a %s; replay takes a video file or an image folder", opts.Source, k)
	}
	det, err := NewDetector(opts.Detector)
	if err != nil {
		return ReplaySummary{}, err
	}
	defer det.Close()

	presence := session.NewPresence(opts.Presence)
	frame := gocv.NewMat()
	defer frame.Close()
	var (
		detect   []time.Duration
		last     time.Duration
		open     string
		sessions uint64
	)
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
		d := det.Detect(frame)
		detect = append(detect, d.Elapsed)
		last = f.MediaTime
		switch presence.Observe(session.Observation{At: epoch.Add(f.MediaTime), Faces: len(d.Faces), Primary: d.Primary, Frame: d.Frame}) {
		case session.Entered:
			sessions++
			open = replayID(f.MediaTime, sessions)
			if err := emit(ReplayEvent{Type: session.EventSessionOpened, TMs: f.MediaTime.Milliseconds(), SessionID: open}); err != nil {
				return ReplaySummary{}, err
			}
		case session.Left:
			if err := emit(ReplayEvent{Type: session.EventSessionClosed, TMs: f.MediaTime.Milliseconds(), SessionID: open, Reason: "absent"}); err != nil {
				return ReplaySummary{}, err
			}
			open = ""
		}
	}
	if open != "" {
		if err := emit(ReplayEvent{Type: session.EventSessionClosed, TMs: last.Milliseconds(), SessionID: open, Reason: "end_of_input"}); err != nil {
			return ReplaySummary{}, err
		}
	}
	sum := ReplaySummary{Type: "summary", Frames: len(detect)}
	if n := len(detect); n > 0 {
		sort.Slice(detect, func(i, j int) bool { return detect[i] < detect[j] })
		sum.DetectMsP50 = ms(detect[(n-1)*50/100])
		sum.DetectMsP95 = ms(detect[(n-1)*95/100])
		sum.CPUMsPerFrame = ms((cpuTime() - cpu0) / time.Duration(n))
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
