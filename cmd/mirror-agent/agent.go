package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/cloud/local"
	"github.com/fitmirror/fitmirror/device/camera"
	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/framebuffer"
	"github.com/fitmirror/fitmirror/display/kiosk"
	"github.com/fitmirror/fitmirror/display/power"
	"github.com/fitmirror/fitmirror/display/status"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// hooks are the agent's seams for tests; the zero value is production.
type hooks struct {
	// beforeObserve, when set, runs on the camera loop before each observation reaches the
	// engine (the watchdog test hangs the loop there, as a wedged driver would).
	beforeObserve func(ctx context.Context)
}

// agent is the running mirror. runAgent assembles it in dependency order — storage,
// displays, hardware, provider, pipeline and engine, fleet, HTTP routes — and each step uses
// only what the steps before it built. The parts that feed the engine (buttons, camera,
// photo page, fleet) are built before it, because the engine needs some of them; they reach
// it through inputs, which is bound once the engine exists and before anything runs.
type agent struct {
	cfg     *Config
	log     *slog.Logger
	hooks   hooks
	restart context.CancelFunc // the fleet's restart command ends the run cleanly
	closers []func() error     // in the order opened; closed in reverse

	// storage
	photos *store.Photos
	db     *store.DB
	rec    *recorder

	// displays
	kioskLn, photoLn net.Listener // photoLn: the local provider's LAN photo page, else nil
	publicURL        string
	screen           *kiosk.Kiosk
	shown            display.Multi
	runners          []func(context.Context) error // display parts that draw on their own goroutine

	// hardware
	hw *hardware.IO

	// provider
	timedQR    *timedProvider
	localProv  *local.Provider // nil with the hub provider
	bindingHub fleet.BindingHub

	// pipeline and engine
	inputs    *inputs
	camName   string
	det       *vision.Detector
	debugView *vision.DebugView
	health    *health
	pipeline  *vision.Pipeline
	engine    *session.Engine
	janitor   *store.Janitor
	live      *live

	// fleet
	fleet *fleet.Client // nil without mqtt.url
}

// runAgent wires the parts and runs them until ctx ends. Everything that can be checked
// before the mirror starts (config, listeners, detector, camera) fails here with one clear error.
func runAgent(ctx context.Context, cfg *Config, log *slog.Logger, reload func() (*Config, error)) error {
	return runAgentWith(ctx, cfg, log, reload, hooks{})
}

