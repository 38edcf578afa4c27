package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
	"github.com/fitmirror/fitmirror/display"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestGesturesOnKioskAndInTelemetry runs the agent with presence.gestures on a real clip played
// as a camera (g2: a hand held beside the head for 0.85 s, looped) against a real mosquitto: the
// kiosk's event stream shows the buttons with the hold's progress and the photo button firing,
// and telemetry counts the fired gesture (counters.gestures.photo), not a next.
func TestGesturesOnKioskAndInTelemetry(t *testing.T) {
	needsRealTime(t)
	setup(t)
	clip, err := filepath.Abs(filepath.Join("..", "..", "testdata", "real-footage", "gestures", "g2_no_photo.avi"))
	if err != nil {
		t.Fatal(err)
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Users: brokerUsers})
	ops := connectOperator(t, b, broker.OpsUser)
	ops.subscribe(t, "mirror/m1/telemetry")
	p := startAgent(t, "--set", "camera.source="+clip, "--set", "camera.loop=true", "--set", "presence.gestures=true",
		"--set", "device.id=m1", "--set", "mqtt.url="+b.URL(), "--set", "mqtt.password=pw-m1", "--set", "telemetry_interval=5s")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fired := make(chan display.GestureButton, 1)
	peak := make(chan float64, 64)
	go watchGestures(ctx, t, p.kioskURL, fired, peak)
	var maxProgress float64
	select {
	case bt := <-fired:
		if bt.Action != "photo" || bt.Progress != 1 || bt.Box.X+bt.Box.W/2 < 0.5 {
			t.Errorf("fired %+v, want photo at progress 1 on the mirror's right half", bt)
		}
	case <-ctx.Done():
		t.Fatal("no button fired on the kiosk's event stream within 60 s")
	}
	for len(peak) > 0 {
		maxProgress = max(maxProgress, <-peak)
	}
	if maxProgress <= 0 || maxProgress >= 1 {
		t.Errorf("the hold's progress before the fire peaked at %.2f, want it shown filling (0 < p < 1)", maxProgress)
	}

	m := ops.await(t, 30*time.Second, "telemetry with a photo gesture", func(m mqtt.Message) bool {
		var tm wire.Telemetry
		return json.Unmarshal(m.Payload(), &tm) == nil && tm.Counters.Gestures != nil && tm.Counters.Gestures.Photo >= 1
	})
	var tm wire.Telemetry
	json.Unmarshal(m.Payload(), &tm)
	if g := tm.Counters.Gestures; g.Next != 0 {
		t.Errorf("telemetry counters.gestures = %+v, want no next", *g)
	}
	t.Logf("telemetry %s", m.Payload())
}

// watchGestures reads the kiosk's "gesture" events: the progress of each hold update before
// the first fire goes to peak, the first button that fires to fired.
func watchGestures(ctx context.Context, t *testing.T, kioskURL string, fired chan<- display.GestureButton, peak chan<- float64) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, kioskURL+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("GET /events: %v", err)
		return
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	gesture := false
	for sc.Scan() {
		line := sc.Text()
		if line == "event: gesture" {
			gesture = true
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !gesture {
			continue
		}
		gesture = false
		var g display.Gestures
		if err := json.Unmarshal([]byte(data), &g); err != nil {
			t.Errorf("bad gesture event %q: %v", data, err)
			return
		}
		for _, bt := range g.Buttons {
			if bt.Fired {
				fired <- bt
				return
			}
			select {
			case peak <- bt.Progress:
			default:
			}
		}
	}
}
