package vision

import (
	"errors"
	"image"
	"io"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
)

// BenchmarkBackgroundModels shows why the body evidence uses its own background model rather
// than OpenCV's MOG2 or KNN, on two clips of the fitting-room set, every frame at 15 fps:
//
//   - light: the empty room while the mirror's lighting fades to 40% and back (room-light-ramp,
//     0–4.5 s): the share of the frame that is foreground (want ≈ 0: light is not an event);
//   - still: the shopper turned away for 6 s, almost still (room-turn-away, 5.5–11.5 s): the
//     share of the body box (where they stand) that is foreground at the end of it (want high:
//     they are still there).
//
// MOG2 and KNN run on a 160×120 colour copy with their default parameters; ours on its 80 px
// grey copy, told where the shopper stands as the analyser does while a session is open.
func BenchmarkBackgroundModels(b *testing.B) {
	clips := map[string]string{}
	for _, c := range evalSet(b) {
		clips[c.Truth.Name] = c.Path
	}
	// Where the shopper of the fitting-room set stands (their face centred at x = 330).
	stand := image.Rect(330-170, 110, 330+170, 480)
	run := func(name string, apply func(gocv.Mat, time.Time, image.Rectangle, image.Rectangle) float64, clip string, from, to time.Duration, r image.Rectangle, hold bool) (mean, last float64) {
		src, err := camera.Open(camera.Options{Source: clips[clip]})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		frame := gocv.NewMat()
		defer frame.Close()
		n := 0
		for {
			f, err := src.Read(&frame)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			var h image.Rectangle
			if hold && f.MediaTime > 3*time.Second && f.MediaTime < 13*time.Second {
				h = stand
			}
			v := apply(frame, time.Unix(0, 0).Add(f.MediaTime), h, r)
			if f.MediaTime >= from && f.MediaTime < to {
				mean += v
				last = v
				n++
			}
		}
		return mean / float64(max(1, n)), last
	}
	opencv := func(sub interface{ Apply(gocv.Mat, *gocv.Mat) }) func(gocv.Mat, time.Time, image.Rectangle, image.Rectangle) float64 {
		small, mask := gocv.NewMat(), gocv.NewMat()
		return func(frame gocv.Mat, _ time.Time, _ image.Rectangle, r image.Rectangle) float64 {
			gocv.Resize(frame, &small, image.Pt(160, 120), 0, 0, gocv.InterpolationArea)
			sub.Apply(small, &mask)
			gocv.Threshold(mask, &mask, 200, 255, gocv.ThresholdBinary) // shadows (127) are not foreground
			s := float64(frame.Cols()) / 160
			mr := image.Rect(int(float64(r.Min.X)/s), int(float64(r.Min.Y)/s), int(float64(r.Max.X)/s), int(float64(r.Max.Y)/s)).Intersect(image.Rect(0, 0, 160, 120))
			reg := mask.Region(mr)
			defer reg.Close()
			return float64(gocv.CountNonZero(reg)) / float64(mr.Dx()*mr.Dy())
		}
	}
	ours := func() func(gocv.Mat, time.Time, image.Rectangle, image.Rectangle) float64 {
		bg := newBackground()
		return func(frame gocv.Mat, at time.Time, hold, r image.Rectangle) float64 {
			bg.Update(frame, at, hold, false)
			return bg.Coverage(r)
		}
	}
	full := image.Rect(0, 0, evalset.Width, evalset.Height)
	for i := 0; i < b.N; i++ {
		for _, name := range []string{"mog2", "knn", "fitmirror"} {
			mk := func() func(gocv.Mat, time.Time, image.Rectangle, image.Rectangle) float64 {
				switch name {
				case "mog2":
					m := gocv.NewBackgroundSubtractorMOG2()
					return opencv(&m)
				case "knn":
					k := gocv.NewBackgroundSubtractorKNN()
					return opencv(&k)
				}
				return ours()
			}
			light, _ := run(name, mk(), "room-light-ramp", 500*time.Millisecond, 4500*time.Millisecond, full, false)
			_, still := run(name, mk(), "room-turn-away", 5500*time.Millisecond, 11500*time.Millisecond, stand, true)
			if i == 0 {
				b.Logf("%-10s light ramp, empty room: %5.1f%% of the frame foreground | turned away 6 s: %5.1f%% of the body box foreground at the end", name, 100*light, 100*still)
			}
			b.ReportMetric(100*light, name+"-light-fg-%")
			b.ReportMetric(100*still, name+"-still-body-%")
		}
	}
}
