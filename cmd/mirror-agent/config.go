package main

import (
	"fmt"
	"image"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/cmd/internal/liveconfig"
	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display/power"
	"github.com/fitmirror/fitmirror/internal/debpkg"
	"github.com/fitmirror/fitmirror/internal/window"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
)

// Config is mirror-agent's configuration (YAML, dotted keys for --set). Every key has a
// default: with no file at all the agent runs on the demo clip with the local QR provider.
// docs/config.md is generated from these tags (`mirror-agent config --keys`).
type Config struct {
	Device   DeviceConfig    `yaml:"device"`
	StateDir string          `yaml:"state_dir" help:"photos and state; default $STATE_DIRECTORY under systemd (/var/lib/mirror-agent), ./state otherwise"`
	Log      LogConfig       `yaml:"log"`
	Camera   CameraConfig    `yaml:"camera"`
	Presence PresenceConfig  `yaml:"presence"`
	Session  SessionConfig   `yaml:"session"`
	Photos   PhotosConfig    `yaml:"photos"`
	Display  DisplayConfig   `yaml:"display"`
	Cloud    CloudConfig     `yaml:"cloud"`
	Health   HealthConfig    `yaml:"health"`
	IO       hardware.Config `yaml:"io"`
	MQTT     MQTTConfig      `yaml:"mqtt"`
	Fleet    FleetConfig     `yaml:"fleet"`
	Update   UpdateConfig    `yaml:"update"`
	Debug    DebugConfig     `yaml:"debug"`
	// TelemetryInterval is docs/contracts.md §1's telemetry_interval.
	TelemetryInterval time.Duration `yaml:"telemetry_interval" help:"how often telemetry is published to the fleet" range:"5s,1h"`
}

type MQTTConfig struct {
	URL         string   `yaml:"url" help:"the fleet's MQTT broker (tcp://host:1883, mqtts://host:8883); empty = no fleet connection"`
	Failover    []string `yaml:"failover" help:"more URLs of the same clustered broker (other nodes), tried in turn when mqtt.url is unreachable; after a lost connection the mirror starts with the next node"`
	Username    string   `yaml:"username" help:"empty or equal to device.id: the broker's ACL goes by username (mirror/%u/#)"`
	Password    string   `yaml:"password" help:"the device's MQTT password (mirror-cloud device add prints it); empty with client certificates"`
	TopicPrefix string   `yaml:"topic_prefix" help:"first level of every fleet topic"`
	TLS         MQTTTLS  `yaml:"tls"`
}

type MQTTTLS struct {
	CA   string `yaml:"ca" help:"CA certificate (PEM) that signed the broker's certificate; empty = the system's roots"`
	Cert string `yaml:"cert" help:"client certificate (PEM) for brokers with use_identity_as_username"`
	Key  string `yaml:"key" help:"client key (PEM) for mqtt.tls.cert"`
}

type FleetConfig struct {
	AllowSnapshot bool `yaml:"allow_snapshot" help:"let the fleet's snapshot command take a diagnostic camera frame (refused while a shopper is there); off for privacy"`
}

// UpdateConfig is the remote software update (docs/updates.md).
type UpdateConfig struct {
	PublicKeys    []string      `yaml:"public_keys" help:"minisign public keys (the RW… line of minisign.pub) a release must be signed with; more than one while keys are rotated; empty = the update command is refused"`
	HealthTimeout time.Duration `yaml:"health_timeout" help:"a newly installed version must report every part ok (for 10s in a row) within this long, or the previous version is reinstalled" range:"30s,1h"`
	Window        string        `yaml:"window" help:"maintenance window for installing updates, local time \"02:00-05:00\" (may cross midnight); empty = any time no shopper is at the mirror"`
}

// keys are the parsed update.public_keys (validated with the config).
func (c UpdateConfig) keys() []minisign.PublicKey {
	ks, _ := debpkg.ParseKeys(c.PublicKeys)
	return ks
}

type HealthConfig struct {
	StallAfter time.Duration `yaml:"stall_after" help:"a camera or session loop silent this long is stalled: /healthz fails and the systemd watchdog is no longer fed" range:"1s,10m"`
	// DisplayLostAfter: with no kiosk page attached and no framebuffer taking frames for this
	// long, the display is lost.
	DisplayLostAfter time.Duration `yaml:"display_lost_after" help:"with no kiosk page attached and no framebuffer taking frames this long, the display is lost and the mirror reports itself degraded" range:"1s,1h"`
}

type DeviceConfig struct {
	ID string `yaml:"id" help:"device ID (MQTT username and client ID), ^[a-z0-9][a-z0-9-]{0,62}$; default: the host name"`
}

