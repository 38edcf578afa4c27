package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"gopkg.in/yaml.v3"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/hubclient"
	"github.com/fitmirror/fitmirror/cloud/local"
	"github.com/fitmirror/fitmirror/device/camera"
	devio "github.com/fitmirror/fitmirror/device/io"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/display/framebuffer"
	"github.com/fitmirror/fitmirror/display/kiosk"
	"github.com/fitmirror/fitmirror/display/power"
	"github.com/fitmirror/fitmirror/display/status"
	"github.com/fitmirror/fitmirror/internal/httpguard"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
)

// runAgent wires the parts and runs them until ctx ends. Everything that can be checked
// before the mirror starts (config, listeners, cascade, camera) fails here with one clear error.
func runAgent(ctx context.Context, cfg *Config, log *slog.Logger, reload func() (*Config, error)) error {
	ctx, restart := context.WithCancel(ctx) // the fleet's restart command ends the run cleanly
	defer restart()
	log = log.With("device_id", cfg.Device.ID)
	photos, err := store.OpenPhotos(filepath.Join(cfg.StateDir, "photos"))
	if err != nil {
		return fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	db, err := store.OpenDB(filepath.Join(cfg.StateDir, "mirror.db"))
	if err != nil {
		return fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}
	defer db.Close()
	det, err := vision.NewDetector(cfg.detector())
	if err != nil {
		return fmt.Errorf("presence.cascade: %w", err)
	}
	defer det.Close()
	camOpts := cfg.cameraOptions()
	src, err := camera.Open(camOpts)
	if err != nil {
		return fmt.Errorf("camera.source: %w", err)
	}
	src.Close()

	kioskLn, err := listen("display.listen", cfg.Display.Listen)
	if err != nil {
		return err
	}
	defer kioskLn.Close()
	// The local provider's photo page listens on the store LAN; the hub provider needs none.
	var photoLn net.Listener
	publicURL := cfg.Cloud.Local.PublicURL
	if cfg.Cloud.Provider == "local" {
		photoLn, err = listen("cloud.local.listen", cfg.Cloud.Local.Listen)
		if err != nil {
			return err
		}
		defer photoLn.Close()
		if publicURL == "" {
			publicURL = defaultPublicURL(photoLn.Addr().(*net.TCPAddr))
		}
	}

	qrLevel, err := display.ParseQRLevel(cfg.Display.QRLevel)
	if err != nil {
		return fmt.Errorf("display.qr_level: %w", err)
	}
	panel := display.Panel{DPI: cfg.Display.DPI, DiagonalIn: cfg.Display.DiagonalIn}
	screen := kiosk.New(kiosk.Options{Logger: log, Photos: photos, Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel})
	shown := display.Multi{screen}
	var runners []func(context.Context) error // display parts that draw on their own goroutine
	if cfg.Display.Renderer == "framebuffer" {
		fb, err := framebuffer.Open(framebuffer.Options{Device: cfg.Display.FBDevice, Rotation: cfg.Display.Rotation,
			Panel: panel, QRSizeMM: cfg.Display.QRSizeMM, QRLevel: qrLevel, Photos: photos, Logger: log})
		if err != nil {
			return fmt.Errorf("display.fb_device: %w", err)
		}
		defer fb.Close()
		shown = append(shown, fb)
		runners = append(runners, fb.Run)
	}
	hours, _ := power.ParseHours(cfg.Display.Hours) // validated with the config
	if cfg.Display.Hours != "" {
		ctl, err := power.Detect(cfg.Display.Power)
		if err != nil {
			return fmt.Errorf("display.power: %w", err)
		}
		runners = append(runners, power.New(power.Options{Hours: hours, Panel: ctl, Logger: log}).Run)
	}

	// record is where every event goes: durable first (the index and the fleet's outbox, in one
	// transaction), then the parts that follow sessions.
	var (
		provider  session.Provider
		localProv *local.Provider // nil with the hub provider
	)
	forget := func(photoID string) {
		if localProv != nil {
			localProv.Forget(photoID)
		}
	}
	var hw *devio.IO
	record := func(ev session.Event) {
		if _, err := db.Append(context.Background(), ev); err != nil {
			log.Error("record event", "type", ev.Type, "err", err)
		}
		switch ev.Type {
		case session.EventPhotoPurged:
			forget(ev.PhotoID)
		case session.EventSessionOpened, session.EventSessionClosed:
			// The camera-active LED is on while frames are analysed for a session.
			if err := hw.SetCameraActive(ev.Type == session.EventSessionOpened); err != nil {
				log.Warn("camera-active LED", "err", err)
			}
		}
	}
	var (
		engine *session.Engine
		hl     *health
	)
	hw, err = devio.Open(cfg.IO, devio.Options{
		Logger: log,
		OnWake: func(at time.Time) { log.Debug("presence sensor: someone is near") },
		OnButton: func(ev devio.ButtonEvent) {
			switch ev.Action() {
			case devio.ActionCapture:
				engine.Trigger(ctx, "button")
			case devio.ActionCompare:
				engine.Compare(ctx)
			case devio.ActionStaff:
				log.Info("staff called", "button", ev.Button, "gesture", ev.Gesture.String())
				record(session.Event{Type: session.EventStaffCalled, At: ev.At,
					Data: map[string]any{"button": ev.Button, "gesture": ev.Gesture.String()}})
			}
		},
	})
	if err != nil {
		return err
	}
	defer hw.Close()
	shown = append(shown, hw) // lighting scenes follow the screens
	if cfg.Display.Status.Enabled {
		bus, err := hw.OpenI2C(cfg.Display.Status.Bus)
		if err != nil {
			return fmt.Errorf("display.status.bus: %w", err)
		}
		defer bus.Close()
		st, err := status.OpenSSD1306(bus, status.Options{DeviceID: cfg.Device.ID, Logger: log})
		if err != nil {
			return fmt.Errorf("display.status: %w", err)
		}
		shown = append(shown, st)
		runners = append(runners, st.Run)
	}
	var bindingHub fleet.BindingHub
	switch cfg.Cloud.Provider {
	case "hub":
		var hp *hubclient.Provider
		hp, err = hubclient.New(hubclient.Options{BaseURL: cfg.Cloud.HubURL, Token: cfg.Cloud.Token,
			Photos: photos, TTL: cfg.Session.QRTTL})
		provider, bindingHub = hp, hp
	default:
		localProv, err = local.New(local.Options{
			PublicURL: publicURL,
			TTL:       cfg.Session.QRTTL,
			Photos:    photos,
			OnBound:   func(id string) { engine.Bind(ctx, id, "local") },
			Logger:    log,
		})
		provider = localProv
	}
	if err != nil {
		return err
	}
	timedQR := newTimedProvider(provider)
	var fc *fleet.Client // set below when the fleet is configured
	var debugView *vision.DebugView
	if cfg.Debug.View {
		debugView = vision.NewDebugView()
	}
	pipeline := vision.NewPipeline(vision.PipelineOptions{
		Camera:   camOpts,
		Vision:   cfg.visionOptions(),
		Detector: det,
		Observe: func(ctx context.Context, o session.Observation) {
			hl.beat()
			stallForTest(ctx)
			engine.Observe(ctx, o)
		},
		OnGesture: func(ctx context.Context, action string) {
			switch action {
			case vision.ActionPhoto:
				engine.Trigger(ctx, "gesture")
			case vision.ActionNext:
				engine.Compare(ctx)
			}
		},
		OnCamera: func(st camera.Status, reason string) {
			// ok → lost/frozen is camera.lost (and a degraded fleet status); back to ok is restored.
			now := time.Now()
			if st == camera.StatusOK {
				log.Info("camera restored", "reason", reason)
				record(session.Event{Type: "camera.restored", At: now, Data: map[string]any{"reason": reason}})
				if fc != nil {
					fc.SetHealthy()
				}
				return
			}
			log.Error("camera lost", "status", string(st), "reason", reason)
			record(session.Event{Type: "camera.lost", At: now, Data: map[string]any{"status": string(st), "reason": reason}})
			if fc != nil {
				fc.SetDegraded("camera " + string(st) + ": " + reason)
			}
		},
		FrozenAfter: cfg.Camera.FrozenAfter,
		Debug:       debugView,
		JPEGQuality: cfg.Photos.JPEGQuality,
		Logger:      log,
	})
	engine, err = session.New(session.Options{
		Config:   cfg.sessionConfig(),
		Camera:   pipeline,
		Store:    photos,
		Provider: timedQR,
		Screen:   shown,
		Logger:   log,
		Events:   record,
	})
	if err != nil {
		return err
	}
	janitor := store.NewJanitor(store.JanitorOptions{
		DB: db, Photos: photos, Retention: cfg.Photos.Retention, MinFreeMB: cfg.Photos.MinFreeMB,
		Uploaded: cfg.Cloud.Provider == "hub", // the hub delivered scanned photos: keep no copy after the session
		OnPurged: forget, Logger: log,
	})
	// Photos left unbound by the last run belong to sessions that are gone: purge them first.
	if err := janitor.Startup(ctx); err != nil {
		return fmt.Errorf("state_dir %s: %w", cfg.StateDir, err)
	}

	lv := newLive(cfg, engine, pipeline)
	hl = newHealth(cfg.Health.StallAfter, engine, pipeline.CameraOK, log)
	if cfg.MQTT.URL != "" {
		fc, err = newFleet(fleetParts{cfg: cfg, log: log, engine: engine, pipeline: pipeline, janitor: janitor,
			db: db, hw: hw, live: lv, record: record, restart: restart, hub: bindingHub})
		if err != nil {
			return fmt.Errorf("mqtt.url: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", hl)
	mux.Handle("GET /metrics", metricsHandler(engine, pipeline, db, hl, timedQR))
	if localProv != nil {
		mux.Handle("/p/", localProv)
	}
	if debugView != nil {
		mux.Handle("GET /debug/vision", debugView) // loopback listener; the view also refuses other clients
	}
	mux.Handle("POST /api/trigger", triggerHandler(engine))
	mux.Handle("/", screen.Handler())
	// The kiosk answers only to loopback names (no DNS rebinding from a web page) and holds
	// its event streams open (no write timeout).
	kioskSrv := httpguard.NewServer(httpguard.LoopbackHost(mux), true)
	kioskSrv.RegisterOnShutdown(func() { screen.Close() }) // ends the open event streams
	photoMux := http.NewServeMux()
	if localProv != nil {
		photoMux.Handle("/p/", localProv) // the LAN listener serves the photo page and nothing else
	}
	photoSrv := httpguard.NewServer(httpguard.PageHeaders(photoMux), false)

	hup := make(chan os.Signal, 1) // before "ready": a reload sent right after must not kill us
	signal.Notify(hup, syscall.SIGHUP)
	log.Info("mirror-agent starting", "version", agentVersion(), "camera", src.Name(), "state_dir", cfg.StateDir)
	log.Info("kiosk ready", "url", "http://"+kioskLn.Addr().String()+"/")
	if photoLn != nil {
		log.Info("photo page ready", "public_url", publicURL, "listen", photoLn.Addr().String())
	} else {
		log.Info("QR codes from the hub", "hub_url", cfg.Cloud.HubURL)
	}

	engineCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	g, gctx := errgroup.WithContext(ctx)
	// Connections per client address: the kiosk's browser needs a few; a phone on the store
	// network a few more than its page's requests. More from one address are closed at once.
	refused := &httpguard.QuietLog{Log: log}
	limitLog := func(key string) func(string) {
		return func(ip string) {
			refused.Warn(key+ip, "too many connections from one client; closed", "listener", key, "remote", ip)
		}
	}
	g.Go(func() error {
		return serve(kioskSrv, httpguard.LimitPerClient(kioskLn, kioskConnsPerClient, limitLog("display.listen")), "display.listen")
	})
	if photoLn != nil {
		g.Go(func() error {
			return serve(photoSrv, httpguard.LimitPerClient(photoLn, photoConnsPerClient, limitLog("cloud.local.listen")), "cloud.local.listen")
		})
	}
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(engineCtx) }()
	g.Go(func() error { return pipeline.Run(gctx) })
	g.Go(func() error { return janitor.Run(gctx) })
	g.Go(func() error { return hw.Run(gctx) })
	for _, run := range runners {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error { return hl.run(gctx) })
	if fc != nil {
		g.Go(func() error { return fc.Run(gctx) })
	}

	g.Go(func() error {
		defer signal.Stop(hup)
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
			}
			next, err := reload()
			if err != nil {
				log.Error("reload: configuration not applied; the previous one stays", "err", oneLine(err))
				continue
			}
			changed, restart, err := lv.apply(gctx, next)
			if err != nil {
				log.Error("reload: configuration not applied; the previous one stays", "err", oneLine(err))
				continue
			}
			log.Info("reload: configuration applied", "changed", strings.Join(changed, ","))
			if len(restart) > 0 {
				log.Warn("reload: these keys take effect after a restart", "keys", strings.Join(restart, ","))
			}
		}
	})
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
	err = g.Wait()
	log.Info("mirror-agent stopped")
	return err
}

