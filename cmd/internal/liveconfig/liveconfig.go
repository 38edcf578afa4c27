// Package liveconfig is the part of mirror-agent's configuration that takes effect at run
// time (presence.*, session.*, photos.unbound_grace): its sections, the rules the agent
// checks a fleet's desired configuration with, and its defaults. mirror-agent's
// configuration embeds these sections; mirror-cloud's console checks a desired
// configuration with [CheckDesired] before it sends it, by the same rules, so an operator
// learns of a bad value at once (the mirror checks again against itself, e.g. a zone
// against its camera's frame, and answers on config/reported).
package liveconfig

import (
	"encoding/json"
	"fmt"
	"image"
	"strings"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/session"
)

// PresenceConfig is presence.*.
type PresenceConfig struct {
	EnterDwell      time.Duration `yaml:"enter_dwell" help:"a face must stay this long before a session opens (passers-by do not)" range:"0s,30s"`
	ExitGrace       time.Duration `yaml:"exit_grace" help:"nobody seen for this long closes the session (a twirl does not)" range:"0s,5m"`
	BodyHold        time.Duration `yaml:"body_hold" help:"after the last face, the shopper's body where they stood (the background model's foreground, not mere motion) keeps the session this long (turned away to see the back of a dress); 0 = faces only" range:"0s,2m"`
	Cascade         string        `yaml:"cascade" help:"OpenCV Haar or LBP face cascade (opencv-data)"`
	Detector        string        `yaml:"detector" help:"face detector: auto = BlazeFace (presence.model), falling back to the cascade with a warning when the model does not load; haar = the cascade only" enum:"auto,haar"`
	Model           string        `yaml:"model" help:"BlazeFace short-range ONNX model (face_detection_front_128x128_barracuda.onnx); empty = looked up, never in the working directory: /usr/share/fitmirror/models/blazeface (the .deb), then models/blazeface beside the executable or in the source tree it was built from (scripts/setup.sh)"`
	WorkWidth       int           `yaml:"work_width" help:"frames are shrunk to this width before detection" range:"80,1920"`
	MinFace         float64       `yaml:"min_face" help:"smallest face that counts, as a fraction of the frame width (far pedestrians do not)" range:"0.01,0.9"`
	Zone            string        `yaml:"zone" help:"detection zone in camera pixels \"x0,y0,x1,y1\" (the fitting room's standing area); empty = the whole frame"`
	IdleFPS         float64       `yaml:"idle_fps" help:"analysed frame rate while nobody is there and nothing moves" range:"1,60"`
	EngagedFPS      float64       `yaml:"engaged_fps" help:"analysed frame rate while something moves or a shopper is there (the camera's rate caps it)" range:"1,120"`
	SearchFPS       float64       `yaml:"search_fps" help:"while nobody is at the mirror, motion runs the face detector at most this often" range:"1,120"`
	MotionThreshold int           `yaml:"motion_threshold" help:"grey-level change per pixel that counts as motion" range:"1,255"`
	MotionMinArea   float64       `yaml:"motion_min_area" help:"smallest moving blob that counts, as a fraction of the frame" range:"0.0001,0.5"`
	Gestures        bool          `yaml:"gestures" help:"air buttons: a hand held still for 0.8 s beside the head on the image's left takes a photo, on its right compares (docs/gestures.md)"`
	GestureButtons  string        `yaml:"gesture_buttons" help:"where the air buttons are: face = beside the tracked face at shoulder height, scaled with it; fixed = the frame's regions 0–18% and 82–100% of its width, 15–50% of its height" enum:"face,fixed"`
}

// SessionConfig is session.*.
type SessionConfig struct {
	AutoCapture bool          `yaml:"auto_capture" help:"take a photo by itself once the shopper holds still after the welcome (buttons, gestures and taps work either way)"`
	StillFor    time.Duration `yaml:"still_for" help:"how long the shopper holds still before the automatic photo" range:"0s,10s"`
	Welcome     time.Duration `yaml:"welcome" help:"welcome screen before the automatic countdown" range:"0s,30s"`
	Countdown   int           `yaml:"countdown" help:"seconds counted down before a photo" range:"0,10"`
	Review      time.Duration `yaml:"review" help:"the photo is acknowledged this long before its QR code shows" range:"0s,10s"`
	Goodbye     time.Duration `yaml:"goodbye" help:"goodbye screen before the mirror goes black" range:"0s,30s"`
	QRTTL       time.Duration `yaml:"qr_ttl" help:"how long a QR code works; renewed while on screen" range:"60s,24h"`
	QRLinger    time.Duration `yaml:"qr_linger" help:"after the shopper leaves, their QR code stays this long (the photo hidden) unless someone new arrives: a scan meanwhile still binds and shows ✓; 0 = goodbye at once" range:"0s,5m"`
}

