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

// startRollouts runs the rollout engine (package rollout) in g: it listens to the mirrors'
// status and update events and advances the running rollouts every few seconds. Every
// replica runs it; the database decides which one sends a batch.
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
	events := make(chan [2]string, 256)
	err = sub.Subscribe(prefix+"/+/events", func(topic string, payload []byte) {
		id, ok := deviceOf(prefix, topic, "events")
		if !ok || !strings.Contains(string(payload), `"update.`) { // only update.* matter here
			return
		}
		select {
		case events <- [2]string{id, string(payload)}:
		default:
			log.Warn("rollout: update event dropped (the engine is behind); the mirror's status will show the outcome", "device", id)
		}
	})
	if err != nil {
		return err
	}
	g.Go(func() error {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-events:
				var m wire.Event
				if json.Unmarshal([]byte(ev[1]), &m) == nil {
					e.Observe(ctx, ev[0], m)
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
