package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
)

// mirror-agent config prints the configuration with its secrets redacted.
func TestConfigCommandRedactsSecrets(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"config", "--set", "mqtt.password=hunter2-mqtt", "--set", "cloud.token=tok-s3cret-123"}, &out, &errOut)
	if err != nil {
		t.Fatalf("config: %v %s", err, errOut.String())
	}
	for _, secret := range []string{"hunter2-mqtt", "tok-s3cret-123"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("mirror-agent config prints the secret %q:\n%s", secret, out.String())
		}
	}
	if strings.Count(out.String(), "(secret)") != 2 {
		t.Errorf("want both secrets shown as (secret):\n%s", out.String())
	}
}

// cloud.hub_url over http:// is refused except to loopback: the bearer token would cross the
// network in clear.
func TestHubURLOverHTTPOnlyToLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://hub.example.com": true, "http://127.0.0.1:8090": true, "http://localhost:8090": true, "http://[::1]:8090": true,
		"http://hub.example.com": false, "http://192.168.1.20:8090": false, "http://127.0.0.1.nip.io": false, "ftp://hub": false,
	} {
		c := defaultConfig()
		err := config.Load(&c, "", []string{"cloud.provider=hub", "cloud.hub_url=" + url, "cloud.token=t", "mqtt.url=tcp://127.0.0.1:1883"})
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "cloud.hub_url")) {
			t.Errorf("cloud.hub_url=%s: %v, want accepted %v", url, err, ok)
		}
	}
}

// The fleet's desired configuration cannot change file paths, and the refusal is the same
// whether the file exists or not.
func TestLiveConfigRefusesFilePaths(t *testing.T) {
	cfg := defaultConfig()
	l := newLive(&cfg, nil, nil)
	var msgs []string
	for _, set := range []string{"presence.cascade=/etc/shadow", "presence.cascade=/nonexistent/x.xml",
		"presence.model=/etc/passwd", "presence.model=/nonexistent/m.onnx"} {
		_, err := l.applySets(context.Background(), []string{set})
		if err == nil {
			t.Fatalf("%s accepted over the fleet", set)
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] || msgs[2] != msgs[3] {
		t.Errorf("errors tell existing from missing files: %q", msgs)
	}
	for _, m := range msgs {
		if strings.Contains(m, "/etc") || strings.Contains(m, "nonexistent") {
			t.Errorf("error quotes the path: %q", m)
		}
	}
	if cur := l.current(); cur.Presence.Cascade != cfg.Presence.Cascade || cur.Presence.Model != cfg.Presence.Model {
		t.Errorf("paths changed: %q %q", cur.Presence.Cascade, cur.Presence.Model)
	}
}
