package vision

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
)

// clipFrames are a clip's frames, decoded once, with their media times.
type clipFrames struct {
	frames []gocv.Mat
	at     []time.Duration
}

func loadClipFrames(b *testing.B, path string) clipFrames {
	b.Helper()
	src, err := camera.Open(camera.Options{Source: path})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var c clipFrames
	for {
		m := gocv.NewMat()
		f, err := src.Read(&m)
		if err != nil {
			m.Close()
			break
		}
		c.frames, c.at = append(c.frames, m), append(c.at, f.MediaTime)
	}
	if len(c.frames) == 0 {
		b.Fatalf("%s: no frames", path)
	}
	return c
}

// presenceCost is what one configuration cost over the clips.
type presenceCost struct {
	analysed, engaged int
	wall, engagedWall time.Duration // Analyze, all analysed frames and the engaged ones
	gestureWall       time.Duration // of engagedWall, the air buttons' part (Result.GestureElapsed)
	cpu               time.Duration // process CPU time (user + system) over the analysed frames
	anyFire           int
}

func benchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runPresence analyses every clip as replay does (on media time, at the idle or engaged rate)
// with a fresh analyser on det, and adds what it cost to c.
func runPresence(clips []clipFrames, det *Detector, opts Options, c *presenceCost) {
	for _, clip := range clips {
		a := newAnalyzer(opts, det)
		t0 := time.Unix(1_800_000_000, 0)
		for i, f := range clip.frames {
			at := t0.Add(clip.at[i])
			if !a.Due(at) {
				continue
			}
			cpu0 := benchCPU()
			start := time.Now()
			r, _ := a.Analyze(f, at)
			d := time.Since(start)
			c.cpu += benchCPU() - cpu0
			c.analysed++
			c.wall += d
			if r.Present {
				c.engaged++
				c.engagedWall += d
				c.gestureWall += r.GestureElapsed
			}
			c.anyFire += len(r.Actions)
		}
		a.Close()
	}
}

// BenchmarkGestureCost measures what the air buttons add to presence while a shopper is
// engaged, on the four real gesture clips (testdata/real-footage/gestures): the same frames,
// decoded once beforehand, analysed with presence alone and with presence and the anchored
// buttons (Options.Gestures), the two alternating within every iteration so that the load of
// a shared machine falls on both alike. It reports per analysed frame while engaged (a
// session open): each configuration's wall time, their difference and its share of the
// 66.7 ms frame budget at 15 fps, the ratio of the two, the gesture path's own time
// (Result.GestureElapsed) and its share, and the process CPU time per analysed frame of each.
// docs/benchmarks/vision.md has the figures.
func BenchmarkGestureCost(b *testing.B) {
	dir := filepath.Join("..", "..", "testdata", "real-footage", "gestures")
	var clips []clipFrames
	for _, n := range []string{"g1_yes_photo.avi", "g2_no_photo.avi", "g3_milk_next_flipped.avi", "i1_learn_headtouch.avi"} {
		clips = append(clips, loadClipFrames(b, filepath.Join(dir, n)))
	}
	defer func() {
		for _, c := range clips {
			for _, m := range c.frames {
				m.Close()
			}
		}
	}()
	det, err := NewDetector(DetectorOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer det.Close()
	var without, with presenceCost
	b.ResetTimer()
	for range b.N {
		runPresence(clips, det, Options{Presence: DefaultPresence}, &without)
		runPresence(clips, det, Options{Presence: DefaultPresence, Gestures: true}, &with)
	}
	b.StopTimer()
	if without.engaged == 0 || with.engaged == 0 {
		b.Fatalf("no engaged frames (without gestures %d, with %d)", without.engaged, with.engaged)
	}
	const budget = float64(time.Second/15) / float64(time.Millisecond)
	perFrame := func(d time.Duration, n int) float64 { return float64(d) / float64(n) / float64(time.Millisecond) }
	off, on := perFrame(without.engagedWall, without.engaged), perFrame(with.engagedWall, with.engaged)
	path := perFrame(with.gestureWall, with.engaged)
	b.ReportMetric(off, "ms/engaged-frame-presence")
	b.ReportMetric(on, "ms/engaged-frame-with-gestures")
	b.ReportMetric(on/off, "ratio-with/without")
	b.ReportMetric(100*(on-off)/budget, "%budget-difference")
	b.ReportMetric(path*1000, "µs/engaged-frame-gesture-path")
	b.ReportMetric(100*path/budget, "%budget-gesture-path")
	b.ReportMetric(perFrame(without.cpu, without.analysed), "cpu-ms/frame-presence")
	b.ReportMetric(perFrame(with.cpu, with.analysed), "cpu-ms/frame-with-gestures")
	b.ReportMetric(float64(with.engaged)/float64(b.N), "engaged-frames/op")
	b.Logf("detector %s; %d analysed frames an iteration, %d engaged; fires with gestures: %d an iteration",
		det.Describe(), with.analysed/b.N, with.engaged/b.N, with.anyFire/b.N)
}
