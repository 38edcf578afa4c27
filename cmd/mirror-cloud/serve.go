package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/embedbroker"
	"github.com/fitmirror/fitmirror/cloud/hub/hubsim"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/postgres"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/s3blobs"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore/sqlite"
	"github.com/fitmirror/fitmirror/cloud/wechat"
	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/internal/httpguard"
)

// stores is what the hub keeps, where the configuration says.
type stores struct {
	hub.Store
	photos hub.Blobs
	// releases and files keep the signed software releases: in the database's release
	// table, their bytes beside the photos.
	releases hub.ReleaseStore
	files    hub.Files
	rollouts hubstore.RolloutStore
	bucket   *s3blobs.Bucket // photos.url, when set
	where    string          // for the log: the database, without its password
}

// openStore opens the database: PostgreSQL when database.url is set (the photos then in it
// too, so that every replica sees them), SQLite and a photo directory in state_dir otherwise;
// the photos go to the bucket of photos.url instead when it is set.
func openStore(ctx context.Context, cfg *Config) (*stores, error) {
	st, err := openDatabase(ctx, cfg)
	if err != nil || cfg.Photos.URL == "" {
		return st, err
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := s3blobs.Open(octx, cfg.Photos.URL)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.photos, st.bucket, st.files = b, b, b.Files()
	st.where += ", photos in " + b.String()
	return st, nil
}

func openDatabase(ctx context.Context, cfg *Config) (*stores, error) {
	if cfg.Database.URL != "" {
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		pg, err := postgres.Open(octx, cfg.Database.URL)
		if err != nil {
			return nil, err
		}
		return &stores{Store: pg, photos: pg.Blobs(), releases: pg, files: pg.Files(), rollouts: pg, where: config.RedactURL(cfg.Database.URL)}, nil
	}
	if err := os.MkdirAll(cfg.photoDir(), 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	st, err := sqlite.Open(cfg.dbPath())
	if err != nil {
		return nil, err
	}
	return &stores{Store: st, photos: hub.DirBlobs(cfg.photoDir()), releases: st, files: hub.DirFiles(cfg.releaseDir()), rollouts: st,
		where: cfg.dbPath()}, nil
}

// healthChecks are what /healthz reports of the stores besides the database: the photo
// bucket, shared by every replica like the broker, so an outage degrades rather than taking
// all replicas out (callbacks are still recorded and answered).
func (st *stores) healthChecks() []hub.HealthCheck {
	if st.bucket == nil {
		return nil
	}
	return []hub.HealthCheck{{Name: "photos", Check: st.bucket.Ping, Degrades: true}}
}

func deviceAdd(ctx context.Context, cfg *Config, id string, stdout io.Writer) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := hub.AddDevice(ctx, st, id, time.Now())
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(c)
}

// deviceRotate prints new credentials for a registered device; the old ones stop working.
func deviceRotate(ctx context.Context, cfg *Config, id string, stdout io.Writer) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := hub.RotateDevice(ctx, st, id)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(c)
}

// deviceRemove deletes a registered device: its credentials stop working.
func deviceRemove(ctx context.Context, cfg *Config, id string, stdout io.Writer) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RemoveDevice(ctx, id); err != nil {
		if errors.Is(err, hub.ErrNotFound) {
			return fmt.Errorf("device remove: no device %q", id)
		}
		return err
	}
	fmt.Fprintf(stdout, "removed %s: its token and MQTT password no longer work\n", id)
	return nil
}

// simOnLoopback binds a sim-mode hub's host-less listeners to 127.0.0.1 and returns them: sim
// mode serves anyone who reaches it any photo (/sim/scan with any openid), so it stays on
// loopback unless the listeners name a host.
func simOnLoopback(cfg *Config) (keys, moved []string) {
	if cfg.WeChat.Mode != "sim" {
		return nil, nil
	}
	listeners := []struct {
		key  string
		addr *string
	}{{"listen", &cfg.Listen}}
	if cfg.MQTT.URL == "" { // the embedded broker runs only without an external one
		listeners = append(listeners, struct {
			key  string
			addr *string
		}{"mqtt.embedded.listen", &cfg.MQTT.Embedded.Listen})
	}
	for _, l := range listeners {
		if host, port, err := net.SplitHostPort(*l.addr); err == nil && host == "" {
			*l.addr = net.JoinHostPort("127.0.0.1", port)
			keys, moved = append(keys, l.key), append(moved, *l.addr)
		}
	}
	return keys, moved
}

// simulator makes sim mode's WeChat stand-in, filling in the account settings left empty,
// and the options of the WeChat client that talks to it. Its QR codes outlive a restart, as
// WeChat's do: a code still on a mirror's screen scans after the hub restarted.
func simulator(cfg *Config, w *WeChatConfig, log *slog.Logger) (*hubsim.Sim, wechat.Options) {
	if w.AppID == "" {
		w.AppID = "wxsimulator0000000"
	}
	if w.Secret == "" {
		w.Secret = randHex(16)
	}
	if w.Token == "" {
		w.Token = randHex(16)
	}
	s := hubsim.New(w.AppID, w.Secret, w.Token, w.AESKey)
	codes := filepath.Join(cfg.StateDir, "sim-codes.jsonl")
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		log.Warn("sim mode: QR codes will not outlive a restart", "err", err)
	} else if err := s.Keep(codes); err != nil {
		log.Warn("sim mode: QR codes of the last run", "file", codes, "err", err)
	}
	return s, wechat.Options{BaseURL: "http://wechat.sim", AppID: w.AppID, Secret: w.Secret, HTTPClient: s.Client()}
}