func runAgentWith(ctx context.Context, cfg *Config, log *slog.Logger, reload func() (*Config, error), h hooks) error {
	ctx, restart := context.WithCancel(ctx)
	defer restart()
	a := &agent{cfg: cfg, log: log.With("device_id", cfg.Device.ID), hooks: h, restart: restart, inputs: &inputs{}}
	defer a.close()
	for _, step := range []func(context.Context) error{
		a.openStorage, a.openDisplays, a.openHardware, a.openProvider, a.buildPipeline, a.buildEngine, a.openFleet,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return a.run(ctx, reload)
}

// onClose registers what to close when the agent stops.
func (a *agent) onClose(f func() error) { a.closers = append(a.closers, f) }

func (a *agent) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// openStorage opens the photo folder and the database (index and outbox), and the recorder.
func (a *agent) openStorage(context.Context) error {
	var err error
	a.photos, err = store.OpenPhotos(filepath.Join(a.cfg.StateDir, "photos"))
	if err != nil {
		return fmt.Errorf("state_dir %s: %w", a.cfg.StateDir, err)
	}
	a.db, err = store.OpenDB(filepath.Join(a.cfg.StateDir, "mirror.db"))
	if err != nil {
		return fmt.Errorf("state_dir %s: %w", a.cfg.StateDir, err)
	}
	a.onClose(a.db.Close)
	a.rec = &recorder{db: a.db, log: a.log}
	return nil
}

// openDisplays opens the listeners, the kiosk page, and the framebuffer and panel power when
// configured.
func (a *agent) openDisplays(context.Context) error {
	cfg := a.cfg
	var err error
	if a.kioskLn, err = listen("display.listen", cfg.Display.Listen); err != nil {
		return err
	}
	a.onClose(a.kioskLn.Close)
	// The local provider's photo page listens on the store LAN; the hub provider needs none.
	a.publicURL = cfg.Cloud.Local.PublicURL
	if cfg.Cloud.Provider == "local" {
		if a.photoLn, err = listen("cloud.local.listen", cfg.Cloud.Local.Listen); err != nil {
			return err
		}
		a.onClose(a.photoLn.Close)
		if a.publicURL == "" {
			a.publicURL = defaultPublicURL(a.photoLn.Addr().(*net.TCPAddr))
		}
	}
	qrLevel, err := display.ParseQRLevel(cfg.Display.QRLevel)
	if err != nil {
		return fmt.Errorf("display.qr_level: %w", err)
	}
	panel := display.Panel{DPI: cfg.Display.DPI, DiagonalIn: cfg.Display.DiagonalIn}
	a.screen = kiosk.New(kiosk.Options{Logger: a.log, Photos: a.photos, Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel})
	a.shown = display.Multi{a.screen}
	if cfg.Display.Renderer == "framebuffer" {
		fb, err := framebuffer.Open(framebuffer.Options{Device: cfg.Display.FBDevice, Rotation: cfg.Display.Rotation,
			Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel, Photos: a.photos, Logger: a.log})
		if err != nil {
			return fmt.Errorf("display.fb_device: %w", err)
		}
		a.onClose(fb.Close)
		a.shown = append(a.shown, fb)
		a.runners = append(a.runners, fb.Run)
	}
	hours, _ := power.ParseHours(cfg.Display.Hours) // validated with the config
	if cfg.Display.Hours != "" {
		ctl, err := power.Detect(cfg.Display.Power)
		if err != nil {
			return fmt.Errorf("display.power: %w", err)
		}
		a.runners = append(a.runners, power.New(power.Options{Hours: hours, Panel: ctl, Logger: a.log}).Run)
	}
	return nil
}

// openHardware opens the GPIO parts (buttons, lights, presence sensor, camera LED) and the
// status display on their I²C bus.
func (a *agent) openHardware(ctx context.Context) error {
	var err error
	a.hw, err = hardware.Open(a.cfg.IO, hardware.Options{
		Logger: a.log,
		OnWake: func(at time.Time) { a.log.Debug("presence sensor: someone is near") },
		OnButton: func(ev hardware.ButtonEvent) {
			switch ev.Action() {
			case hardware.ActionCapture:
				a.inputs.engine.Trigger(ctx, "button")
			case hardware.ActionCompare:
				a.inputs.engine.Compare(ctx)
			case hardware.ActionStaff:
				a.log.Info("staff called", "button", ev.Button, "gesture", ev.Gesture.String())
				a.rec.record(session.Event{Type: wire.EventStaffCalled, At: ev.At,
					Data: map[string]any{"button": ev.Button, "gesture": ev.Gesture.String()}})
			}
		},
	})
	if err != nil {
		return err
	}
	a.onClose(a.hw.Close)
	a.shown = append(a.shown, a.hw) // lighting scenes follow the screens
	a.rec.follow(cameraLED(a.hw, a.log))
	if !a.cfg.Display.Status.Enabled {
		return nil
	}
	bus, err := a.hw.OpenI2C(a.cfg.Display.Status.Bus)
	if err != nil {
		return fmt.Errorf("display.status.bus: %w", err)
	}
	a.onClose(bus.Close)
	st, err := status.OpenSSD1306(bus, status.Options{DeviceID: a.cfg.Device.ID, Logger: a.log})
	if err != nil {
		return fmt.Errorf("display.status: %w", err)
	}
	a.shown = append(a.shown, st)
	a.runners = append(a.runners, st.Run)
	a.rec.follow(func(ev session.Event) { // the installer sees why the mirror is degraded
		if ev.Type == wire.EventCameraLost {
			st.SetError(fmt.Errorf("camera %v: %v", ev.Data["status"], ev.Data["reason"]))
		}
	})
	return nil
}

// openProvider makes the QR provider: the hub's, or the local photo page's.
func (a *agent) openProvider(ctx context.Context) error {
	cfg := a.cfg
	var provider session.Provider
	switch cfg.Cloud.Provider {
	case "hub":
		hp, err := hubclient.New(hubclient.Options{BaseURL: cfg.Cloud.HubURL, Token: cfg.Cloud.Token,
			Photos: a.photos, TTL: cfg.Session.QRTTL})
		if err != nil {
			return err
		}
		provider, a.bindingHub = hp, hp
	default:
		lp, err := local.New(local.Options{
			PublicURL: a.publicURL,
			TTL:       cfg.Session.QRTTL,
			Photos:    a.photos,
			OnBound:   func(id string) { a.inputs.engine.Bind(ctx, id, "local") },
			Logger:    a.log,
		})
		if err != nil {
			return err
		}
		provider, a.localProv = lp, lp
		a.rec.follow(func(ev session.Event) { // a purged photo's page goes with it
			if ev.Type == wire.EventPhotoPurged {
				lp.Forget(ev.PhotoID)
			}
		})
	}
	a.timedQR = newTimedProvider(provider)
	return nil
}

// forget drops a purged photo from the local photo page (nothing with the hub provider).
func (a *agent) forget(photoID string) {
	if a.localProv != nil {
		a.localProv.Forget(photoID)
	}
}

// buildPipeline loads the detector, checks the camera once, and builds the camera → vision
// pipeline and the watchdog's health (which the pipeline beats on every frame).
func (a *agent) buildPipeline(context.Context) error {
	cfg := a.cfg
	var err error
	if a.det, err = vision.NewDetector(cfg.detector()); err != nil {
		return fmt.Errorf("presence.cascade: %w", err)
	}
	a.onClose(func() error { a.det.Close(); return nil })
	if err := ensureDemoClip(cfg, a.log); err != nil {
		return err
	}
	camOpts := cfg.cameraOptions()
	src, err := camera.Open(camOpts)
	if err != nil {
		return fmt.Errorf("camera.source: %w", err)
	}
	a.camName = src.Name()
	src.Close()
	if cfg.Debug.View {
		a.debugView = vision.NewDebugView()
	}
	a.health = newHealth(cfg.Health.StallAfter, a.log)
	a.pipeline = vision.NewPipeline(vision.PipelineOptions{
		Camera:   camOpts,
		Vision:   cfg.visionOptions(),
		Detector: a.det,
		Observe: func(ctx context.Context, o session.Observation) {
			a.health.beat()
			if a.hooks.beforeObserve != nil {
				a.hooks.beforeObserve(ctx)
			}
			a.inputs.engine.Observe(ctx, o)
		},
		OnGesture: func(ctx context.Context, action string) {
			switch action {
			case vision.ActionPhoto:
				a.inputs.engine.Trigger(ctx, "gesture")
			case vision.ActionNext:
				a.inputs.engine.Compare(ctx)
			}
		},
		OnCamera:    cameraEvents(a.rec),
		FrozenAfter: cfg.Camera.FrozenAfter,
		Debug:       a.debugView,
		JPEGQuality: cfg.Photos.JPEGQuality,
		Logger:      a.log,
	})
	return nil
}

// buildEngine builds the session engine on the pipeline, the provider and the displays, binds
// the inputs to it, and purges what the last run left behind.
func (a *agent) buildEngine(ctx context.Context) error {
	cfg := a.cfg
	var err error
	a.engine, err = session.New(session.Options{
		Config:   cfg.sessionConfig(),
		Camera:   a.pipeline,
		Store:    a.photos,
		Provider: a.timedQR,
		Screen:   a.shown,
		Logger:   a.log,
		Events:   a.rec.record,
	})
	if err != nil {
		return err
	}
	a.inputs.engine = a.engine
	a.health.watch(a.engine, a.pipeline.CameraOK)
	a.health.storage = a.rec.storageOK
	a.janitor = store.NewJanitor(store.JanitorOptions{
		DB: a.db, Photos: a.photos, Retention: cfg.Photos.Retention, MinFreeMB: cfg.Photos.MinFreeMB,
		Uploaded: cfg.Cloud.Provider == "hub", // the hub delivered scanned photos: keep no copy after the session
		OnPurged: a.forget, Logger: a.log,
	})
	// Photos left unbound by the last run belong to sessions that are gone: purge them first.
	if err := a.janitor.Startup(ctx); err != nil {
		return fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	a.live = newLive(cfg, a.engine, a.pipeline)
	return nil
}

// openFleet builds the fleet client when mqtt.url is set; its status follows the camera.
func (a *agent) openFleet(context.Context) error {
	if a.cfg.MQTT.URL == "" {
		return nil
	}
	fc, err := newFleet(fleetParts{cfg: a.cfg, log: a.log, engine: a.engine, pipeline: a.pipeline, janitor: a.janitor,
		db: a.db, hw: a.hw, live: a.live, record: a.rec.record, restart: a.restart, hub: a.bindingHub})
	if err != nil {
		return fmt.Errorf("mqtt.url: %w", err)
	}
	a.fleet = fc
	a.rec.follow(func(ev session.Event) {
		switch ev.Type {
		case wire.EventCameraLost:
			fc.SetDegraded("camera " + fmt.Sprint(ev.Data["status"]) + ": " + fmt.Sprint(ev.Data["reason"]))
		case wire.EventCameraRestored:
			if ok, reason := a.rec.storageOK(); !ok {
				fc.SetDegraded(reason)
			} else {
				fc.SetHealthy()
			}
		}
	})
	a.rec.onStorage = func(ok bool, reason string) {
		switch {
		case !ok:
			fc.SetDegraded(reason)
		case a.pipeline.CameraOK():
			fc.SetHealthy()
		}
	}
	return nil
}

// routes are the kiosk listener's handlers (loopback) and the photo listener's (the LAN:
// the photo page and nothing else).
func (a *agent) routes() (kioskMux, photoMux *http.ServeMux) {
	kioskMux = http.NewServeMux()
	kioskMux.Handle("GET /healthz", a.health)
	kioskMux.Handle("GET /metrics", metricsHandler(a.engine, a.pipeline, a.db, a.health, a.timedQR, a.rec))
	if a.localProv != nil {
		kioskMux.Handle("/p/", a.localProv)
	}
	if a.debugView != nil {
		kioskMux.Handle("GET /debug/vision", a.debugView) // loopback listener; the view also refuses other clients
	}
	kioskMux.Handle("POST /api/trigger", triggerHandler(a.engine))
	kioskMux.Handle("/", a.screen.Handler())
	photoMux = http.NewServeMux()
	if a.localProv != nil {
		photoMux.Handle("/p/", a.localProv)
	}
	return kioskMux, photoMux
}

// Open connections one client address may hold on the agent's listeners.
const (
	kioskConnsPerClient = 64
	photoConnsPerClient = 16
)

// run serves and runs every part until ctx ends, then stops them in order.
func (a *agent) run(ctx context.Context, reload func() (*Config, error)) error {
	kioskMux, photoMux := a.routes()
	// On loopback (the default) the kiosk answers only to loopback names: a web page cannot
	// reach it by rebinding its own name to 127.0.0.1. It holds its event streams open (no
	// write timeout).
	var kioskHandler http.Handler = kioskMux
	if tcp, ok := a.kioskLn.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		kioskHandler = httpguard.LoopbackHost(kioskMux)
	}
	kioskSrv := httpguard.NewServer(kioskHandler, true)
	kioskSrv.RegisterOnShutdown(func() { a.screen.Close() }) // ends the open event streams
	photoSrv := httpguard.NewServer(httpguard.PageHeaders(photoMux), false)

	hup := make(chan os.Signal, 1) // before "ready": a reload sent right after must not kill us
	signal.Notify(hup, syscall.SIGHUP)
	a.logReady()

	engineCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	g, gctx := errgroup.WithContext(ctx)
	// Connections per client address: the kiosk's browser needs a few; a phone on the store
	// network a few more than its page's requests. More from one address are closed at once.
	refused := &httpguard.QuietLog{Log: a.log}
	limitLog := func(key string) func(string) {
		return func(ip string) {
			refused.Warn(key+ip, "too many connections from one client; closed", "listener", key, "remote", ip)
		}
	}
	g.Go(func() error {
		return serve(kioskSrv, httpguard.LimitPerClient(a.kioskLn, kioskConnsPerClient, limitLog("display.listen")), "display.listen")
	})
	if a.photoLn != nil {
		g.Go(func() error {
			return serve(photoSrv, httpguard.LimitPerClient(a.photoLn, photoConnsPerClient, limitLog("cloud.local.listen")), "cloud.local.listen")
		})
	}
	engineDone := make(chan error, 1)
	go func() { engineDone <- a.engine.Run(engineCtx) }()
	for _, run := range append([]func(context.Context) error{a.pipeline.Run, a.janitor.Run, a.hw.Run, a.health.run, a.rec.run}, a.runners...) {
		g.Go(func() error { return run(gctx) })
	}
	if a.fleet != nil {
		g.Go(func() error { return a.fleet.Run(gctx) })
	}
	g.Go(func() error { return a.reloadOnHUP(gctx, hup, reload) })
	g.Go(func() error {
		<-gctx.Done()
		// Order matters: the camera loop has stopped feeding; the engine closes the session,
		// purges photos nobody scanned and shows black; then the listeners close.
		stopEngine()
		err := <-engineDone
		shutCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		kioskSrv.Shutdown(shutCtx)
		photoSrv.Shutdown(shutCtx)
		return err
	})
	err := g.Wait()
	a.log.Info("mirror-agent stopped")
	return err
}

func (a *agent) logReady() {
	a.log.Info("mirror-agent starting", "version", agentVersion(), "camera", a.camName, "state_dir", a.cfg.StateDir)
	a.log.Info("kiosk ready", "url", "http://"+a.kioskLn.Addr().String()+"/")
	if a.photoLn != nil {
		a.log.Info("photo page ready", "public_url", a.publicURL, "listen", a.photoLn.Addr().String())
	} else {
		a.log.Info("QR codes from the hub", "hub_url", a.cfg.Cloud.HubURL)
	}
}

// reloadOnHUP applies the configuration file again on each SIGHUP (systemctl reload).
func (a *agent) reloadOnHUP(ctx context.Context, hup chan os.Signal, reload func() (*Config, error)) error {
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		next, err := reload()
		if err != nil {
			a.log.Error("reload: configuration not applied; the previous one stays", "err", oneLine(err))
			continue
		}
		changed, restart, err := a.live.apply(ctx, next)
		if err != nil {
			a.log.Error("reload: configuration not applied; the previous one stays", "err", oneLine(err))
			continue
		}
		a.log.Info("reload: configuration applied", "changed", strings.Join(changed, ","))
		if len(restart) > 0 {
			a.log.Warn("reload: these keys take effect after a restart", "keys", strings.Join(restart, ","))
		}
	}
}

