package camera

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// PiCamera is the camera.source shortcut for a Raspberry Pi camera module (Camera Module 2 or 3,
// HQ camera) on its ribbon cable. On Raspberry Pi OS bookworm these are driven by libcamera, not
// plain V4L2, so OpenCV's V4L2 backend does not see them; the shortcut opens them through
// GStreamer's libcamerasrc (PiCameraPipeline).
const PiCamera = "picamera"

// The three ways a live camera fails to open that an installer must tell apart. Open wraps
// one of them (errors.Is) when it can tell which.
var (
	// ErrNoCamera: there is no such camera (nothing plugged in, ribbon not seated, wrong index).
	ErrNoCamera = errors.New("no camera")
	// ErrCameraBusy: the camera is there but another program holds it.
	ErrCameraBusy = errors.New("camera busy")
	// ErrLibcameraMissing: the pipeline needs libcamerasrc and GStreamer has no libcamera plugin.
	ErrLibcameraMissing = errors.New("libcamera missing")
)

// PiCameraPipeline is the GStreamer pipeline the picamera shortcut stands for: libcamera's
// source at the configured size and rate, converted to the BGR frames OpenCV works on, into an
// appsink that keeps only the newest frame (drop=true max-buffers=1), so frames are fresh like a
// V4L2 camera with a buffer of one. 0 for a size or rate leaves it to the camera.
func PiCameraPipeline(width, height int, fps float64) string {
	caps := []string{"video/x-raw"}
	if width > 0 && height > 0 {
		caps = append(caps, "width="+strconv.Itoa(width), "height="+strconv.Itoa(height))
	}
	if fps > 0 {
		caps = append(caps, "framerate="+fraction(fps))
	}
	return "libcamerasrc ! " + strings.Join(caps, ",") +
		" ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"
}

// fraction writes a frame rate as GStreamer's N/D (15 → 15/1, 7.5 → 15/2, 29.97 → 2997/100).
func fraction(fps float64) string {
	for _, d := range []int{1, 2, 4, 10, 100, 1000} {
		n := fps * float64(d)
		if math.Abs(n-math.Round(n)) < 1e-6 {
			return fmt.Sprintf("%d/%d", int(math.Round(n)), d)
		}
	}
	return fmt.Sprintf("%d/1", int(math.Round(fps)))
}

// IsPipeline says whether source is a GStreamer pipeline (elements joined by "!", as in
// gst-launch-1.0) rather than a device, file, folder or URL.
func IsPipeline(source string) bool {
	if source == PiCamera {
		return true
	}
	if isURL(source) || !strings.Contains(source, "!") {
		return false
	}
	_, err := os.Stat(source) // a file whose name has a "!" in it is still a file
	return err != nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "rtsp://") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// pipelineElements are the element names of a gst-launch style pipeline, in order.
func pipelineElements(p string) []string {
	var names []string
	for _, part := range strings.Split(p, "!") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		name := f[0]
		if strings.Contains(name, "/") { // caps such as video/x-raw,width=640
			continue
		}
		names = append(names, strings.SplitN(name, ",", 2)[0])
	}
	return names
}

// checkPipeline rejects pipelines OpenCV cannot read frames from, before GStreamer is asked.
func checkPipeline(p string) error {
	els := pipelineElements(p)
	if len(els) == 0 || els[len(els)-1] != "appsink" {
		return fmt.Errorf("camera: GStreamer pipeline %q must end in appsink (… ! video/x-raw,format=BGR ! appsink)", p)
	}
	return nil
}

// diagnosePipeline says why a pipeline did not open: libcamera missing, no camera, or busy
// (for pipelines that use libcamerasrc or v4l2src). nil when it cannot tell.
func diagnosePipeline(p string, env sysEnv) error {
	els := pipelineElements(p)
	for _, el := range els {
		switch el {
		case "libcamerasrc":
			if !env.hasGstPlugin("libgstlibcamera.so") {
				return fmt.Errorf("%w: GStreamer has no libcamerasrc (libgstlibcamera.so not in %s)", ErrLibcameraMissing, strings.Join(env.gstPluginDirs(), ", "))
			}
			media := env.glob("/dev/media*")
			if len(media) == 0 {
				return fmt.Errorf("%w: libcamera found no camera (no /dev/media* device: is the ribbon cable seated and the camera enabled?)", ErrNoCamera)
			}
			if h := env.holders(media); h != "" {
				return fmt.Errorf("%w: %s", ErrCameraBusy, h)
			}
		case "v4l2src":
			dev := elementProperty(p, "v4l2src", "device")
			if dev == "" {
				dev = "/dev/video0"
			}
			if err := diagnoseDevice(dev, env); err != nil {
				return err
			}
		}
	}
	return nil
}

