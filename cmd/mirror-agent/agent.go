package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/cloud/local"
	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/framebuffer"
	"github.com/fitmirror/fitmirror/display/kiosk"
	"github.com/fitmirror/fitmirror/display/power"
	"github.com/fitmirror/fitmirror/display/status"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
	"github.com/fitmirror/fitmirror/session/store"
)

// hooks are the agent's seams for tests; the zero value is production.
type hooks struct {
	// beforeObserve, when set, runs on the camera loop before each observation reaches the
	// engine (the watchdog test hangs the loop there, as a wedged driver would).
	beforeObserve func(ctx context.Context)
}

// runner is a part that works on its own goroutine until ctx ends.
type runner = func(context.Context) error

// closers are what the agent opened, closed in reverse when it stops.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c closers) close() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// agent is the assembled mirror, ready to run: every part built, in dependency order, by a
// step that takes what it needs as arguments and returns what it built.
type agent struct {
	cfg     *Config
	log     *slog.Logger
	health  *health.Tracker
	st      storage
	disp    displays
	hw      *hardware.IO
	prov    provider
	cam     cameraParts
	engine  *session.Engine
	janitor *store.Janitor
	live    *live
	fleet   *fleet.Client   // nil without mqtt.url
	update  *update.Updater // nil without dpkg
	runners []runner        // everything else that runs: displays, hardware, watchdog, recorder
}

// runAgent wires the parts and runs them until ctx ends. Everything that can be checked
// before the mirror starts (config, listeners, detector, camera) fails here with one clear error.
func runAgent(ctx context.Context, cfg *Config, log *slog.Logger, reload func() (*Config, error)) error {
	return runAgentWith(ctx, cfg, log, reload, hooks{})
}

func runAgentWith(ctx context.Context, cfg *Config, log *slog.Logger, reload func() (*Config, error), h hooks) error {
	ctx, restart := context.WithCancel(ctx)
	defer restart()
	var cl closers
	defer func() { cl.close() }()
	a, err := assemble(ctx, cfg, log.With("device_id", cfg.Device.ID), h, restart, &cl)
	if err != nil {
		return err
	}
	return a.run(ctx, reload)
}

// assemble builds the agent. The engine's input queue comes first, so that the parts that
// feed the engine (camera, buttons, photo page, fleet) are built before it with a working
// value; the engine then reads what they queued.
func assemble(ctx context.Context, cfg *Config, log *slog.Logger, h hooks, restart func(), cl *closers) (*agent, error) {
	tr := health.New(nil)
	tr.OnChange(health.LogChanges(log))
	in := session.NewInputs()
	st, err := openStorage(cfg, log, tr, cl)
	if err != nil {
		return nil, err
	}
	disp, err := openDisplays(cfg, log, st.photos, tr, cl)
	if err != nil {
		return nil, err
	}
	hw, hwShown, hwRun, err := openHardware(ctx, cfg, log, in, st.rec, tr, cl)
	if err != nil {
		return nil, err
	}
	prov, err := openProvider(ctx, cfg, log, st, disp.publicURL, in, tr)
	if err != nil {
		return nil, err
	}
	wd := health.NewWatchdog(tr, cfg.Health.StallAfter, log)
	cam, err := buildPipeline(cfg, log, in, st.rec, tr, wd.Loop(wire.PartPipeline), disp.showGestures, h, cl)
	if err != nil {
		return nil, err
	}
	engine, janitor, err := buildEngine(ctx, cfg, log, in, cam.pipeline, prov.timed, st, append(disp.shown, hwShown...))
	if err != nil {
		return nil, err
	}
	wd.Probe(wire.PartEngine, func(ctx context.Context) bool { _, ok := engine.Snapshot(ctx); return ok })
	a := &agent{cfg: cfg, log: log, health: tr, st: st, disp: disp, hw: hw, prov: prov, cam: cam, engine: engine,
		janitor: janitor, live: newLive(cfg, engine, cam.pipeline)}
	a.runners = append(append(disp.runners, hwRun...), wd.Run, st.rec.Run, janitor.Run, hw.Run, cam.pipeline.Run, health.ClockWatch(tr).Run)
	if pw := health.WatchPower(tr, fleet.FirmwareThrottled("")); pw != nil { // a Raspberry Pi's supply and SoC
		a.runners = append(a.runners, pw.Run)
	}
	var fc *fleet.Client // the status carries an update's target version
	if a.update = openUpdater(ctx, cfg, log, tr, engine, st.rec, func(v string) { fc.SetTargetVersion(v) }); a.update != nil {
		a.runners = append(a.runners, a.update.Run)
	}
	if cfg.MQTT.URL != "" {
		if a.fleet, err = openFleet(fleetParts{cfg: cfg, log: log, health: tr, engine: engine, pipeline: cam.pipeline,
			janitor: janitor, db: st.db, hw: hw, live: a.live, rec: st.rec, restart: restart, hub: prov.hub, update: a.update, kiosk: disp.kiosk}); err != nil {
			return nil, err
		}
		fc = a.fleet
		a.runners = append(a.runners, a.fleet.Run, brokerWatch(tr, a.fleet).Run)
	}
	return a, nil
}

