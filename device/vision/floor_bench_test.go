package vision

import (
	"errors"
	"io"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// floorClip is a clip the decode-floor benchmark runs: a name and a file.
type floorClip struct{ name, path string }

// floorClips are the clips of both evaluation sets and the real webcam clips.
func floorClips(tb testing.TB) []floorClip {
	var clips []floorClip
	for _, c := range evalSet(tb) {
		clips = append(clips, floorClip{c.Truth.Name, c.Path})
	}
	for _, name := range realClips {
		clips = append(clips, floorClip{name, filepath.Join("..", "..", "testdata", "real-footage", name+".avi")})
	}
	return clips
}

// decodeOnly is the floor under any presence loop: an OpenCV read loop that decodes every
// frame of the clip and does nothing else. It returns the process CPU it took.
func decodeOnly(tb testing.TB, path string, frame *gocv.Mat) (time.Duration, int) {
	src, err := camera.Open(camera.Options{Source: path})
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	c0, n := cpuTime(), 0
	for {
		if _, err := src.Read(frame); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return cpuTime() - c0, n
}

// fullLoop is the agent's whole presence loop on the clip: Replay, what `mirror-agent replay`
// runs (read and decode every frame, analyse those due, the session engine), with the default
// settings. It returns the process CPU its frame loop took (from the first frame read: loading
// the model is a one-off at start, not a cost per frame).
func fullLoop(tb testing.TB, path string) (time.Duration, ReplaySummary) {
	var c0 time.Duration
	opts := ReplayOptions{Source: path, Presence: DefaultPresence, Started: func() { c0 = cpuTime() }}
	sum, err := Replay(opts, func(ReplayEvent) error { return nil })
	if err != nil {
		tb.Fatal(err)
	}
	if sum.Detector != KindBlazeFace {
		tb.Fatalf("%s: replay ran on %s, want blazeface (run scripts/setup.sh)", path, sum.Detector)
	}
	return cpuTime() - c0, sum
}

// BenchmarkDecodeFloor measures, in one run and clip by clip, the process CPU of a read loop
// that only decodes the clip and of the full presence loop on it, interleaved (so the
// machine's load hits both alike), and reports their ratio per clip (issue #27: target ≤ 1.5×
// on every clip), with the largest and the median. Run with -benchtime 1x (or more, to
// average over runs).
func BenchmarkDecodeFloor(b *testing.B) {
	clips := floorClips(b)
	frame := gocv.NewMat()
	defer frame.Close()
	dec := make([]time.Duration, len(clips))
	full := make([]time.Duration, len(clips))
	frames := make([]int, len(clips))
	analysed, detections := make([]int, len(clips)), make([]int, len(clips))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, c := range clips {
			d, n := decodeOnly(b, c.path, &frame)
			f, sum := fullLoop(b, c.path)
			if n != sum.Frames {
				b.Fatalf("%s: decoded %d frames, replay %d", c.name, n, sum.Frames)
			}
			analysed[k], detections[k] = sum.Analysed, sum.Detections
			dec[k] += d
			full[k] += f
			frames[k] += n
		}
	}
	b.StopTimer()
	ratios := make([]float64, len(clips))
	for k, c := range clips {
		ratios[k] = float64(full[k]) / float64(dec[k])
		b.Logf("%-26s decode %5.2f ms/frame, full loop %5.2f ms/frame, %4.2f× the floor (%d frames, %d analysed, %d detections)", c.name,
			ms(dec[k]/time.Duration(frames[k])), ms(full[k]/time.Duration(frames[k])), ratios[k], frames[k]/b.N, analysed[k], detections[k])
		b.ReportMetric(ratios[k], c.name+"-x-floor")
	}
	sorted := append([]float64(nil), ratios...)
	sort.Float64s(sorted)
	b.ReportMetric(sorted[len(sorted)-1], "max-x-floor")
	b.ReportMetric(sorted[len(sorted)/2], "median-x-floor")
}