func (c *Config) cameraOptions() camera.Options {
	return camera.Options{Source: c.Camera.Source, DemoClip: c.demoClip(), Width: c.Camera.Width,
		Height: c.Camera.Height, FPS: c.Camera.FPS, Loop: c.Camera.Loop, Rotation: c.Camera.Rotation, Paced: true}
}

func serve(srv *http.Server, ln net.Listener, key string) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// listen opens a TCP listener and names the config key when it cannot.
// Open connections one client address may hold on the agent's listeners.
const (
	kioskConnsPerClient = 64
	photoConnsPerClient = 16
)

func listen(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return nil, fmt.Errorf("%s %s: %v", key, addr, errno)
		}
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	return ln, nil
}

// defaultPublicURL is the base URL phones reach the photo page at: the listener's own address
// when it names one, otherwise this machine's first LAN address.
func defaultPublicURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = lanAddress()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// lanAddress is the first IPv4 address of an up, non-loopback interface (private ranges first),
// read from the interface table: nothing is sent anywhere to find it.
func lanAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	var fallback string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.IsPrivate() {
				return ipn.IP.String()
			}
			if fallback == "" {
				fallback = ipn.IP.String()
			}
		}
	}
	if fallback != "" {
		return fallback
	}
	return "127.0.0.1"
}

func printYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// stallForTest is the fault hook of the watchdog test: with MIRROR_AGENT_TEST_FAULT=stall the
// camera loop hangs 3 s after start, as a wedged driver would. Nothing else reads it.
func stallForTest(ctx context.Context) {
	if stallAt.IsZero() {
		return
	}
	if time.Now().After(stallAt) {
		<-ctx.Done()
	}
}

var stallAt = func() time.Time {
	if os.Getenv("MIRROR_AGENT_TEST_FAULT") == "stall" {
		return time.Now().Add(3 * time.Second)
	}
	return time.Time{}
}()

// triggerHandler is the kiosk page's tap: POST /api/trigger {"action":"photo"|"compare"}.
// It is served on the loopback kiosk listener only; a JSON body keeps plain cross-site forms out.
func triggerHandler(engine *session.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			http.Error(w, `{"error":{"code":"bad_request","message":"Content-Type must be application/json"}}`, http.StatusUnsupportedMediaType)
			return
		}
		var req struct {
			Action string `json:"action"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&req); err != nil {
			http.Error(w, `{"error":{"code":"bad_request","message":"body must be {\"action\":\"photo\"|\"compare\"}"}}`, http.StatusBadRequest)
			return
		}
		switch req.Action {
		case "photo":
			engine.Trigger(r.Context(), "tap")
		case "compare":
			engine.Compare(r.Context())
		default:
			http.Error(w, `{"error":{"code":"bad_request","message":"action must be photo or compare"}}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}
