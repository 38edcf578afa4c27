package vision

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/session"
)

// waitFor polls cond (every 20 ms, for at most 20 s of real time) — the pipeline runs on a
// real camera source, so the test waits for what it does rather than for a time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type statusLog struct {
	mu  sync.Mutex
	got []camera.Status
}

func (l *statusLog) add(s camera.Status, why string) {
	l.mu.Lock()
	l.got = append(l.got, s)
	l.mu.Unlock()
}

func (l *statusLog) has(seq ...camera.Status) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for _, s := range l.got {
		if i < len(seq) && s == seq[i] {
			i++
		}
	}
	return i == len(seq)
}

func TestPipelineFeedsTheEngineAndTakesOptionsLive(t *testing.T) {
	if testexec.Emulated() {
		t.Skip("real-time pipeline test: under emulation frames are analysed about 40× slower than natively, so the live stream and its clock cannot be followed (make test runs it natively)")
	}
	clip := walkIn(t).Path
	var faces, obs atomic.Int64
	view := NewDebugView()
	p := NewPipeline(PipelineOptions{
		Camera: camera.Options{Source: clip, Loop: true},
		Debug:  view,
		Vision: Options{Presence: DefaultPresence},
		Observe: func(_ context.Context, o session.Observation) {
			obs.Add(1)
			if o.Faces > 0 {
				faces.Add(1)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Options change while frames flow (the race detector watches this).
	for i := 0; i < 5; i++ {
		if err := p.SetOptions(Options{Presence: DefaultPresence, Detector: DetectorOptions{MinFace: 0.05 + float64(i)/100}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetOptions(Options{Motion: MotionOptions{Threshold: 999}}); err == nil || !strings.Contains(err.Error(), "motion threshold 999") {
		t.Errorf("SetOptions(threshold 999) = %v, want an error naming it", err)
	}
	waitFor(t, "observations with faces", func() bool { return faces.Load() >= 20 })

	// The debug view gets annotated frames while someone watches.
	hs := httptest.NewServer(view)
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	part, err := multipart.NewReader(resp.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(part)
	resp.Body.Close()
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Cols() != 640 || m.Rows() != 480 {
		t.Errorf("debug view frame: %v, %dx%d; want a 640x480 JPEG", err, m.Cols(), m.Rows())
	}
	m.Close()

	jpeg, w, h, err := p.Capture(context.Background())
	if err != nil || w != 640 || h != 480 || len(jpeg) < 1000 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		t.Errorf("Capture = %d bytes %dx%d, %v; want a 640x480 JPEG", len(jpeg), w, h, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	st := p.Stats()
	if st.Frames < st.Analysed || st.Analysed == 0 || st.LatencyMsP95 <= 0 || st.AnalyseMsMean <= 0 || st.AnalyseMsP50 <= 0 {
		t.Errorf("Stats = %+v, want frames ≥ analysed > 0 and positive times", st)
	}
	if !p.CameraOK() {
		t.Errorf("CameraOK() = false after a healthy run")
	}
}

// TestPipelineCameraLostAndRestored: the camera is missing at start (reported lost, nobody is
// seen), comes back (restored, frames flow).
func TestPipelineCameraLostAndRestored(t *testing.T) {
	clip := walkIn(t).Path
	src := filepath.Join(t.TempDir(), "camera.avi")
	var log statusLog
	var obs atomic.Int64
	p := NewPipeline(PipelineOptions{
		Camera:   camera.Options{Source: src},
		OnCamera: log.add,
		Observe:  func(context.Context, session.Observation) { obs.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "camera lost", func() bool { return log.has(camera.StatusLost) })
	if p.CameraOK() || p.CameraStatus() != camera.StatusLost {
		t.Errorf("camera status %s, want lost", p.CameraStatus())
	}
	waitFor(t, "nobody-seen observations while lost", func() bool { return obs.Load() > 0 })
	if _, _, _, err := p.Capture(context.Background()); err == nil {
		t.Errorf("Capture while the camera is lost = nil error")
	}
	b, _ := os.ReadFile(clip)
	os.WriteFile(src, b, 0o644)
	waitFor(t, "camera restored", func() bool { return log.has(camera.StatusLost, camera.StatusOK) })
	cancel()
	<-done
}

// mjpegServer serves an http:// MJPEG stream like an IP camera. While frozen it repeats one
// frame; while down it refuses connections' content with 503.
type mjpegServer struct {
	frozen, down atomic.Bool
	frames       [][]byte
}

func (m *mjpegServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.down.Load() {
		http.Error(w, "camera off", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
	fl := w.(http.Flusher)
	tick := time.NewTicker(time.Second / 15)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if m.down.Load() {
			return
		}
		f := m.frames[i%len(m.frames)]
		if m.frozen.Load() {
			f = m.frames[0]
		}
		if _, err := fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(f)); err != nil {
			return
		}
		w.Write(f)
		io.WriteString(w, "\r\n")
		fl.Flush()
	}
}

// TestPipelineFrozenStream: an IP camera whose stream repeats one frame is reported frozen and
// reopened; when it delivers live frames again it is restored. Then it goes away mid-stream
// (lost, nothing but "nobody seen" for the engine) and comes back (restored).
func TestPipelineFrozenStream(t *testing.T) {
	if testexec.Emulated() {
		t.Skip("real-time pipeline test: under emulation frames are analysed about 40× slower than natively, so the live stream and its clock cannot be followed (make test runs it natively)")
	}
	base := gocv.IMRead(facePhoto, gocv.IMReadColor)
	defer base.Close()
	srv := &mjpegServer{}
	for i := 0; i < 4; i++ {
		f := base.Clone()
		gocv.Rectangle(&f, image.Rect(10+20*i, 440, 30+20*i, 470), color.RGBA{255, 255, 255, 0}, -1)
		b, err := camera.EncodeJPEG(f, 80)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		srv.frames = append(srv.frames, b)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var log statusLog
	p := NewPipeline(PipelineOptions{
		Camera:      camera.Options{Source: hs.URL + "/stream.mjpg"},
		FrozenAfter: time.Second,
		OnCamera:    log.add,
		Observe:     func(context.Context, session.Observation) {},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "stream frames", func() bool { return p.Frames() > 10 })
	srv.frozen.Store(true)
	waitFor(t, "camera frozen", func() bool { return log.has(camera.StatusFrozen) })
	srv.frozen.Store(false)
	waitFor(t, "camera restored", func() bool { return log.has(camera.StatusFrozen, camera.StatusOK) })
	srv.down.Store(true)
	waitFor(t, "camera lost", func() bool { return log.has(camera.StatusFrozen, camera.StatusOK, camera.StatusLost) })
	srv.down.Store(false)
	waitFor(t, "camera restored again", func() bool {
		return log.has(camera.StatusFrozen, camera.StatusOK, camera.StatusLost, camera.StatusOK)
	})
	cancel()
	<-done
}
