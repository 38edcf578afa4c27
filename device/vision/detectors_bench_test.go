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

// BenchmarkDetectorsOnRooms runs BlazeFace and the Haar cascade side by side on every frame of
// the fitting-room set (the whole frame, default options) and counts, per frame, false
// detections (a face found where no face is: garments, curtain folds, the corridor's shelves),
// detections of the poster (a real face, but scenery: the analyser leaves it out by itself),
// and misses (a shopper's face, turned to the mirror and wholly in view, not found).
func BenchmarkDetectorsOnRooms(b *testing.B) {
	clips := evalSet(b)
	specs := map[string]evalset.RoomSpec{}
	for _, s := range evalset.RoomSpecs() {
		specs[s.Name] = s
	}
	type count struct{ frames, faces, falses, poster, misses int }
	kinds := []string{KindBlazeFace, KindHaar}
	dets := map[string]*Detector{}
	for _, k := range kinds {
		d, err := NewDetector(DetectorOptions{Kind: k})
		if err != nil {
			b.Fatal(err)
		}
		if k == KindBlazeFace && d.Kind() != KindBlazeFace {
			b.Fatalf("BlazeFace did not load: %v", d.Fallback())
		}
		dets[k] = d
		defer d.Close()
	}
	frame := gocv.NewMat()
	defer frame.Close()
	total := map[string]*count{KindBlazeFace: {}, KindHaar: {}}
	var cpu = map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range clips {
			spec, ok := specs[c.Truth.Name]
			if !ok {
				continue
			}
			per := map[string]*count{KindBlazeFace: {}, KindHaar: {}}
			src, err := camera.Open(camera.Options{Source: c.Path})
			if err != nil {
				b.Fatal(err)
			}
			for {
				f, err := src.Read(&frame)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				truth := spec.FacesAt(f.MediaTime)
				for _, k := range kinds {
					c0 := cpuTime()
					d := dets[k].Detect(frame)
					cpu[k] += cpuTime() - c0
					n := per[k]
					n.frames++
					n.faces += len(truth)
					found := make([]bool, len(truth))
					for _, got := range d.Faces {
						hit := false
						for j, tf := range truth {
							if centreIn(got, tf) {
								found[j], hit = true, true
							}
						}
						switch {
						case hit:
						case centreIn(got, evalset.Poster()):
							n.poster++
						default:
							n.falses++
						}
					}
					for _, ok := range found {
						if !ok {
							n.misses++
						}
					}
				}
			}
			src.Close()
			if i == 0 {
				bl, hr := per[KindBlazeFace], per[KindHaar]
				b.Logf("%-28s %4d frames %4d faces | blazeface false %3d poster %3d missed %3d | haar false %3d poster %3d missed %3d",
					c.Truth.Name, bl.frames, bl.faces, bl.falses, bl.poster, bl.misses, hr.falses, hr.poster, hr.misses)
			}
			for _, k := range kinds {
				t, p := total[k], per[k]
				t.frames, t.faces, t.falses, t.poster, t.misses = t.frames+p.frames, t.faces+p.faces, t.falses+p.falses, t.poster+p.poster, t.misses+p.misses
			}
		}
	}
	b.StopTimer()
	for _, k := range kinds {
		t := total[k]
		b.ReportMetric(float64(t.falses)/float64(t.frames), k+"-false/frame")
		b.ReportMetric(float64(t.poster)/float64(t.frames), k+"-poster/frame")
		b.ReportMetric(float64(t.misses)/float64(max(1, t.faces)), k+"-miss-rate")
		b.ReportMetric(ms(cpu[k]/time.Duration(t.frames)), k+"-cpu-ms/frame")
	}
}

// centreIn says whether the centre of a lies in b.
func centreIn(a, b image.Rectangle) bool {
	return a.Min.Add(a.Max).Div(2).In(b)
}
