package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/fleet/commands"
	"github.com/fitmirror/fitmirror/device/hardware"
	"github.com/fitmirror/fitmirror/device/update"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/internal/health"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/recorder"
	"github.com/fitmirror/fitmirror/session/store"
)

// fleetParts are what the fleet client reaches into.
type fleetParts struct {
	cfg      *Config
	log      *slog.Logger
	engine   *session.Engine
	pipeline *vision.Pipeline
	janitor  *store.Janitor
	db       *store.DB
	hw       *hardware.IO
	live     *live
	health   *health.Tracker
	rec      *recorder.Recorder
	restart  func()           // ends the process cleanly; systemd starts it again
	hub      fleet.BindingHub // the hub provider: missed bindings and acknowledgements; nil otherwise
	update   *update.Updater  // nil: no update command
	kiosk    commands.Kiosk   // the kiosk pages (reload-kiosk)
}

// mqttOptions are the fleet client's connection settings from the configuration.
func mqttOptions(cfg *Config) (fleet.Options, error) {
	o := fleet.Options{Broker: cfg.MQTT.URL, Failover: cfg.MQTT.Failover, DeviceID: cfg.Device.ID, Password: cfg.MQTT.Password,
		TopicPrefix: cfg.MQTT.TopicPrefix, Version: agentVersion(), TelemetryInterval: cfg.TelemetryInterval}
	if cfg.MQTT.TLS.CA != "" || cfg.MQTT.TLS.Cert != "" {
		tc, err := fleet.TLSConfig(cfg.MQTT.TLS.CA, cfg.MQTT.TLS.Cert, cfg.MQTT.TLS.Key)
		if err != nil {
			return o, fmt.Errorf("mqtt.tls: %w", err)
		}
		o.TLS = tc
	}
	return o, nil
}

// openFleet builds the fleet client (mqtt.url is set): its retained status follows the health
// tracker (online while every part is healthy, degraded with the reasons otherwise; the broker
// it is published on aside), and the broker is a part of the health (down after 30 s without a
// connection: /healthz, the status display and the log say so).
func openFleet(p fleetParts) (*fleet.Client, error) {
	fc, err := newFleet(p)
	if err != nil {
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	p.health.Register(wire.PartBroker, health.Degraded, wire.HealthStarting)
	follow := func(r health.Report) {
		if r = r.Without(wire.PartBroker); r.OK() {
			fc.SetHealthy()
		} else {
			fc.SetDegraded(r.Reason())
		}
	}
	p.health.OnChange(follow)
	follow(p.health.Report())
	return fc, nil
}

// brokerWatch keeps the broker part: ok while the client is connected, down after 30 s
// without a connection.
func brokerWatch(tr *health.Tracker, fc *fleet.Client) *health.Watch {
	return &health.Watch{Tracker: tr, Part: wire.PartBroker, Probes: []func() time.Time{health.Now(fc.Connected)}, After: 30 * time.Second,
		Lost: "down", Reason: "not connected to the broker (mqtt.url) for 30s"}
}

// newFleet builds the agent's fleet client: status, telemetry, the event outbox, commands,
// desired configuration and the hub's bindings.
func newFleet(p fleetParts) (*fleet.Client, error) {
	o, err := mqttOptions(p.cfg)
	if err != nil {
		return nil, err
	}
	o.Logger = p.log
	o.Outbox = p.db
	o.AllowSnapshot = p.cfg.Fleet.AllowSnapshot
	o.OnDrop = func(ctx context.Context, dropped int) {
		p.log.Warn("fleet outbox bound reached: oldest events dropped", "dropped", dropped)
		p.rec.Record(session.Event{Type: wire.EventOutboxDropped, At: time.Now(), Data: wire.OutboxDropped{Dropped: dropped}})
	}
	sampler := &fleet.SystemSampler{StateDir: p.cfg.StateDir}
	var lastFrames int64
	lastAt := time.Now()
	o.Telemetry = func(ctx context.Context) wire.Telemetry {
		st := p.engine.Stats()
		r := p.health.Report()
		t := wire.Telemetry{Counters: wire.Counters{Sessions: st.Sessions, Photos: st.Photos, QRShown: st.QRShown, Bound: st.Bound},
			Camera: r.Parts[wire.PartCamera], Display: r.Parts[wire.PartDisplay], Problems: r.Problems}
		if p.cfg.Presence.Gestures {
			t.Counters.Gestures = gestureCounters(p.pipeline.Gestures())
		}
		now, frames := time.Now(), p.pipeline.Frames()
		if d := now.Sub(lastAt).Seconds(); d > 0 {
			t.FPS = float64(frames-lastFrames) / d
		}
		lastFrames, lastAt = frames, now
		t.DetectMSP50 = p.pipeline.Stats().AnalyseMsP50
		if snap, ok := p.engine.Snapshot(ctx); ok {
			t.Session = wire.TelemetrySession{State: snap.State, ID: snap.SessionID}
		}
		sampler.Fill(&t)
		return t
	}
	o.OnBinding = func(ctx context.Context, b wire.Binding) { p.engine.Bind(ctx, b.PhotoID, b.Event) }
	o.Hub = p.hub
	o.ApplyConfig = func(ctx context.Context, version int64, sets []string) (any, error) {
		eff, err := p.live.applySets(ctx, sets)
		if err != nil {
			return eff, err
		}
		p.log.Info("fleet configuration applied", "version", version, "settings", sets)
		p.rec.Record(session.Event{Type: wire.EventConfigApplied, At: time.Now(), Data: wire.ConfigApplied{Version: version}})
		return eff, nil
	}
	parts := commands.Parts{Engine: p.engine, Janitor: p.janitor, Lights: p.hw, Index: p.db, Camera: p.pipeline, Restart: p.restart}
	if p.update != nil {
		parts.Update = p.update
	}
	if p.kiosk != nil {
		parts.Kiosk = p.kiosk
	}
	o.Commands = commands.Handlers(parts)
	return fleet.New(o)
}

// gestureCounters are the pipeline's air-button counts as telemetry has them.
func gestureCounters(g vision.GestureCounts) *wire.GestureCounters {
	return &wire.GestureCounters{Photo: g.Fired[vision.ActionPhoto], Next: g.Fired[vision.ActionNext], Abandoned: g.Abandoned}
}