// diagnoseDevice says why a V4L2 device did not open: missing or held by another program.
func diagnoseDevice(dev string, env sysEnv) error {
	if _, err := os.Stat(env.path(dev)); err != nil {
		if len(env.glob("/dev/video*")) == 0 {
			return fmt.Errorf("%w: no %s (no /dev/video* at all: is the camera plugged in?)", ErrNoCamera, dev)
		}
		return fmt.Errorf("%w: no %s (ls /dev/video* lists the cameras)", ErrNoCamera, dev)
	}
	if h := env.holders([]string{dev}); h != "" {
		return fmt.Errorf("%w: %s", ErrCameraBusy, h)
	}
	return nil
}

// elementProperty reads prop=value of the first element named el in a gst-launch pipeline.
func elementProperty(p, el, prop string) string {
	for _, part := range strings.Split(p, "!") {
		f := strings.Fields(part)
		if len(f) == 0 || f[0] != el {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, prop+"="); ok {
				return strings.Trim(v, `"'`)
			}
		}
		return ""
	}
	return ""
}

// sysEnv is where the diagnosis looks: the file system root (so tests can lay out a fake /dev and
// /proc, in the style of periph's fakes) and the GStreamer plugin path from the environment.
type sysEnv struct {
	root   string // "" = the real file system
	getenv func(string) string
	self   int // this process, which does not count as another program holding the camera
}

func realEnv() sysEnv { return sysEnv{getenv: os.Getenv, self: os.Getpid()} }

func (e sysEnv) path(p string) string { return filepath.Join(e.root, p) }

func (e sysEnv) glob(pattern string) []string {
	m, _ := filepath.Glob(e.path(pattern))
	for i := range m {
		m[i] = strings.TrimPrefix(m[i], e.root)
	}
	return m
}

// gstPluginDirs are the directories GStreamer loads plugins from, in its own order:
// GST_PLUGIN_PATH(_1_0) first, then GST_PLUGIN_SYSTEM_PATH(_1_0) or the system directory.
func (e sysEnv) gstPluginDirs() []string {
	var dirs []string
	for _, k := range []string{"GST_PLUGIN_PATH_1_0", "GST_PLUGIN_PATH"} {
		if v := e.getenv(k); v != "" {
			dirs = append(dirs, filepath.SplitList(v)...)
		}
	}
	sys := e.getenv("GST_PLUGIN_SYSTEM_PATH_1_0")
	if sys == "" {
		sys = e.getenv("GST_PLUGIN_SYSTEM_PATH")
	}
	if sys != "" {
		return append(dirs, filepath.SplitList(sys)...)
	}
	return append(dirs, "/usr/lib/"+multiarch()+"/gstreamer-1.0")
}

func (e sysEnv) hasGstPlugin(file string) bool {
	for _, d := range e.gstPluginDirs() {
		if _, err := os.Stat(filepath.Join(e.path(d), file)); err == nil {
			return true
		}
	}
	return false
}

// holders names the other processes that have one of the device files open
// ("/dev/video0 is in use by PID 812 (rpicam-hello)"), or "" when none does (or /proc hides them).
func (e sysEnv) holders(devs []string) string {
	want := map[string]bool{}
	for _, d := range devs {
		want[d] = true
	}
	procs, _ := filepath.Glob(e.path("/proc/[0-9]*"))
	var found []string
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == e.self {
			continue
		}
		fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
		for _, fd := range fds {
			target, err := os.Readlink(fd)
			if err != nil || !want[target] {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(p, "comm"))
			found = append(found, fmt.Sprintf("%s is in use by PID %d (%s)", target, pid, strings.TrimSpace(string(comm))))
			break
		}
	}
	return strings.Join(found, "; ")
}

// multiarch is Debian's library directory name for this build's architecture.
func multiarch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64-linux-gnu"
	case "arm":
		return "arm-linux-gnueabihf"
	case "386":
		return "i386-linux-gnu"
	default:
		return "x86_64-linux-gnu"
	}
}