// inputs is how the parts built before the engine (buttons, camera pipeline, photo page)
// reach it: bound by buildEngine, before anything runs.
type inputs struct{ engine *session.Engine }

// recorder is where every event goes: durable first (the index and the fleet's outbox, in
// one transaction), then the parts that follow events (the camera LED, the photo page, the
// fleet status), in the order they were added.
type recorder struct {
	db        *store.DB
	log       *slog.Logger
	followers []func(session.Event)
	// onStorage is told when recording starts failing (ok false, with the error) and when
	// it works again; set while the agent is built.
	onStorage func(ok bool, reason string)

	failures atomic.Uint64 // appends that failed, since start
	mu       sync.Mutex
	lost     int       // events not recorded since the failures began
	since    time.Time // the first of them
	lastErr  string
}

// follow adds f to the parts told of every recorded event; only while the agent is built.
func (r *recorder) follow(f func(session.Event)) { r.followers = append(r.followers, f) }

func (r *recorder) record(ev session.Event) {
	if _, err := r.db.Append(context.Background(), ev); err != nil {
		r.failed(ev, err)
	} else {
		r.recover()
	}
	for _, f := range r.followers {
		f(ev)
	}
}

// failed counts an event that could not be recorded (a full disk, a broken database): the
// health turns degraded, the fleet is told, and the first failure of a run is logged.
func (r *recorder) failed(ev session.Event, err error) {
	r.failures.Add(1)
	r.mu.Lock()
	first := r.lost == 0
	if first {
		r.since = time.Now()
	}
	r.lost++
	r.lastErr = err.Error()
	r.mu.Unlock()
	if first {
		r.log.Error("cannot record events: health degraded until they can be recorded again", "type", ev.Type, "err", err)
		if r.onStorage != nil {
			r.onStorage(false, "events not recorded: "+err.Error())
		}
	}
}