// storage is the photo folder, the database (index and outbox) and the recorder on it.
type storage struct {
	photos *store.Photos
	db     *store.DB
	rec    *recorder.Recorder
}

func openStorage(cfg *Config, log *slog.Logger, tr *health.Tracker, cl *closers) (storage, error) {
	photos, err := store.OpenPhotos(filepath.Join(cfg.StateDir, "photos"))
	if err != nil {
		return storage{}, fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	db, err := store.OpenDB(filepath.Join(cfg.StateDir, "mirror.db"))
	if err != nil {
		return storage{}, fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	cl.add(db.Close)
	rec := recorder.New(recorder.Options{DB: db, Health: tr, Reserve: filepath.Join(cfg.StateDir, "reserve"), Logger: log})
	return storage{photos: photos, db: db, rec: rec}, nil
}

// displays are the kiosk listener and page, the local photo page's listener, and the
// framebuffer and panel power when configured.
type displays struct {
	kioskLn, photoLn net.Listener // photoLn: the local provider's LAN photo page, else nil
	publicURL        string
	kiosk            *kiosk.Kiosk
	shown            display.Multi
	holds            []func(display.Gestures) // the air buttons' feedback: the kiosk, the framebuffer
	runners          []runner                 // parts that draw on their own goroutine, and the display's health
}

// showGestures shows the air buttons' feedback on every display.
func (d *displays) showGestures(g display.Gestures) {
	for _, f := range d.holds {
		f(g)
	}
}

func openDisplays(cfg *Config, log *slog.Logger, photos *store.Photos, tr *health.Tracker, cl *closers) (displays, error) {
	var d displays
	var err error
	if d.kioskLn, err = listen("display.listen", cfg.Display.Listen); err != nil {
		return d, err
	}
	cl.add(d.kioskLn.Close)
	// The local provider's photo page listens on the store LAN; the hub provider needs none.
	d.publicURL = cfg.Cloud.Local.PublicURL
	if cfg.Cloud.Provider == "local" {
		if d.photoLn, err = listen("cloud.local.listen", cfg.Cloud.Local.Listen); err != nil {
			return d, err
		}
		cl.add(d.photoLn.Close)
		if d.publicURL == "" {
			d.publicURL = defaultPublicURL(d.photoLn.Addr().(*net.TCPAddr))
		}
	}
	qrLevel, err := display.ParseQRLevel(cfg.Display.QRLevel)
	if err != nil {
		return d, fmt.Errorf("display.qr_level: %w", err)
	}
	panel := display.Panel{DPI: cfg.Display.DPI, DiagonalIn: cfg.Display.DiagonalIn}
	words := display.WordingFor(cfg.Cloud.Provider) // the local photo page says nothing of WeChat
	d.kiosk = kiosk.New(kiosk.Options{Logger: log, Photos: photos, Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel,
		Wording: words})
	d.shown = display.Multi{d.kiosk}
	d.holds = []func(display.Gestures){d.kiosk.ShowGestures}
	// The display works while a kiosk page is attached or the framebuffer takes frames.
	attached := []func() time.Time{d.kiosk.Attached}
	if cfg.Display.Renderer == "framebuffer" {
		fb, err := framebuffer.Open(framebuffer.Options{Device: cfg.Display.FBDevice, Rotation: cfg.Display.Rotation,
			Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel, Photos: photos, Wording: words, Logger: log})
		if err != nil {
			return d, fmt.Errorf("display.fb_device: %w", err)
		}
		cl.add(fb.Close)
		d.shown = append(d.shown, fb)
		d.holds = append(d.holds, fb.ShowGestures)
		d.runners = append(d.runners, fb.Run)
		attached = append(attached, fb.TakesFrames)
	}
	tr.Register(wire.PartDisplay, health.Degraded, wire.HealthStarting)
	watch := &health.Watch{Tracker: tr, Part: wire.PartDisplay, Probes: attached, After: cfg.Health.DisplayLostAfter,
		Lost: "lost", Reason: "no kiosk page attached and no framebuffer taking frames for " + cfg.Health.DisplayLostAfter.String()}
	d.runners = append(d.runners, watch.Run)
	hours, _ := power.ParseHours(cfg.Display.Hours) // validated with the config
	if cfg.Display.Hours != "" {
		if err := power.CheckMethod(cfg.Display.Power); err != nil {
			return d, fmt.Errorf("display.power: %w", err)
		}
		// Detected at each switch: the kiosk's compositor starts after the agent.
		ctl := power.Redetect{Method: cfg.Display.Power, Options: power.DetectOptions{
			Skipped: func(m string, err error) { log.Debug("power: method passed over", "method", m, "err", err) }}}
		d.runners = append(d.runners, power.New(power.Options{Hours: hours, Panel: ctl, Logger: log}).Run)
	}
	return d, nil
}

// openHardware opens the GPIO parts (buttons, lights, presence sensor, camera LED) and the
// status display on their I²C bus. It returns the renderers that follow the screens (the
// lighting scenes, the status display) and the status display's runner.
func openHardware(ctx context.Context, cfg *Config, log *slog.Logger, in *session.Inputs, rec *recorder.Recorder,
	tr *health.Tracker, cl *closers) (*hardware.IO, []display.Renderer, []runner, error) {
	hw, err := hardware.Open(cfg.IO, hardware.Options{
		Logger:   log,
		OnWake:   func(at time.Time) { log.Debug("presence sensor: someone is near") },
		OnButton: hardware.ButtonsTo(ctx, in, rec.Record, log),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(hw.Close)
	rec.Follow(hw.FollowSession)
	shown := []display.Renderer{hw} // lighting scenes follow the screens
	if !cfg.Display.Status.Enabled {
		return hw, shown, nil, nil
	}
	bus, err := hw.OpenI2C(cfg.Display.Status.Bus)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("display.status.bus: %w", err)
	}
	cl.add(bus.Close)
	st, err := status.OpenSSD1306(bus, status.Options{DeviceID: cfg.Device.ID, Logger: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("display.status: %w", err)
	}
	tr.OnChange(func(r health.Report) { // the installer sees why the mirror is degraded
		if !r.OK() {
			st.SetError(errors.New(r.Reason()))
		}
	})
	return hw, append(shown, st), []runner{st.Run}, nil
}

// provider is the QR provider (measured), and the part of it the fleet client uses.
type provider struct {
	timed *timedProvider
	local *local.Provider  // nil with the hub provider
	hub   fleet.BindingHub // nil with the local provider
}

// openProvider makes the QR provider: the hub's, or the local photo page's.
func openProvider(ctx context.Context, cfg *Config, log *slog.Logger, st storage, publicURL string, in *session.Inputs,
	tr *health.Tracker) (provider, error) {
	if cfg.Cloud.Provider == "hub" {
		hp, err := hubclient.New(hubclient.Options{BaseURL: cfg.Cloud.HubURL, Token: cfg.Cloud.Token,
			Photos: st.photos, TTL: cfg.Session.QRTTL, Health: tr})
		if err != nil {
			return provider{}, err
		}
		return provider{timed: newTimedProvider(hp), hub: hp}, nil
	}
	lp, err := local.New(local.Options{
		PublicURL: publicURL,
		TTL:       cfg.Session.QRTTL,
		Photos:    st.photos,
		OnBound:   func(id string) { in.Bind(ctx, id, "local") },
		Logger:    log,
	})
	if err != nil {
		return provider{}, err
	}
	st.rec.Follow(lp.FollowPurges) // a purged photo's page goes with it
	return provider{timed: newTimedProvider(lp), local: lp}, nil
}

// cameraParts are the detector, the camera → vision pipeline and its debug view.
type cameraParts struct {
	name      string
	pipeline  *vision.Pipeline
	debugView *vision.DebugView
}

// buildPipeline loads the detector, checks the camera once, and builds the camera → vision
// pipeline, which feeds the engine's inputs, records the camera's changes, beats the
// watchdog on every frame and shows the air buttons' feedback on the kiosk (hold).
func buildPipeline(cfg *Config, log *slog.Logger, in *session.Inputs, rec *recorder.Recorder, tr *health.Tracker,
	beat func(), hold func(display.Gestures), h hooks, cl *closers) (cameraParts, error) {
	det, err := vision.NewDetector(cfg.detector())
	if err != nil {
		return cameraParts{}, fmt.Errorf("presence.cascade: %w", err)
	}
	cl.add(func() error { det.Close(); return nil })
	tr.Register(wire.PartDetector, health.Unhealthy, wire.HealthOK) // loaded, or the agent does not start
	if err := ensureDemoClip(cfg, log); err != nil {
		return cameraParts{}, err
	}
	camOpts := cfg.cameraOptions()
	src, err := camera.Open(camOpts)
	if err != nil {
		return cameraParts{}, fmt.Errorf("camera.source: %w", err)
	}
	c := cameraParts{name: src.Name()}
	src.Close()
	if cfg.Debug.View {
		c.debugView = vision.NewDebugView()
	}
	c.pipeline = vision.NewPipeline(vision.PipelineOptions{
		Camera:   camOpts,
		Vision:   cfg.visionOptions(),
		Detector: det,
		Observe: func(ctx context.Context, o session.Observation) {
			beat()
			if h.beforeObserve != nil {
				h.beforeObserve(ctx)
			}
			in.Observe(ctx, o)
		},
		OnGesture:   vision.GesturesTo(in),
		OnHold:      hold,
		Events:      rec.Record,
		Health:      tr,
		FrozenAfter: cfg.Camera.FrozenAfter,
		Debug:       c.debugView,
		JPEGQuality: cfg.Photos.JPEGQuality,
		Logger:      log,
	})
	return c, nil
}

// buildEngine builds the session engine on its inputs, the pipeline, the provider and the
// screens, and the janitor, which first purges what the last run left behind.
func buildEngine(ctx context.Context, cfg *Config, log *slog.Logger, in *session.Inputs, pipeline *vision.Pipeline,
	qr session.Provider, st storage, shown display.Multi) (*session.Engine, *store.Janitor, error) {
	engine, err := session.New(session.Options{
		Config:   cfg.sessionConfig(),
		Inputs:   in,
		Camera:   pipeline,
		Store:    st.photos,
		Provider: qr,
		Screen:   shown,
		Logger:   log,
		Events:   st.rec.Record,
	})
	if err != nil {
		return nil, nil, err
	}
	janitor := store.NewJanitor(store.JanitorOptions{
		DB: st.db, Photos: st.photos, Retention: cfg.Photos.Retention, MinFreeMB: cfg.Photos.MinFreeMB,
		Uploaded: cfg.Cloud.Provider == "hub", // the hub delivered scanned photos: keep no copy after the session
		Record:   st.rec.Append, Logger: log,
	})
	// Photos left unbound by the last run belong to sessions that are gone: purge them first.
	if err := janitor.Startup(ctx); err != nil {
		return nil, nil, fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	return engine, janitor, nil
}