// PhotosConfig is photos.* (only photos.unbound_grace takes effect at run time).
type PhotosConfig struct {
	JPEGQuality  int           `yaml:"jpeg_quality" help:"JPEG quality of photos" range:"50,100"`
	UnboundGrace time.Duration `yaml:"unbound_grace" help:"photos nobody scanned are purged this long after the session closes" range:"0s,1h"`
	Retention    time.Duration `yaml:"retention" help:"photos a shopper scanned are kept this long for their link (local provider), then purged; with the hub provider they go when the session ends" range:"1m,720h"`
	MinFreeMB    int           `yaml:"min_free_mb" help:"disk guard: below this much free space the oldest photos are purged first and disk.low is raised" range:"10,100000"`
}

// Keys are the configuration keys (or key prefixes, ending in ".") that take effect at run
// time, from a SIGHUP reload or the fleet's desired configuration. Every other key needs a
// restart.
var Keys = []string{"presence.", "session.", "photos.unbound_grace"}

// IsLive reports whether key takes effect at run time.
func IsLive(key string) bool {
	for _, p := range Keys {
		if key == p || (strings.HasSuffix(p, ".") && strings.HasPrefix(key, p)) {
			return true
		}
	}
	return false
}

// FileKeys are file paths among the live keys: never changed by the fleet (over MQTT they
// would let the fleet point the agent at any file, and learn from the error whether it
// exists).
var FileKeys = map[string]bool{"presence.cascade": true, "presence.model": true}

// FileKeyError is the refusal of a file path key.
func FileKeyError(key string) error {
	return fmt.Errorf("%s: a file path; change it in the mirror's configuration file", key)
}

// StartOnlyError is the refusal of a key that takes effect only at start.
func StartOnlyError(key string) error {
	return fmt.Errorf("%s: takes effect only at start; change it in the mirror's configuration file", key)
}

// Live is the live part of the agent's configuration, as a configuration of its own.
type Live struct {
	Presence PresenceConfig `yaml:"presence"`
	Session  SessionConfig  `yaml:"session"`
	Photos   PhotosConfig   `yaml:"photos"`
}

// Validate checks what the tags cannot (config.Check calls it).
func (l *Live) Validate() error {
	if _, err := ParseZone(l.Presence.Zone); err != nil {
		return fmt.Errorf("presence.zone: %v", err)
	}
	return nil
}

// Defaults are the agent's defaults of the live sections (mirror-agent's tests check that
// its own defaults are these).
func Defaults() Live {
	s := session.DefaultConfig
	return Live{
		Presence: PresenceConfig{EnterDwell: time.Second, ExitGrace: 3 * time.Second, BodyHold: 10 * time.Second,
			Detector: "auto", Cascade: "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml", WorkWidth: 320, MinFace: 0.08,
			IdleFPS: 5, EngagedFPS: 15, SearchFPS: 5, MotionThreshold: 25, MotionMinArea: 0.002, GestureButtons: "face"},
		Session: SessionConfig{AutoCapture: s.AutoCapture, StillFor: s.StillFor, Welcome: s.Welcome, Countdown: s.Countdown,
			Review: s.Review, Goodbye: s.Goodbye, QRTTL: s.QRTTL, QRLinger: s.QRLinger},
		Photos: PhotosConfig{JPEGQuality: 90, UnboundGrace: s.UnboundGrace, Retention: 24 * time.Hour, MinFreeMB: 200},
	}
}

// CheckDesired checks a desired configuration (config/desired's partial "config" object) by
// the rules the agent applies it with, over the defaults: only live keys, no file paths, each
// value in its range and of its kind. The error names the key, as the mirror's refusal would.
func CheckDesired(partial json.RawMessage) error {
	sets, err := fleet.Flatten(partial)
	if err != nil {
		return err
	}
	l := Defaults()
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		if FileKeys[k] {
			return FileKeyError(k)
		}
		section, _, _ := strings.Cut(k, ".")
		if section != "presence" && section != "session" && section != "photos" {
			return StartOnlyError(k) // the agent's other sections, or a key it does not have
		}
		if err := config.Set(&l, k, v); err != nil {
			return err // an unknown key of these sections, or a value of the wrong kind
		}
		if !IsLive(k) {
			return StartOnlyError(k)
		}
	}
	return config.Check(&l)
}

// ParseZone reads "x0,y0,x1,y1" (camera pixels); "" is the whole frame.
func ParseZone(s string) (image.Rectangle, error) {
	if strings.TrimSpace(s) == "" {
		return image.Rectangle{}, nil
	}
	var r image.Rectangle
	if n, err := fmt.Sscanf(strings.ReplaceAll(s, " ", ""), "%d,%d,%d,%d", &r.Min.X, &r.Min.Y, &r.Max.X, &r.Max.Y); err != nil || n != 4 {
		return r, fmt.Errorf("%q: want x0,y0,x1,y1 in camera pixels", s)
	}
	if r.Min.X < 0 || r.Min.Y < 0 || r.Dx() <= 0 || r.Dy() <= 0 {
		return r, fmt.Errorf("%q: want 0 ≤ x0 < x1 and 0 ≤ y0 < y1", s)
	}
	return r, nil
}
