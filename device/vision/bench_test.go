package vision

import (
	"errors"
	"image"
	"io"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/vision/evalset"
)

// naive is the baseline of the issue: haarcascade_frontalface_default at scale 1.1 and
// minNeighbors 4 on every full 640×480 frame.
type naive struct {
	cc   gocv.CascadeClassifier
	grey gocv.Mat
}

func newNaive(tb testing.TB) *naive {
	n := &naive{cc: gocv.NewCascadeClassifier(), grey: gocv.NewMat()}
	if !n.cc.Load(DefaultCascade) {
		tb.Fatalf("cannot load %s", DefaultCascade)
	}
	return n
}

func (n *naive) detect(frame gocv.Mat) int {
	gocv.CvtColor(frame, &n.grey, gocv.ColorBGRToGray)
	gocv.EqualizeHist(n.grey, &n.grey)
	return len(n.cc.DetectMultiScaleWithParams(n.grey, 1.1, 4, 0, image.Pt(30, 30), image.Pt(0, 0)))
}

func (n *naive) Close() { n.cc.Close(); n.grey.Close() }

// BenchmarkEvalSetCPU measures, in one run and frame by frame, the CPU the naive loop and this
// package's analyser spend on every frame of the evaluation set (decoding excluded: it is the
// same for both and measured apart), and reports the ratio. Target: ratio ≥ 10 on every clip.
func BenchmarkEvalSetCPU(b *testing.B) { benchEvalSet(b, DetectorOptions{}) }

// BenchmarkEvalSetCPULBP is the same with the LBP cascade.
func BenchmarkEvalSetCPULBP(b *testing.B) {
	benchEvalSet(b, DetectorOptions{Cascade: "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface_improved.xml"})
}

func benchEvalSet(b *testing.B, do DetectorOptions) {
	clips := evalSet(b)
	nv := newNaive(b)
	defer nv.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	var naiveCPU, oursCPU, decodeCPU time.Duration
	var frames int
	var latency []time.Duration
	b.ResetTimer()
	perClip := map[string][2]time.Duration{}
	perFrames := map[string]int{}
	for i := 0; i < b.N; i++ {
		for _, c := range clips {
			n0, o0, f0 := naiveCPU, oursCPU, frames
			an, err := NewAnalyzer(Options{Detector: do, Presence: DefaultPresence})
			if err != nil {
				b.Fatal(err)
			}
			src, err := camera.Open(camera.Options{Source: c.Path})
			if err != nil {
				b.Fatal(err)
			}
			for {
				c0 := cpuTime()
				f, err := src.Read(&frame)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				c1 := cpuTime()
				nv.detect(frame)
				c2 := cpuTime()
				at := time.Unix(0, 0).Add(f.MediaTime)
				w0 := time.Now()
				if an.Due(at) {
					if _, err := an.Analyze(frame, at); err != nil {
						b.Fatal(err)
					}
					latency = append(latency, time.Since(w0))
				}
				c3 := cpuTime()
				decodeCPU += c1 - c0
				naiveCPU += c2 - c1
				oursCPU += c3 - c2
				frames++
			}
			src.Close()
			an.Close()
			pc := perClip[c.Truth.Name]
			perClip[c.Truth.Name] = [2]time.Duration{pc[0] + naiveCPU - n0, pc[1] + oursCPU - o0}
			perFrames[c.Truth.Name] += frames - f0
		}
	}
	b.StopTimer()
	for _, c := range clips {
		pc, n := perClip[c.Truth.Name], time.Duration(perFrames[c.Truth.Name])
		b.Logf("%-20s naive %6.2f ms/frame, analyser %5.2f ms/frame, %5.1f× less", c.Truth.Name,
			ms(pc[0]/n), ms(pc[1]/n), float64(pc[0])/float64(pc[1]))
	}
	sort.Slice(latency, func(i, j int) bool { return latency[i] < latency[j] })
	b.ReportMetric(ms(naiveCPU/time.Duration(frames)), "naive-cpu-ms/frame")
	b.ReportMetric(ms(oursCPU/time.Duration(frames)), "cpu-ms/frame")
	b.ReportMetric(ms(decodeCPU/time.Duration(frames)), "decode-cpu-ms/frame")
	b.ReportMetric(float64(naiveCPU)/float64(oursCPU), "x-less-cpu")
	b.ReportMetric(float64(naiveCPU+decodeCPU)/float64(oursCPU+decodeCPU), "x-less-cpu-with-decode")
	b.ReportMetric(ms(latency[(len(latency)-1)*95/100]), "decision-p95-ms")
	b.ReportMetric(float64(frames)/float64(b.N), "frames")
}

