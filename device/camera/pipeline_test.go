package camera

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// TestGStreamerPipeline reads frames through OpenCV's GStreamer backend, the path the Pi camera
// takes, with videotestsrc standing in for libcamerasrc: a solid red test picture must arrive as
// BGR frames of the size the caps ask for.
func TestGStreamerPipeline(t *testing.T) {
	p := "videotestsrc pattern=red num-buffers=6 ! video/x-raw,width=160,height=120,framerate=10/1 ! videoconvert ! video/x-raw,format=BGR ! appsink"
	s, err := Open(Options{Source: p})
	if err != nil {
		t.Fatalf("Open(videotestsrc pipeline): %v (scripts/setup.sh installs gstreamer1.0-plugins-base)", err)
	}
	defer s.Close()
	if s.Kind() != KindPipeline || !s.Live() || s.Pipeline() != p {
		t.Errorf("kind %s live %v pipeline %q, want a live pipeline source", s.Kind(), s.Live(), s.Pipeline())
	}
	if w, h := s.Size(); w != 160 || h != 120 {
		t.Errorf("Size = %dx%d, want 160x120", w, h)
	}
	if s.FPS() != 10 {
		t.Errorf("FPS = %v, want 10 (from the caps)", s.FPS())
	}
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; i < 5; i++ {
		f, err := s.Read(&m)
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		if f.Index != i || m.Cols() != 160 || m.Rows() != 120 || m.Channels() != 3 {
			t.Fatalf("frame %d: index %d, %dx%d×%d", i, f.Index, m.Cols(), m.Rows(), m.Channels())
		}
		v := m.GetVecbAt(60, 80) // B, G, R
		if v[0] > 10 || v[1] > 10 || v[2] < 240 {
			t.Fatalf("frame %d pixel (80,60) = BGR %v, want red", i, v)
		}
	}
	// A live source does not end with io.EOF: a pipeline that stops is a camera that stopped.
	if _, err := s.Skip(); err != nil {
		t.Fatalf("Skip: %v", err)
	}
	if _, err := s.Read(&m); err == nil || !strings.Contains(err.Error(), "delivered no frame") {
		t.Errorf("Read past the end of the pipeline = %v, want a 'delivered no frame' error", err)
	}
}

func TestPipelineRotation(t *testing.T) {
	p := "videotestsrc num-buffers=2 ! video/x-raw,width=160,height=120 ! videoconvert ! video/x-raw,format=BGR ! appsink"
	s, err := Open(Options{Source: p, Rotation: 90})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := gocv.NewMat()
	defer m.Close()
	if _, err := s.Read(&m); err != nil {
		t.Fatal(err)
	}
	if m.Cols() != 120 || m.Rows() != 160 {
		t.Errorf("rotated frame %dx%d, want 120x160", m.Cols(), m.Rows())
	}
}

func TestPipelineErrors(t *testing.T) {
	for _, tt := range []struct{ source, want string }{
		{"videotestsrc ! fakesink", "must end in appsink"},
		{"nosuchelement ! appsink", "did not start"},
	} {
		_, err := Open(Options{Source: tt.source})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tt.source, err, tt.want)
		}
	}
}

func TestPiCameraPipeline(t *testing.T) {
	if got, want := PiCameraPipeline(1280, 720, 15), "libcamerasrc ! video/x-raw,width=1280,height=720,framerate=15/1 ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"; got != want {
		t.Errorf("PiCameraPipeline(1280, 720, 15) =\n %s\nwant\n %s", got, want)
	}
	if got := PiCameraPipeline(0, 0, 0); !strings.HasPrefix(got, "libcamerasrc ! video/x-raw ! videoconvert") {
		t.Errorf("PiCameraPipeline(0, 0, 0) = %s: the camera's own size and rate", got)
	}
	for fps, want := range map[float64]string{15: "15/1", 7.5: "15/2", 29.97: "2997/100", 0.25: "1/4"} {
		if got := fraction(fps); got != want {
			t.Errorf("fraction(%v) = %s, want %s", fps, got, want)
		}
	}
	for src, want := range map[string]bool{
		"picamera": true, "libcamerasrc ! appsink": true, "/dev/video0": false, "0": false,
		"rtsp://cam/a!b": false, "clip.avi": false, "auto": false,
	} {
		if got := IsPipeline(src); got != want {
			t.Errorf("IsPipeline(%q) = %v, want %v", src, got, want)
		}
	}
	if got := elementProperty("v4l2src device=/dev/video2 ! appsink", "v4l2src", "device"); got != "/dev/video2" {
		t.Errorf("elementProperty = %q", got)
	}
}

// fakeSys lays out a fake root (dev, proc and a GStreamer plugin directory) in the style of
// periph's fakes, for the diagnosis that real hardware would drive.
type fakeSys struct {
	t    *testing.T
	root string
}

func newFakeSys(t *testing.T) *fakeSys { return &fakeSys{t: t, root: t.TempDir()} }