// recover records, once recording works again, one outbox.failed event that says how many
// events were lost; until it is recorded the health stays degraded.
func (r *recorder) recover() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == 0 {
		return
	}
	ev := session.Event{Type: wire.EventOutboxFailed, At: time.Now(), Data: map[string]any{
		"lost": r.lost, "since": wire.FormatTime(r.since), "error": r.lastErr}}
	if _, err := r.db.Append(context.Background(), ev); err != nil {
		return
	}
	r.log.Warn("events are recorded again", "lost", r.lost, "since", r.since)
	r.lost = 0
	if r.onStorage != nil {
		r.onStorage(true, "")
	}
}

// storageOK reports whether events are being recorded, or why not.
func (r *recorder) storageOK() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("%d events not recorded since %s: %s", r.lost, wire.FormatTime(r.since), r.lastErr)
}

// run retries, every few seconds, to record that events were lost, so that the health
// recovers when space returns even if nothing else happens.
func (r *recorder) run(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.recover()
		}
	}
}

// cameraLED keeps the camera-active LED on while frames are analysed for a session.
func cameraLED(hw *hardware.IO, log *slog.Logger) func(session.Event) {
	return func(ev session.Event) {
		switch ev.Type {
		case wire.EventSessionOpened, wire.EventSessionClosed:
			if err := hw.SetCameraActive(ev.Type == wire.EventSessionOpened); err != nil {
				log.Warn("camera-active LED", "err", err)
			}
		}
	}
}

// cameraEvents records the camera's changes as the pipeline reports them (the pipeline logs
// them): ok → lost or frozen is camera.lost, back to ok is camera.restored, and a change
// between lost and frozen is not an event (telemetry shows it).
func cameraEvents(rec *recorder) func(camera.Status, string) {
	var mu sync.Mutex
	last := camera.StatusOK
	return func(st camera.Status, reason string) {
		mu.Lock()
		defer mu.Unlock()
		prev := last
		last = st
		now := time.Now()
		switch {
		case st == camera.StatusOK:
			rec.record(session.Event{Type: wire.EventCameraRestored, At: now, Data: map[string]any{"reason": reason}})
		case prev == camera.StatusOK:
			rec.record(session.Event{Type: wire.EventCameraLost, At: now, Data: map[string]any{"status": string(st), "reason": reason}})
		}
	}
}