type LogConfig struct {
	Level  string `yaml:"level" help:"log level" enum:"debug,info,warn,error"`
	Format string `yaml:"format" help:"auto = JSON under systemd, text otherwise" enum:"auto,text,json"`
}

type CameraConfig struct {
	Source   string  `yaml:"source" help:"auto (first /dev/video*, else the demo clip), a device index, /dev/videoN, picamera (a Raspberry Pi camera module through libcamera), a GStreamer pipeline ending in appsink, a video file, an image folder, or an rtsp:// or http:// URL"`
	DemoClip string  `yaml:"demo_clip" help:"clip played when source is auto and there is no camera; default <state_dir>/demo/walk-in.avi, made from the embedded photo on first need"`
	Width    int     `yaml:"width" help:"requested capture width of a live camera (0 = its default)" range:"0,7680"`
	Height   int     `yaml:"height" help:"requested capture height of a live camera (0 = its default)" range:"0,4320"`
	FPS      float64 `yaml:"fps" help:"requested frame rate of a live camera; playback rate of an image folder" range:"1,120"`
	Loop     bool    `yaml:"loop" help:"play a video file or image folder again from the start when it ends"`
	Rotation int     `yaml:"rotation" help:"clockwise rotation of the camera image (0, 90, 180, 270) for a camera mounted sideways: faces and photos come out upright" range:"0,270"`
	// FrozenAfter: a camera with no frames, or identical frames, for this long is lost or frozen.
	FrozenAfter time.Duration `yaml:"frozen_after" help:"no frames, or identical frames, for this long: the camera is lost or frozen and is reopened" range:"1s,5m"`
}

type PresenceConfig = liveconfig.PresenceConfig

type DebugConfig struct {
	View bool `yaml:"view" help:"serve an annotated MJPEG view of the camera at /debug/vision on the loopback kiosk listener, for tuning (frames are encoded only while someone watches)"`
}

type SessionConfig = liveconfig.SessionConfig

type PhotosConfig = liveconfig.PhotosConfig

type DisplayConfig struct {
	Listen     string        `yaml:"listen" help:"kiosk page and SSE (host:port); keep it on loopback"`
	Renderer   string        `yaml:"renderer" help:"kiosk = the page Chromium shows; framebuffer = drawn straight to display.fb_device (installs without a browser)" enum:"kiosk,framebuffer"`
	FBDevice   string        `yaml:"fb_device" help:"framebuffer device for display.renderer framebuffer"`
	Rotation   int           `yaml:"rotation" help:"framebuffer: clockwise rotation of the picture on the panel (0, 90, 180, 270)" range:"0,270"`
	DPI        float64       `yaml:"dpi" help:"the panel's pixels per inch, to size the QR code in millimetres (0 = unknown; wins over diagonal_in)" range:"0,1000"`
	DiagonalIn float64       `yaml:"diagonal_in" help:"the panel's visible diagonal in inches (0 = unknown)" range:"0,200"`
	QRSizeMM   float64       `yaml:"qr_size_mm" help:"physical width of the QR code, quiet zone included, when the panel size is known" range:"20,300"`
	QRLevel    string        `yaml:"qr_level" help:"QR error correction: Q (25%) suits scanning through glass" enum:"L,M,Q,H"`
	Hours      string        `yaml:"hours" help:"opening hours, e.g. \"mon-fri 09:00-21:00; sat-sun 10:00-22:00\"; outside them the panel is powered down (empty = always on)"`
	Power      string        `yaml:"power" help:"how to power the panel down at night" enum:"auto,cec,backlight,wlopm,wlr-randr,dpms,ddc,none"`
	Status     StatusDisplay `yaml:"status"`
}

type StatusDisplay struct {
	Enabled bool   `yaml:"enabled" help:"a 128×64 SSD1306 OLED on I2C showing device ID, IP, state and the last error (docs/hardware.md)"`
	Bus     string `yaml:"bus" help:"I2C bus of the status display (\"\" = the first)"`
}

type CloudConfig struct {
	Provider string      `yaml:"provider" help:"QR provider: local = the agent's own photo page on the store LAN; hub = WeChat QR codes from mirror-cloud (needs cloud.hub_url, cloud.token and mqtt.url for the bindings)" enum:"local,hub"`
	Local    LocalConfig `yaml:"local"`
	HubURL   string      `yaml:"hub_url" help:"mirror-cloud's base URL, e.g. https://hub.example.com"`
	Token    string      `yaml:"token" help:"this device's hub API token (mirror-cloud device add prints it)"`
}

type LocalConfig struct {
	Listen    string `yaml:"listen" help:"listener of the shopper's photo page (serves only /p/), reachable from phones on the store network"`
	PublicURL string `yaml:"public_url" help:"base URL the local QR encodes; default http://<this machine's LAN address>:<listen port>"`
}

