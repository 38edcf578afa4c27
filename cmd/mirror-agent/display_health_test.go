package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestDisplayHealthOverMQTT: the display is healthy while a kiosk page is attached (an open
// /events stream). With none for health.display_lost_after (2 s here; 30 s by default, see
// internal/health's TestWatchLostAfter) the retained status turns degraded naming the
// display and telemetry says display lost with the reason; a page attaching makes both ok
// again; the page leaving makes the display lost again, not before the 2 s have passed.
func TestDisplayHealthOverMQTT(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	b := mosquittotest.Start(t, mosquittotest.Options{Users: brokerUsers})
	ops := connectOperator(t, b, broker.OpsUser)
	ops.subscribe(t, "mirror/m1/#")
	p := startAgent(t, "--set", "camera.source="+clip, "--set", "device.id=m1", "--set", "mqtt.url="+b.URL(),
		"--set", "mqtt.password=pw-m1", "--set", "telemetry_interval=5s", "--set", "health.display_lost_after=2s")
	status := func(state, reason string) func(mqtt.Message) bool {
		return func(m mqtt.Message) bool {
			var s wire.Status
			return m.Topic() == "mirror/m1/status" && json.Unmarshal(m.Payload(), &s) == nil && s.State == state && strings.Contains(s.Reason, reason)
		}
	}
	telemetry := func(display string) func(mqtt.Message) bool {
		return func(m mqtt.Message) bool {
			var tm wire.Telemetry
			return m.Topic() == "mirror/m1/telemetry" && json.Unmarshal(m.Payload(), &tm) == nil && tm.Display == display
		}
	}
	// No page yet: lost after 2 s.
	ops.await(t, 20*time.Second, "status degraded: display lost", status(wire.StateDegraded, "display lost: no kiosk page attached"))
	m := ops.await(t, 15*time.Second, "telemetry display lost", telemetry("lost"))
	var tm wire.Telemetry
	json.Unmarshal(m.Payload(), &tm)
	if len(tm.Problems) == 0 || tm.Problems[0].Part != wire.PartDisplay || tm.Problems[0].Reason == "" {
		t.Errorf("telemetry problems = %+v, want the display with its reason", tm.Problems)
	}

	// A page attaches.
	ctx, detach := context.WithCancel(context.Background())
	defer detach()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.kioskURL+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	ops.await(t, 10*time.Second, "status online once a page is attached", status(wire.StateOnline, ""))
	ops.await(t, 15*time.Second, "telemetry display ok", telemetry("ok"))

	// The page leaves.
	detach()
	left := time.Now()
	ops.await(t, 15*time.Second, "status degraded after the page left", status(wire.StateDegraded, "display lost"))
	if d := time.Since(left); d < 2*time.Second {
		t.Errorf("display lost %v after the page left, want no sooner than health.display_lost_after (2s)", d)
	}
}
