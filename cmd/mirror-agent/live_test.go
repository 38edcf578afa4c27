package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/cmd/internal/liveconfig"
)

// The console checks a desired configuration over liveconfig.Defaults: they are the agent's.
func TestLiveDefaultsAreTheAgents(t *testing.T) {
	c, d := defaultConfig(), liveconfig.Defaults()
	if c.Presence != d.Presence || c.Session != d.Session || c.Photos != d.Photos {
		t.Errorf("liveconfig.Defaults() = %+v,\nthe agent's: %+v %+v %+v", d, c.Presence, c.Session, c.Photos)
	}
}

// TestEveryLiveKeyIsInForce: every key a reload or the fleet may change at run time (liveconfig.Keys)
// reaches what live.apply puts in force — the pipeline's options (SetOptions) or the engine's
// configuration (SetConfig) — so a key reported as applied is never silently ignored. A live
// key that fed neither would be reported applied and change nothing; it must then be taken out
// of liveconfig.Keys (restart-only). The engine's own tests show SetConfig in force on the next
// screen and the next QR code (TestEngineQRTTLChangeTakesEffectOnTheNextCode).
func TestEveryLiveKeyIsInForce(t *testing.T) {
	base := defaultConfig()
	n := 0
	for _, k := range config.Keys(&base) {
		if !isLive(k.Name) {
			continue
		}
		n++
		next := base
		if liveconfig.FileKeys[k.Name] {
			next.Presence.Cascade, next.Presence.Model = next.Presence.Cascade+".other", next.Presence.Model+".other"
		} else if v, ok := otherValue(k); !ok {
			t.Errorf("%s (%s, %q): no other value to try; extend otherValue", k.Name, k.Type, k.Allowed)
			continue
		} else if err := config.Set(&next, k.Name, v); err != nil {
			t.Errorf("%s=%s: %v", k.Name, v, err)
			continue
		}
		if reflect.DeepEqual(base.visionOptions(), next.visionOptions()) && reflect.DeepEqual(base.sessionConfig(), next.sessionConfig()) {
			t.Errorf("%s is a live key but changes neither the pipeline's options nor the engine's configuration: reported applied, in force nowhere", k.Name)
		}
	}
	if n < 20 {
		t.Errorf("only %d live keys found; the test lost them", n)
	}
}

// otherValue is a valid value for k other than its default: the other end of its range, the
// other enum choice, the other boolean.
func otherValue(k config.Key) (string, bool) {
	switch {
	case k.Type == "bool":
		if k.Default == "true" {
			return "false", true
		}
		return "true", true
	case k.Name == "presence.zone":
		return "0,0,100,100", true
	case strings.Contains(k.Allowed, "|"):
		for _, o := range strings.Split(k.Allowed, "|") {
			if o != k.Default {
				return o, true
			}
		}
	case strings.Contains(k.Allowed, ".."):
		lo, hi, _ := strings.Cut(k.Allowed, "..")
		for _, v := range []string{hi, lo} {
			if v != "" && v != k.Default {
				return v, true
			}
		}
	}
	return "", false
}