func (f *fakeSys) file(path, body string) {
	f.t.Helper()
	p := filepath.Join(f.root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// process adds a process that has dev open, as /proc/PID/fd/N links show it.
func (f *fakeSys) process(pid, comm, dev string) {
	f.t.Helper()
	f.file("/proc/"+pid+"/comm", comm+"\n")
	fd := filepath.Join(f.root, "proc", pid, "fd")
	os.MkdirAll(fd, 0o755)
	os.Symlink("/dev/null", filepath.Join(fd, "0"))
	if err := os.Symlink(dev, filepath.Join(fd, "5")); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSys) env() sysEnv {
	return sysEnv{root: f.root, getenv: func(k string) string {
		if k == "GST_PLUGIN_SYSTEM_PATH_1_0" {
			return "/usr/lib/gstreamer-1.0"
		}
		return ""
	}, self: 1}
}

// TestDiagnosePiCamera tells apart the three ways a Pi camera fails to open.
func TestDiagnosePiCamera(t *testing.T) {
	p := PiCameraPipeline(1280, 720, 15)
	f := newFakeSys(t)
	f.process("1", "mirror-agent", "/dev/media0") // this process: never "busy" with itself
	err := diagnosePipeline(p, f.env())
	if !errors.Is(err, ErrLibcameraMissing) || !strings.Contains(err.Error(), "libgstlibcamera.so") {
		t.Errorf("no plugin: %v, want ErrLibcameraMissing naming libgstlibcamera.so", err)
	}

	f.file("/usr/lib/gstreamer-1.0/libgstlibcamera.so", "")
	if err := diagnosePipeline(p, f.env()); !errors.Is(err, ErrNoCamera) {
		t.Errorf("plugin, no /dev/media*: %v, want ErrNoCamera", err)
	}

	f.file("/dev/media0", "")
	if err := diagnosePipeline(p, f.env()); err != nil {
		t.Errorf("camera present and free: %v, want no diagnosis", err)
	}

	f.process("812", "rpicam-hello", "/dev/media0")
	err = diagnosePipeline(p, f.env())
	if !errors.Is(err, ErrCameraBusy) || !strings.Contains(err.Error(), "PID 812 (rpicam-hello)") {
		t.Errorf("held by another program: %v, want ErrCameraBusy naming PID 812 (rpicam-hello)", err)
	}
}

func TestDiagnoseDevice(t *testing.T) {
	f := newFakeSys(t)
	if err := diagnoseDevice("/dev/video0", f.env()); !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "no /dev/video* at all") {
		t.Errorf("no devices: %v", err)
	}
	f.file("/dev/video0", "")
	if err := diagnoseDevice("/dev/video2", f.env()); !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "no /dev/video2") {
		t.Errorf("other device only: %v", err)
	}
	if err := diagnoseDevice("/dev/video0", f.env()); err != nil {
		t.Errorf("free device: %v", err)
	}
	f.process("77", "cheese", "/dev/video0")
	if err := diagnoseDevice("/dev/video0", f.env()); !errors.Is(err, ErrCameraBusy) || !strings.Contains(err.Error(), "PID 77 (cheese)") {
		t.Errorf("busy device: %v", err)
	}
	// v4l2src pipelines are diagnosed as their device.
	if err := diagnosePipeline("v4l2src device=/dev/video0 ! videoconvert ! appsink", f.env()); !errors.Is(err, ErrCameraBusy) {
		t.Errorf("v4l2src on a busy device: %v", err)
	}
}

// TestHoldersRealProc reads the real /proc: this test process holds a file open, and the
// diagnosis must find it there (as it would find another program holding /dev/video0).
func TestHoldersRealProc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "video0")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	env := realEnv()
	env.self = -1
	got := env.holders([]string{path})
	if want := "PID " + strconv.Itoa(os.Getpid()); !strings.Contains(got, want) {
		t.Errorf("holders(%s) = %q, want it to name %s", path, got, want)
	}
	if got := realEnv().holders([]string{path}); got != "" {
		t.Errorf("holders excluding this process = %q, want none", got)
	}
}

// TestPiCameraOnThisMachine opens the picamera shortcut for real: GStreamer and libcamera are
// installed (scripts/setup.sh) and this machine has no camera, so the answer must be "no camera"
// (not a generic failure, and not "libcamera missing").
func TestPiCameraOnThisMachine(t *testing.T) {
	if m, _ := filepath.Glob("/dev/media*"); len(m) > 0 {
		t.Skipf("this machine has media devices %v, so libcamera may find a real camera; the diagnosis is covered by TestDiagnosePiCamera", m)
	}
	_, err := Open(Options{Source: PiCamera, Width: 640, Height: 480, FPS: 15})
	if errors.Is(err, ErrLibcameraMissing) {
		t.Fatalf("%v: scripts/setup.sh installs gstreamer1.0-libcamera", err)
	}
	if !errors.Is(err, ErrNoCamera) || !strings.Contains(err.Error(), "picamera") {
		t.Fatalf("Open(picamera) on a machine without a camera = %v, want ErrNoCamera naming picamera", err)
	}
}