// defaultConfig is the embedded default.
func defaultConfig() Config {
	stateDir := "./state"
	if d := os.Getenv("STATE_DIRECTORY"); d != "" { // systemd StateDirectory=
		stateDir = strings.Split(d, ":")[0]
	}
	s := session.DefaultConfig
	return Config{
		Device:   DeviceConfig{ID: defaultDeviceID()},
		StateDir: stateDir,
		Log:      LogConfig{Level: "info", Format: "auto"},
		Camera:   CameraConfig{Source: "auto", Width: 1280, Height: 720, FPS: 15, Loop: true, FrozenAfter: 5 * time.Second},
		Presence: PresenceConfig{EnterDwell: vision.DefaultPresence.EnterDwell, ExitGrace: vision.DefaultPresence.ExitGrace, BodyHold: vision.DefaultPresence.BodyHold,
			Detector: vision.KindAuto, Cascade: vision.DefaultCascade, WorkWidth: 320, MinFace: 0.08, IdleFPS: 5, EngagedFPS: 15, SearchFPS: 5,
			MotionThreshold: 25, MotionMinArea: 0.002, GestureButtons: vision.PlaceFace},
		Session: SessionConfig{AutoCapture: s.AutoCapture, StillFor: s.StillFor, Welcome: s.Welcome, Countdown: s.Countdown,
			Review: s.Review, Goodbye: s.Goodbye, QRTTL: s.QRTTL, QRLinger: s.QRLinger},
		Photos:            PhotosConfig{JPEGQuality: 90, UnboundGrace: s.UnboundGrace, Retention: 24 * time.Hour, MinFreeMB: 200},
		Display:           DisplayConfig{Listen: "127.0.0.1:8080", Renderer: "kiosk", FBDevice: "/dev/fb0", QRSizeMM: 70, QRLevel: "Q", Power: "auto"},
		Cloud:             CloudConfig{Provider: "local", Local: LocalConfig{Listen: ":8081"}},
		Health:            HealthConfig{StallAfter: 10 * time.Second, DisplayLostAfter: 30 * time.Second},
		IO:                hardware.DefaultConfig,
		MQTT:              MQTTConfig{TopicPrefix: "mirror"},
		Update:            UpdateConfig{HealthTimeout: 2 * time.Minute},
		TelemetryInterval: 30 * time.Second,
	}
}

// docDefaults are the defaults as documented: without what depends on the machine
// (the host name, systemd's state directory).
func docDefaults() Config {
	c := defaultConfig()
	c.Device.ID = ""
	c.StateDir = "./state"
	return c
}

func defaultDeviceID() string {
	h, _ := os.Hostname()
	h = strings.ToLower(strings.Split(h, ".")[0])
	h = regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(h, "-")
	h = strings.TrimLeft(h, "-")
	if len(h) > 63 {
		h = h[:63]
	}
	if !wire.ValidDeviceID(h) {
		return "mirror"
	}
	return h
}

