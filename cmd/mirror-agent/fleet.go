package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/device/hardware"
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
// tracker (online while every part is healthy, degraded with the reasons otherwise), and the
// broker is a part of the health (down after 30 s without a connection).
func openFleet(p fleetParts) (*fleet.Client, error) {
	fc, err := newFleet(p)
	if err != nil {
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	p.health.Register(wire.PartBroker, health.Degraded, wire.HealthStarting)
	follow := func(r health.Report) {
		if r.OK() {
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
	return &health.Watch{Tracker: tr, Part: wire.PartBroker, Probes: []func() bool{fc.Connected}, After: 30 * time.Second,
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
	o.Commands = fleetCommands(p)
	return fleet.New(o)
}

// fleetCommands are the commands the mirror answers on mirror/{id}/cmd/{name}
// (docs/contracts.md §1).
func fleetCommands(p fleetParts) map[string]fleet.CommandFunc {
	return map[string]fleet.CommandFunc{
		"end-session": func(ctx context.Context, _ json.RawMessage) (any, error) {
			p.engine.EndSession(ctx, "command")
			return map[string]any{"ended": true}, nil
		},
		"purge-photos": func(ctx context.Context, _ json.RawMessage) (any, error) {
			n, _ := p.engine.PurgePhotos(ctx)
			m, err := p.janitor.PurgeAll(ctx, wire.PurgeCommand)
			return map[string]any{"purged": n + m}, err
		},
		"set-light": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Scene string `json:"scene"`
			}
			if err := json.Unmarshal(args, &a); err != nil || a.Scene == "" {
				return nil, wire.BadArgs(`want {"scene":"daylight"}`)
			}
			if err := p.hw.SetScene(a.Scene); err != nil {
				if errors.Is(err, hardware.ErrUnknownScene) {
					return nil, wire.BadArgs("%v", err)
				}
				return nil, err
			}
			return map[string]any{"scene": a.Scene}, nil
		},
		// analytics: sessions, dwell, photos per session, QR shown → bound conversion and time
		// to scan, over sessions opened in the last "since" (default 24h).
		"analytics": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Since string `json:"since"`
			}
			if len(args) > 0 {
				if err := json.Unmarshal(args, &a); err != nil {
					return nil, wire.BadArgs(`want {"since":"24h"}`)
				}
			}
			since := 24 * time.Hour
			if a.Since != "" {
				d, err := time.ParseDuration(a.Since)
				if err != nil || d <= 0 {
					return nil, wire.BadArgs("since %q: want a duration like 24h", a.Since)
				}
				since = d
			}
			return p.db.Analytics(ctx, time.Now().Add(-since))
		},
		"restart": func(ctx context.Context, _ json.RawMessage) (any, error) {
			// Answer first (the broker gets its PUBACK), then stop; systemd starts us again.
			time.AfterFunc(500*time.Millisecond, p.restart)
			return map[string]any{"restarting": true}, nil
		},
		"snapshot": func(ctx context.Context, _ json.RawMessage) (any, error) {
			if snap, ok := p.engine.Snapshot(ctx); ok && snap.SessionID != "" {
				return nil, &wire.Error{Code: "busy", Message: "a shopper is at the mirror; no snapshot during a session"}
			}
			jpeg, w, h, err := p.pipeline.Capture(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]any{"width": w, "height": h, "jpeg_base64": base64.StdEncoding.EncodeToString(jpeg)}, nil
		},
	}
}
