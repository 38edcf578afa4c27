package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/cmd/internal/liveconfig"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/session"
)

// isLive: the keys liveconfig.Keys (presence.*, session.*, photos.unbound_grace) take effect
// at run time, from a SIGHUP reload or the fleet's desired configuration. Every other key
// needs a restart.
func isLive(key string) bool { return liveconfig.IsLive(key) }

// live is the configuration in force; SIGHUP and the fleet change its live keys.
type live struct {
	mu       sync.Mutex
	cfg      Config
	engine   *session.Engine
	pipeline *vision.Pipeline
}

func newLive(cfg *Config, engine *session.Engine, pipeline *vision.Pipeline) *live {
	return &live{cfg: *cfg, engine: engine, pipeline: pipeline}
}

// current returns a copy of the configuration in force.
func (l *live) current() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// apply takes the live keys of next into force and returns the keys it changed and the keys
// that differ but need a restart. The vision pipeline checks its part first (a cascade that
// does not load, a nonsense value): on error nothing changes.
func (l *live) apply(ctx context.Context, next *Config) (changed, restart []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	opts := next.visionOptions()
	if size, ok := l.pipeline.FrameSize(); ok { // else the first frame checks it
		if err := opts.Detector.CheckZone(size); err != nil {
			return nil, nil, fmt.Errorf("presence.zone: %w", err)
		}
	}
	if err := l.pipeline.SetOptions(opts); err != nil {
		return nil, nil, fmt.Errorf("presence: %w", err)
	}
	a, b := flatKeys(&l.cfg), flatKeys(next)
	for k, v := range b {
		if fmt.Sprint(a[k]) == fmt.Sprint(v) {
			continue
		}
		if isLive(k) {
			changed = append(changed, k)
		} else {
			restart = append(restart, k)
		}
	}
	sort.Strings(changed)
	sort.Strings(restart)
	l.cfg.Presence = next.Presence
	l.cfg.Session, l.cfg.Photos.UnboundGrace = next.Session, next.Photos.UnboundGrace
	l.engine.SetConfig(ctx, l.cfg.sessionConfig())
	return changed, restart, nil
}

// applySets applies dotted key=value settings (the fleet's desired configuration) with the
// same validation as the file. Only live keys may change this way; nothing changes on error.
// It returns the effective configuration with its secrets redacted (config/reported is
// retained on the broker).
func (l *live) applySets(ctx context.Context, sets []string) (map[string]any, error) {
	next := l.current()
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return l.effective(), fmt.Errorf("%q: want key=value", kv)
		}
		// File paths change only in the mirror's own configuration file: over MQTT they
		// would let the fleet point the agent at any file (and learn from the error whether
		// it exists). Refused before anything looks at the path.
		if liveconfig.FileKeys[k] {
			return l.effective(), liveconfig.FileKeyError(k)
		}
		if err := config.Set(&next, k, v); err != nil {
			return l.effective(), err
		}
	}
	if err := config.Check(&next); err != nil {
		return l.effective(), err
	}
	cur := l.current()
	a, b := flatKeys(&cur), flatKeys(&next)
	for k, v := range b {
		if fmt.Sprint(a[k]) != fmt.Sprint(v) && !isLive(k) {
			return l.effective(), liveconfig.StartOnlyError(k)
		}
	}
	if _, _, err := l.apply(ctx, &next); err != nil {
		return l.effective(), err
	}
	return l.effective(), nil
}

// effective is the configuration in force as nested maps, secrets redacted.
func (l *live) effective() map[string]any {
	cur := l.current()
	return config.Redact(config.Effective(&cur))
}

// flatKeys is the configuration as dotted keys.
func flatKeys(c *Config) map[string]any { return flatten("", config.Effective(c)) }

func flatten(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			for k2, v2 := range flatten(prefix+k+".", sub) {
				out[k2] = v2
			}
			continue
		}
		out[prefix+k] = v
	}
	return out
}
