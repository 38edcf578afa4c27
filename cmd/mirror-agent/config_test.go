package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/device/vision"
	"github.com/fitmirror/fitmirror/internal/wire"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := defaultConfig()
	if err := config.Check(&c); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if got := c.demoClip(); got != filepath.Join(c.StateDir, "demo", "walk-in.avi") {
		t.Errorf("demoClip() = %q, want it under state_dir", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		set  string
		want string
	}{
		{"device.id=Mirror_1", "device.id"},
		{"device.id=-x", "device.id"},
		{"state_dir=", "state_dir"},
		{"camera.source=", "camera.source"},
		{"display.listen=", "display.listen"},
		{"display.listen=127.0.0.1:99999", "display.listen: port 99999"},
		{"display.listen=8080", "display.listen: \"8080\" is a port without a host"},
		{"cloud.local.listen=8081", "cloud.local.listen"},
		{"cloud.provider=hub", "cloud.hub_url"},
		{"cloud.provider=wechat", "cloud.provider"},
		{"presence.exit_grace=10m", "presence.exit_grace"},
		{"session.qr_ttl=10s", "session.qr_ttl"},
		{"photos.jpeg_quality=101", "photos.jpeg_quality"},
		{"mqtt.failover=tcp://nats2:1883", "mqtt.failover"}, // without mqtt.url
		{"mqtt.url=http://nats1:1883", "mqtt.url"},
		{"presence.gesture_buttons=left", "presence.gesture_buttons"},
	}
	for _, tt := range tests {
		c := defaultConfig()
		err := config.Load(&c, "", []string{tt.set})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(--set %s) = %v, want an error naming %s", tt.set, err, tt.want)
		}
	}
	c := defaultConfig()
	if err := config.Load(&c, "", []string{"mqtt.url=tcp://nats1:1883", "mqtt.failover=tcp://nats2:1883,nats3:1883"}); err == nil || !strings.Contains(err.Error(), "mqtt.failover") {
		t.Errorf("a failover URL without scheme: %v, want an error naming mqtt.failover", err)
	}
	c = defaultConfig()
	if err := config.Load(&c, "", []string{"mqtt.url=tcp://nats1:1883", "mqtt.failover=tcp://nats2:1883,mqtts://nats3:8883"}); err != nil {
		t.Fatal(err)
	}
	if o, err := mqttOptions(&c); err != nil || o.Broker != "tcp://nats1:1883" || len(o.Failover) != 2 || o.Failover[1] != "mqtts://nats3:8883" {
		t.Errorf("mqttOptions = %+v, %v; want mqtt.url then the two failover URLs", o, err)
	}
	c = defaultConfig()
	if err := config.Load(&c, "", []string{"presence.enter_dwell=2s", "device.id=store-12-mirror-3"}); err != nil {
		t.Fatal(err)
	}
	if c.visionOptions().Presence.EnterDwell != 2*time.Second || c.Device.ID != "store-12-mirror-3" {
		t.Errorf("--set did not reach the vision options: %+v", c.visionOptions().Presence)
	}
	c = defaultConfig()
	if p := c.visionOptions().ButtonPlacement; p != vision.PlaceFace {
		t.Errorf("default air-button placement = %q, want %q (anchored to the face)", p, vision.PlaceFace)
	}
	c = defaultConfig()
	if err := config.Load(&c, "", []string{"presence.gesture_buttons=fixed"}); err != nil || c.visionOptions().ButtonPlacement != vision.PlaceFixed {
		t.Errorf("presence.gesture_buttons=fixed: %v, placement %q", err, c.visionOptions().ButtonPlacement)
	}
}

func TestDefaultDeviceIDIsValid(t *testing.T) {
	if id := defaultDeviceID(); !wire.ValidDeviceID(id) {
		t.Errorf("defaultDeviceID() = %q, not a valid device ID", id)
	}
}

// TestConfigDocIsCurrent keeps docs/config.md in step with the code (make docs regenerates it).
func TestConfigDocIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := config.Markdown(docDefaults()); !strings.Contains(string(doc), want) {
		t.Errorf("docs/config.md is out of date: run make docs. Want it to contain:\n%s", want)
	}
}

// TestConfigPrintsNoSecrets: `mirror-agent config` shows that a secret is set, never its value.
func TestConfigPrintsNoSecrets(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "--set", "mqtt.password=pw-very-secret", "--set", "cloud.token=tok-very-secret"}, &out, &errOut)
	if err != nil {
		t.Fatalf("config: %v %s", err, errOut.String())
	}
	if strings.Contains(out.String(), "very-secret") || !strings.Contains(out.String(), "password: (set)") {
		t.Errorf("config printed:\n%s", out.String())
	}
}

// TestUpdateConfig: update.public_keys must be minisign public keys (one listed twice is an
// error), update.window HH:MM-HH:MM, update.health_timeout within its range.
func TestUpdateConfig(t *testing.T) {
	const key = "RWQ1YuY6i+uDf1Z3Fg3Mcc0+HXOxxVZpeb5kKsJf5WVnIqB5UtOKxP1M"
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"update.public_keys=" + key, "update.window=22:00-04:30", "update.health_timeout=5m"}, ""},
		{[]string{"update.public_keys=RWQnotakey"}, "update.public_keys: public key 1"},
		{[]string{"update.public_keys=" + key + "," + key}, "is listed twice"},
		{[]string{"update.window=2am-5am"}, "update.window: \"2am-5am\": want HH:MM-HH:MM"},
		{[]string{"update.health_timeout=10s"}, "update.health_timeout"},
	} {
		c := defaultConfig()
		err := config.Load(&c, "", tc.sets)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.sets, err, tc.want)
		}
	}
}
