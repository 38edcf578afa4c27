package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display/framebuffer"
)

// check probes every configured part and prints one line per part with a hint on failure.
// It returns an error (exit 1) unless all of them work. A BlazeFace model that cannot be
// loaded (the cascade stands in) is a warn line, and a warning on stderr naming the file(s) tried.
func check(ctx context.Context, cfg *Config, w, stderr io.Writer) error {
	failed := 0
	line := func(part string, err error, ok, hint string) {
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL  %-14s %s — %s\n", part, oneLine(err), hint)
			return
		}
		fmt.Fprintf(w, "ok    %-14s %s\n", part, ok)
	}

	// Camera: opens and delivers a frame; report the frame rate it actually delivers.
	func() {
		opts := cfg.cameraOptions()
		opts.Paced = false
		if clip, ok := demoClipPlays(cfg); ok {
			// What run does on a bench: it demos on the clip, so the camera is not a failure.
			line("camera", nil, "demo clip (no camera configured): "+clip+"; plug in a USB webcam or set camera.source for a real one", "")
			return
		}
		if opts.Source == "auto" && !hasCamera() {
			line("camera", fmt.Errorf("%w: no /dev/video* device, and no demo clip at %s", camera.ErrNoCamera, opts.DemoClip), "",
				"plug in a USB webcam, set camera.source: picamera for a Pi camera module, or unset camera.demo_clip to demo on the built-in clip")
			return
		}
		src, err := camera.Open(opts)
		if err != nil {
			line("camera", err, "", cameraHint(err))
			return
		}
		defer src.Close()
		m := gocv.NewMat()
		defer m.Close()
		start, n := time.Now(), 0
		for n < 10 && time.Since(start) < 3*time.Second {
			if _, err := src.Read(&m); err != nil {
				line("camera", err, "", "check the cable and that no other program uses the camera")
				return
			}
			n++
		}
		line("camera", nil, fmt.Sprintf("%s (%s) %dx%d, %.0f fps", src.Name(), src.Kind(), m.Cols(), m.Rows(), src.FPS()), "")
	}()

	// The face detector in use: BlazeFace, or the cascade (asked for, or as the fallback when
	// the model does not load: a warning, since the mirror works, less well).
	det, err := vision.NewDetector(cfg.detector())
	detail := ""
	if err == nil {
		detail = det.Describe()
		if fb := det.Fallback(); fb != nil {
			fmt.Fprintf(w, "warn  %-14s %s — falling back to the cascade; run scripts/setup.sh or reinstall fitmirror-agent\n", "detector", oneLine(fb))
			fmt.Fprintf(stderr, "mirror-agent check: warning: BlazeFace unavailable, the Haar cascade stands in: %s\n", oneLine(fb))
		}
		det.Close()
	}
	line("detector", err, detail, "apt-get install opencv-data, or set presence.cascade")

	ports := []struct{ part, key, addr string }{{"display", "display.listen", cfg.Display.Listen}}
	if cfg.Cloud.Provider == "local" {
		ports = append(ports, struct{ part, key, addr string }{"photo-page", "cloud.local.listen", cfg.Cloud.Local.Listen})
	}
	for _, l := range ports {
		ln, err := listen(l.key, l.addr)
		if err == nil {
			ln.Close()
		}
		line(l.part, err, l.addr+" free", listenHint(err, l.key))
	}

	// A panel drawn without a browser: the framebuffer opens and reports its geometry.
	if cfg.Display.Renderer == "framebuffer" {
		fb, err := framebuffer.Open(framebuffer.Options{Device: cfg.Display.FBDevice, Rotation: cfg.Display.Rotation})
		detail := ""
		if err == nil {
			g := fb.Geometry()
			detail = fmt.Sprintf("%s %+v", cfg.Display.FBDevice, g)
			fb.Close()
		}
		line("framebuffer", err, detail, "is a panel connected? ls /dev/fb*; the mirror user needs the video group")
	}

	pdetail, phint, err := checkPanelPower(ctx, cfg)
	line("panel-power", err, pdetail, phint)
	pdetail, phint, err = checkPiPower("")
	line("pi-power", err, pdetail, phint)

	// Mirror hardware: one line per configured pin and bus (none when nothing is fitted).
	for _, r := range hardware.Check(cfg.IO) {
		line(r.Part, r.Err, r.Detail, r.Hint)
	}

	// The fleet broker: connects and authenticates as this device, under its own client ID
	// and session (brokers tie the client ID to the username), acknowledging nothing, so
	// commands queued for the mirror stay queued. Run it with the agent stopped.
	if cfg.MQTT.URL != "" {
		o, err := mqttOptions(cfg)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			o.ConnectTimeout = 5 * time.Second
			err = fleet.Probe(pctx, o)
			cancel()
		}
		line("broker", err, cfg.MQTT.URL+" accepts "+cfg.Device.ID,
			"check mqtt.url, and mqtt.password (mirror-cloud device add prints it) or the client certificate")
	}

	if cfg.Cloud.Provider == "hub" {
		detail, err := probeHub(ctx, cfg.Cloud.HubURL, cfg.Cloud.Token)
		line("hub", err, detail, "check cloud.hub_url and cloud.token (mirror-cloud device add prints it)")
	}

	err = writable(cfg.StateDir)
	line("state", err, cfg.StateDir+" writable", "create it or set state_dir")

	if failed > 0 {
		return fmt.Errorf("check: %d part(s) failed", failed)
	}
	return ctx.Err()
}

// listenHint is what an installer does about a listener that did not open: only a port in
// use is likely another mirror-agent (the address itself is checked when the configuration
// is loaded).
func listenHint(err error, key string) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "another mirror-agent running? stop it or change " + key
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the host in " + key + " is not an address of this machine: use one from ip addr, 127.0.0.1, or leave the host empty"
	case errors.Is(err, syscall.EACCES):
		return "ports below 1024 need privileges: choose a port from 1024 up in " + key
	default:
		return "check " + key
	}
}

// cameraHint is what an installer does about a camera that did not open.
func cameraHint(err error) string {
	switch {
	case errors.Is(err, camera.ErrLibcameraMissing):
		return "install libcamera's GStreamer plugin: apt install gstreamer1.0-libcamera (docs/hardware.md)"
	case errors.Is(err, camera.ErrCameraBusy):
		return "stop the program named (sudo systemctl stop mirror-agent, or an rpicam-* preview) and run check again"
	case errors.Is(err, camera.ErrNoCamera):
		return "connect the camera: a USB webcam shows in ls /dev/video*, a Pi camera module in rpicam-hello --list-cameras (ribbon cable seated, contacts the right way)"
	default:
		return "plug in the camera (ls /dev/video*) or set camera.source"
	}
}

func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	return errors.Join(f.Close(), os.Remove(filepath.Clean(name)))
}

// probeHub checks that the hub answers /healthz and accepts the device token. The token is
// tested with an empty QR request, which changes nothing: 400 means the token was accepted
// (the request itself is incomplete on purpose), 401 that it was not.
func probeHub(ctx context.Context, base, token string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(strings.TrimSuffix(base, "/") + "/healthz")
	if err != nil {
		return "", fmt.Errorf("hub %s: %w", base, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("hub %s/healthz: %s", base, res.Status)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/qrcodes", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err = c.Do(req)
	if err != nil {
		return "", fmt.Errorf("hub %s: %w", base, err)
	}
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return "", fmt.Errorf("hub %s refused cloud.token (401)", base)
	case http.StatusBadRequest:
		return base + " healthy, token accepted", nil
	default:
		return "", fmt.Errorf("hub %s/v1/qrcodes: unexpected %s", base, res.Status)
	}
}