func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	simKeys, simLoopback := simOnLoopback(cfg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	publicURL := cfg.PublicURL
	if publicURL == "" { // sim mode (Validate requires it in wechat mode)
		publicURL = fmt.Sprintf("http://127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
	}

	w := cfg.WeChat
	var sim hub.Simulator // sim mode only: the hub links no simulator
	clientOpts := wechat.Options{BaseURL: w.APIBase, AppID: w.AppID, Secret: w.Secret}
	if w.Mode == "sim" {
		s, opts := simulator(cfg, &w, log)
		defer s.Close()
		sim, clientOpts = s, opts
	}
	metrics := hub.NewMetrics()
	clientOpts.OnCall = metrics.ObserveWeChat // WeChat latency and errcodes on /metrics
	client, err := wechat.NewClient(clientOpts)
	if err != nil {
		return err
	}
	cb, err := wechat.NewCallback(wechat.CallbackOptions{Token: w.Token, AppID: w.AppID, AESKey: w.AESKey, PreviousAESKey: w.PreviousAESKey})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	var pub hub.Publisher
	var checks []hub.HealthCheck
	mqttAddr := cfg.MQTT.URL
	if cfg.MQTT.URL == "" {
		b, err := embedbroker.New(embedbroker.Options{Listen: cfg.MQTT.Embedded.Listen, Store: st.Store, TopicPrefix: cfg.MQTT.TopicPrefix,
			OpsPassword: cfg.MQTT.Embedded.OpsPassword, Logger: log})
		if err != nil {
			return err
		}
		g.Go(func() error { return b.Run(ctx) })
		pub, mqttAddr = b, b.Addr()
	} else {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		p, err := hub.DialMQTT(dctx, hub.MQTTOptions{URL: cfg.MQTT.URL, Failover: cfg.MQTT.Failover, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password})
		cancel()
		if err != nil {
			return err
		}
		defer p.Close()
		pub = p
		// The broker degrades the replica, never takes it out of the load balancer: bindings
		// wait in the database until it is back.
		checks = append(checks, hub.HealthCheck{Name: "broker", Check: p.Reachable, Degrades: true})
	}
	checks = append(checks, st.healthChecks()...)

	mpVerify, _ := hub.ParseMPVerify(w.MPVerify) // checked by Validate
	proxies, _ := cfg.trustedProxies()           // checked by Validate
	h, err := hub.New(hub.Options{Store: st.Store, Photos: st.photos, Releases: st.releases, ReleaseFiles: st.files, WeChat: client, Callback: cb, Publisher: pub,
		AppID: w.AppID, PublicURL: publicURL, OAuthBase: w.OAuthBase, TopicPrefix: cfg.MQTT.TopicPrefix,
		Reply: w.Reply, Sim: sim, UnscannedGrace: cfg.Photos.UnscannedGrace, Retention: cfg.Photos.Retention, OnUnsubscribe: cfg.Photos.OnUnsubscribe,
		MPVerify: mpVerify, HealthChecks: checks, TrustedProxies: proxies, Metrics: metrics, Logger: log,
		CallbackRate: rate(cfg.RateLimits.Callback), DeviceAPIRate: rate(cfg.RateLimits.DeviceAPI), PageRate: rate(cfg.RateLimits.Page)})
	if err != nil {
		return err
	}
	var sub subscriber // one broker subscription per filter, shared by the console and the rollouts
	if s, ok := pub.(subscriber); ok {
		sub = newFanout(s)
	}
	consoleAddr, err := startConsole(ctx, g, cfg, st.Store, st.releases, pub, sub, metrics.Registry(), log)
	if err != nil {
		return err
	}
	if err := startRollouts(ctx, g, cfg, st, pub, sub, log); err != nil {
		return err
	}
	serveHTTP(ctx, g, "http", h.Handler(), ln)
	g.Go(func() error { return h.Run(ctx) })
	if len(simLoopback) > 0 {
		log.Warn("sim mode: listening on loopback only (anyone who reaches a sim-mode hub can fetch any photo); "+
			"to expose it, give "+strings.Join(simKeys, " and ")+" a host, e.g. 0.0.0.0:8090", "listeners", strings.Join(simLoopback, ","))
	}
	log.Info("mirror-cloud listening", "version", cloudVersion(), "http", ln.Addr().String(), "public_url", publicURL,
		"mode", w.Mode, "mqtt", mqttAddr, "database", st.where, "console", consoleAddr)
	if sim != nil {
		log.Info("sim mode: simulate a scan with POST " + publicURL + `/sim/scan {"qr":"<QR content>","openid":"o_test"}`)
	}
	return g.Wait()
}

// serveHTTP serves handler on ln in g until ctx ends, then shuts the server down (5 s for
// the requests under way).
func serveHTTP(ctx context.Context, g *errgroup.Group, name string, handler http.Handler, ln net.Listener) {
	srv := httpguard.NewServer(handler, false)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
