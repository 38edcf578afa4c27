package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/cloud/hub/hubstore"
	"github.com/fitmirror/fitmirror/cloud/hub/rollout"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// fanout lets several parts of the hub listen on one filter of the broker connection, which
// keeps one handler per filter.
type fanout struct {
	sub subscriber
	mu  sync.Mutex
	fns map[string][]func(topic string, payload []byte)
}

func newFanout(sub subscriber) *fanout {
	return &fanout{sub: sub, fns: map[string][]func(string, []byte){}}
}

func (f *fanout) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	f.mu.Lock()
	first := len(f.fns[filter]) == 0
	f.fns[filter] = append(f.fns[filter], fn)
	f.mu.Unlock()
	if !first {
		return nil
	}
	return f.sub.Subscribe(filter, func(topic string, payload []byte) {
		f.mu.Lock()
		fns := f.fns[filter]
		f.mu.Unlock()
		for _, fn := range fns {
			fn(topic, payload)
		}
	})
}

// statusFleet is what the rollouts know of the mirrors: their retained status, and the
// console's stores (groups).
type statusFleet struct {
	mu      sync.Mutex
	mirrors map[string]rollout.Mirror
	groups  hubstore.ConsoleStore // nil: no groups
}

func (s *statusFleet) Mirrors(context.Context) (map[string]rollout.Mirror, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]rollout.Mirror, len(s.mirrors))
	for k, v := range s.mirrors {
		out[k] = v
	}
	return out, nil
}

func (s *statusFleet) Groups(ctx context.Context) (map[string]string, error) {
	if s.groups == nil {
		return nil, errors.New("this store keeps no groups")
	}
	return s.groups.MirrorStores(ctx)
}

// deviceOf is the device ID in <prefix>/<id>/<leaf>.
func deviceOf(prefix, topic, leaf string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	id, ok2 := strings.CutSuffix(rest, "/"+leaf)
	return id, ok && ok2 && wire.ValidDeviceID(id)
}

// mirrorEventsKept is how long the hub keeps the mirrors' events (the console's timeline and
// funnel).
const mirrorEventsKept = 30 * 24 * time.Hour

// deviceEvent is one event a mirror sent.
type deviceEvent struct {
	device string
	ev     wire.Event
}

// keepEvent stores a mirror's event for the console (once, whichever replicas hear it).
func keepEvent(ctx context.Context, keep hubstore.MirrorEventStore, d deviceEvent, log *slog.Logger) {
	if keep == nil {
		return
	}
	data := []byte(d.ev.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	_, err := keep.AddMirrorEvent(ctx, hubstore.MirrorEvent{Device: d.device, Seq: d.ev.Seq, ID: d.ev.ID, Type: d.ev.Type,
		At: d.ev.At.Time, SessionID: d.ev.SessionID, PhotoID: d.ev.PhotoID, Data: data})
	if err != nil && ctx.Err() == nil {
		log.Warn("hub: a mirror event not kept", "device", d.device, "seq", d.ev.Seq, "err", err)
	}
}

// startRollouts listens to the mirrors' status and events: it keeps the events (the
// console's timeline and funnel) and runs the rollout engine (package rollout), which
// advances the running rollouts every few seconds. Every replica runs it; the database
// decides which one sends a batch, and stores each event once.
func startRollouts(ctx context.Context, g *errgroup.Group, cfg *Config, st *stores, pub hub.Publisher, sub subscriber, log *slog.Logger) error {
	if st.rollouts == nil || st.releases == nil || sub == nil {
		return nil
	}
	prefix := cfg.MQTT.TopicPrefix
	fleet := &statusFleet{mirrors: map[string]rollout.Mirror{}}
	fleet.groups, _ = st.Store.(hubstore.ConsoleStore)
	e := &rollout.Engine{Store: st.rollouts, Releases: st.releases, Publisher: pub, Fleet: fleet, TopicPrefix: prefix,
		Log: log.With("part", "rollout")}
	err := sub.Subscribe(prefix+"/+/status", func(topic string, payload []byte) {
		id, ok := deviceOf(prefix, topic, "status")
		var s wire.Status
		if !ok || json.Unmarshal(payload, &s) != nil {
			return
		}
		fleet.mu.Lock()
		fleet.mirrors[id] = rollout.Mirror{State: s.State, Version: s.Version, TargetVersion: s.TargetVersion, Arch: s.Arch}
		fleet.mu.Unlock()
	})
	if err != nil {
		return err
	}
	events := make(chan deviceEvent, 1024)
	err = sub.Subscribe(prefix+"/+/events", func(topic string, payload []byte) {
		id, ok := deviceOf(prefix, topic, "events")
		var m wire.Event
		if !ok || json.Unmarshal(payload, &m) != nil || m.Seq == 0 || len(m.Type) > 64 {
			return
		}
		select {
		case events <- deviceEvent{id, m}:
		default:
			log.Warn("hub: a mirror event dropped (the hub is behind); a rollout sees the outcome in the status", "device", id, "type", m.Type)
		}
	})
	if err != nil {
		return err
	}
	keep, _ := st.Store.(hubstore.MirrorEventStore)
	g.Go(func() error {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		prune := time.NewTicker(time.Hour)
		defer prune.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-events:
				keepEvent(ctx, keep, ev, log)
				if strings.HasPrefix(ev.ev.Type, "update.") {
					e.Observe(ctx, ev.device, ev.ev)
				}
			case <-prune.C:
				if keep != nil {
					keep.PruneMirrorEvents(ctx, time.Now().Add(-mirrorEventsKept))
				}
			case <-tick.C:
				if err := e.Step(ctx); err != nil && ctx.Err() == nil {
					log.Warn("rollout: step", "err", err)
				}
			}
		}
	})
	return nil
}