// BenchmarkIdle measures an empty, still room at the idle frame rate: the CPU of one analysed
// frame (decode included) times the idle rate, as a share of one core. Target < 10 %.
func BenchmarkIdle(b *testing.B) {
	path := filepath.Join(b.TempDir(), "empty.avi")
	if _, err := evalset.GenerateClip(facePhoto, path, evalset.Spec{Name: "empty", Duration: 6 * time.Second,
		Scene: func(time.Duration) evalset.Scene { return evalset.Scene{} }}); err != nil {
		b.Fatal(err)
	}
	frame := gocv.NewMat()
	defer frame.Close()
	var cpu time.Duration
	var analysed, detected, frames int
	var idleFPS float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		an, err := NewAnalyzer(Options{Presence: DefaultPresence})
		if err != nil {
			b.Fatal(err)
		}
		idleFPS = an.Options().IdleFPS
		src, err := camera.Open(camera.Options{Source: path})
		if err != nil {
			b.Fatal(err)
		}
		for {
			// A live camera's skipped frames are grabbed without decoding; here the file is
			// decoded only for the analysed frames, and their decode is counted.
			c0 := cpuTime()
			f, err := src.Read(&frame)
			if errors.Is(err, io.EOF) {
				break
			}
			frames++
			at := time.Unix(0, 0).Add(f.MediaTime)
			if !an.Due(at) {
				continue
			}
			r, err := an.Analyze(frame, at)
			if err != nil {
				b.Fatal(err)
			}
			if r.Detected {
				detected++
			}
			cpu += cpuTime() - c0
			analysed++
		}
		src.Close()
		an.Close()
	}
	b.StopTimer()
	perFrame := cpu / time.Duration(analysed)
	b.ReportMetric(ms(perFrame), "cpu-ms/analysed-frame")
	b.ReportMetric(100*perFrame.Seconds()*idleFPS, "%-of-a-core")
	b.ReportMetric(float64(analysed)/float64(frames), "analysed-share")
	b.ReportMetric(float64(detected), "detector-runs")
}

// BenchmarkIdle720p is the idle case for a 1280×720 MJPG camera (the agent's default capture
// size): each analysed frame is a JPEG decoded and analysed; skipped frames are grabbed
// undecoded and not counted. The frame is the empty room scaled up, so nothing moves.
func BenchmarkIdle720p(b *testing.B) {
	path := filepath.Join(b.TempDir(), "empty.avi")
	if _, err := evalset.GenerateClip(facePhoto, path, evalset.Spec{Name: "empty", Duration: time.Second,
		Scene: func(time.Duration) evalset.Scene { return evalset.Scene{} }}); err != nil {
		b.Fatal(err)
	}
	src, err := camera.Open(camera.Options{Source: path})
	if err != nil {
		b.Fatal(err)
	}
	small, big := gocv.NewMat(), gocv.NewMat()
	defer small.Close()
	defer big.Close()
	if _, err := src.Read(&small); err != nil {
		b.Fatal(err)
	}
	src.Close()
	gocv.Resize(small, &big, image.Pt(1280, 720), 0, 0, gocv.InterpolationLinear)
	jpeg, err := camera.EncodeJPEG(big, 85)
	if err != nil {
		b.Fatal(err)
	}
	an, err := NewAnalyzer(Options{Presence: DefaultPresence})
	if err != nil {
		b.Fatal(err)
	}
	defer an.Close()
	idleFPS := an.Options().IdleFPS
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		m, err := gocv.IMDecode(jpeg, gocv.IMReadColor)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := an.Analyze(m, time.Unix(0, 0).Add(time.Duration(i)*time.Second/5)); err != nil {
			b.Fatal(err)
		}
		m.Close()
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	perFrame := cpu / time.Duration(b.N)
	b.ReportMetric(ms(perFrame), "cpu-ms/analysed-frame")
	b.ReportMetric(100*perFrame.Seconds()*idleFPS, "%-of-a-core")
}
