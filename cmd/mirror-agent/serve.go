package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// routes are the kiosk listener's handlers (loopback) and the photo listener's (the LAN:
// the photo page and nothing else).
func (a *agent) routes() (kioskMux, photoMux *http.ServeMux) {
	kioskMux = http.NewServeMux()
	kioskMux.Handle("GET /healthz", a.health)
	kioskMux.Handle("GET /metrics", metricsHandler(a.engine, a.cam.pipeline, a.st.db, a.health, a.prov.timed, a.st.rec, a.update))
	if a.prov.local != nil {
		kioskMux.Handle("/p/", a.prov.local)
	}
	if a.cam.debugView != nil {
		kioskMux.Handle("GET /debug/vision", a.cam.debugView) // loopback listener; the view also refuses other clients
	}
	kioskMux.Handle("POST /api/trigger", triggerHandler(a.engine))
	kioskMux.Handle("/", a.disp.kiosk.Handler())
	photoMux = http.NewServeMux()
	if a.prov.local != nil {
		photoMux.Handle("/p/", a.prov.local)
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
	if tcp, ok := a.disp.kioskLn.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		kioskHandler = httpguard.LoopbackHost(kioskMux)
	}
	kioskSrv := httpguard.NewServer(kioskHandler, true)
	kioskSrv.RegisterOnShutdown(func() { a.disp.kiosk.Close() }) // ends the open event streams
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
		return serve(kioskSrv, httpguard.LimitPerClient(a.disp.kioskLn, kioskConnsPerClient, limitLog("display.listen")), "display.listen")
	})
	if a.disp.photoLn != nil {
		g.Go(func() error {
			return serve(photoSrv, httpguard.LimitPerClient(a.disp.photoLn, photoConnsPerClient, limitLog("cloud.local.listen")), "cloud.local.listen")
		})
	}
	engineDone := make(chan error, 1)
	go func() { engineDone <- a.engine.Run(engineCtx) }()
	for _, run := range a.runners {
		g.Go(func() error { return run(gctx) })
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
	a.log.Info("mirror-agent starting", "version", agentVersion(), "camera", a.cam.name, "state_dir", a.cfg.StateDir)
	a.log.Info("kiosk ready", "url", "http://"+a.disp.kioskLn.Addr().String()+"/")
	if a.disp.photoLn != nil {
		a.log.Info("photo page ready", "public_url", a.disp.publicURL, "listen", a.disp.photoLn.Addr().String())
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