// Validate checks what the tags cannot.
func (c *Config) Validate() error {
	if !wire.ValidDeviceID(c.Device.ID) {
		return fmt.Errorf("device.id: %q must match %s", c.Device.ID, wire.DeviceIDRule)
	}
	if c.StateDir == "" {
		return fmt.Errorf("state_dir: must not be empty")
	}
	if c.Camera.Source == "" {
		return fmt.Errorf("camera.source: must not be empty (use auto)")
	}
	if err := config.CheckListen("display.listen", c.Display.Listen); err != nil {
		return err
	}
	if _, err := parseZone(c.Presence.Zone); err != nil {
		return fmt.Errorf("presence.zone: %v", err)
	}
	if c.Camera.Rotation%90 != 0 {
		return fmt.Errorf("camera.rotation: must be 0, 90, 180 or 270 (got %d)", c.Camera.Rotation)
	}
	if c.Display.Rotation%90 != 0 {
		return fmt.Errorf("display.rotation: must be 0, 90, 180 or 270 (got %d)", c.Display.Rotation)
	}
	if len(c.MQTT.Failover) > 0 && c.MQTT.URL == "" {
		return fmt.Errorf("mqtt.failover: needs mqtt.url (the first broker to try)")
	}
	for _, u := range c.MQTT.Failover {
		if err := fleet.CheckBrokerURL(u); err != nil {
			return fmt.Errorf("mqtt.failover: %v", strings.TrimPrefix(err.Error(), "fleet: "))
		}
	}
	if c.MQTT.URL != "" {
		if err := fleet.CheckBrokerURL(c.MQTT.URL); err != nil {
			return fmt.Errorf("mqtt.url: %v", strings.TrimPrefix(err.Error(), "fleet: "))
		}
	}
	if c.MQTT.Username != "" && c.MQTT.Username != c.Device.ID {
		return fmt.Errorf("mqtt.username: %q must be empty or equal to device.id %q (the broker's ACL goes by username)", c.MQTT.Username, c.Device.ID)
	}
	if (c.MQTT.TLS.Cert == "") != (c.MQTT.TLS.Key == "") {
		return fmt.Errorf("mqtt.tls.cert and mqtt.tls.key: set both or neither")
	}
	if c.MQTT.TopicPrefix == "" || strings.ContainsAny(c.MQTT.TopicPrefix, "/+#") {
		return fmt.Errorf("mqtt.topic_prefix: %q must be one non-empty topic level without / + #", c.MQTT.TopicPrefix)
	}
	if _, err := power.ParseHours(c.Display.Hours); err != nil {
		return fmt.Errorf("display.hours: %v", err)
	}
	if c.Cloud.Provider == "local" {
		if err := config.CheckListen("cloud.local.listen", c.Cloud.Local.Listen); err != nil {
			return err
		}
	}
	if c.Cloud.Provider == "hub" {
		switch {
		case c.Cloud.HubURL == "":
			return fmt.Errorf("cloud.hub_url: required with cloud.provider hub")
		case c.Cloud.Token == "":
			return fmt.Errorf("cloud.token: required with cloud.provider hub (mirror-cloud device add prints it)")
		case c.MQTT.URL == "":
			return fmt.Errorf("mqtt.url: required with cloud.provider hub (scans reach the mirror as MQTT bindings)")
		}
	}
	if c.Cloud.HubURL != "" {
		if err := hubURL(c.Cloud.HubURL); err != nil {
			return fmt.Errorf("cloud.hub_url: %w", err)
		}
	}
	return c.Update.validate()
}

func (c UpdateConfig) validate() error {
	if _, err := debpkg.ParseKeys(c.PublicKeys); err != nil {
		return fmt.Errorf("update.public_keys: %v", err)
	}
	if _, err := window.Parse(c.Window); err != nil {
		return fmt.Errorf("update.window: %v", err)
	}
	return nil
}

// hubURL accepts https, and http only to loopback: the bearer token (cloud.token) and the
// shoppers' photos never cross a network in clear.
func hubURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%q: http:// only to loopback (127.0.0.1, ::1, localhost); use https:// so the device token is not sent in clear", s)
		}
	}
	return nil
}

func (c *Config) demoClip() string {
	if c.Camera.DemoClip != "" {
		return c.Camera.DemoClip
	}
	return filepath.Join(c.StateDir, "demo", "walk-in.avi")
}

func (c *Config) sessionConfig() session.Config {
	return session.Config{
		Welcome:      c.Session.Welcome,
		AutoCapture:  c.Session.AutoCapture,
		StillFor:     c.Session.StillFor,
		Countdown:    c.Session.Countdown,
		Review:       c.Session.Review,
		QRTTL:        c.Session.QRTTL,
		QRRetry:      session.DefaultConfig.QRRetry,
		Goodbye:      c.Session.Goodbye,
		UnboundGrace: c.Photos.UnboundGrace,
		QRLinger:     c.Session.QRLinger,
	}
}

func (c *Config) presence() vision.PresenceConfig {
	return vision.PresenceConfig{EnterDwell: c.Presence.EnterDwell, ExitGrace: c.Presence.ExitGrace, BodyHold: c.Presence.BodyHold}
}

func (c *Config) detector() vision.DetectorOptions {
	zone, _ := parseZone(c.Presence.Zone) // validated with the config
	return vision.DetectorOptions{Cascade: c.Presence.Cascade, WorkWidth: c.Presence.WorkWidth, MinFace: c.Presence.MinFace,
		Zone: zone, Model: c.Presence.Model, Kind: c.Presence.Detector}
}

// visionOptions are the pipeline's tunables (SetOptions applies them live).
func (c *Config) visionOptions() vision.Options {
	return vision.Options{
		Detector:   c.detector(),
		Motion:     vision.MotionOptions{Threshold: c.Presence.MotionThreshold, MinArea: c.Presence.MotionMinArea},
		Presence:   c.presence(),
		IdleFPS:    c.Presence.IdleFPS,
		EngagedFPS: c.Presence.EngagedFPS,
		SearchFPS:  c.Presence.SearchFPS,
		Gestures:   c.Presence.Gestures,
		// face (default) or fixed; the config's enum has checked it.
		ButtonPlacement: c.Presence.GestureButtons,
	}
}

// parseZone reads "x0,y0,x1,y1" (camera pixels); "" is the whole frame.
func parseZone(s string) (image.Rectangle, error) { return liveconfig.ParseZone(s) }
