package framebuffer

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/displaytest"
)

// BenchmarkShowToFrame measures a Screen change to the frame written: Show, Run wakes, paints
// the scene, converts it to the panel's format and rotation and writes it (to a file on tmpfs or
// disk here; to /dev/fb0 on a mirror). It alternates two scenes so that every Show changes the
// frame, and reports the p50 and p95 latency.
func BenchmarkShowToFrame(b *testing.B) {
	scenes := displaytest.Scenes(time.Now())
	pairs := map[string][2]display.Screen{
		"countdown": {{Scene: display.SceneCountdown, Countdown: 3}, {Scene: display.SceneCountdown, Countdown: 2}},
		"qr":        {scenes[4].Screen, scenes[5].Screen}, // qr ↔ bound
		"compare":   {scenes[6].Screen, scenes[7].Screen}, // compare (photos cached) ↔ goodbye
	}
	for _, geo := range []Geometry{
		{Width: 600, Height: 1024, Format: RGB565},
		{Width: 1080, Height: 1920, Format: XRGB8888},
	} {
		for _, rot := range []int{0, 90} {
			for _, name := range []string{"countdown", "qr", "compare"} {
				b.Run(fmt.Sprintf("%dx%d-%s-r%d-%s", geo.Width, geo.Height, geo.Format, rot, name), func(b *testing.B) {
					path := filepath.Join(b.TempDir(), "fb")
					fb, err := Open(Options{Device: path, Geometry: geo, Rotation: rot, Photos: displaytest.NewPhotos(), Logger: discard()})
					if err != nil {
						b.Fatal(err)
					}
					defer fb.Close()
					written := make(chan struct{}, 1)
					fb.afterWrite = func() { written <- struct{}{} }
					ctx, cancel := context.WithCancel(context.Background())
					done := make(chan error)
					go func() { done <- fb.Run(ctx) }()
					<-written // the first frame
					lat := make([]time.Duration, 0, b.N)
					b.ResetTimer()
					for i := range b.N {
						start := time.Now()
						fb.Show(pairs[name][i%2])
						<-written
						lat = append(lat, time.Since(start))
					}
					b.StopTimer()
					cancel()
					<-written // the black frame on exit
					<-done
					reportPercentiles(b, lat)
				})
			}
		}
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
}
