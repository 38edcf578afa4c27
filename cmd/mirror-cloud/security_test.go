package main

import (
	"strings"
	"testing"
)

// With no host in its listeners (the defaults are ":8090" and ":1883"), a sim-mode hub binds
// loopback only and says so; a listener with an explicit host is taken as asked.
func TestSimModeListensOnLoopback(t *testing.T) {
	t.Parallel()
	s := startServe(t, t.TempDir(), "listen=:0", "mqtt.embedded.listen=:0")
	if !strings.HasPrefix(s.http, "http://127.0.0.1:") || !strings.HasPrefix(s.mqtt, "127.0.0.1:") {
		t.Errorf("sim mode with host-less listeners serves on %s and %s, want loopback", s.http, s.mqtt)
	}
	s.mu.Lock()
	logs := s.logs.String()
	s.mu.Unlock()
	if !strings.Contains(logs, "sim mode: listening on loopback only") {
		t.Errorf("no loopback notice in the logs:\n%s", logs)
	}

	s = startServe(t, t.TempDir(), "listen=0.0.0.0:0")
	if !strings.HasPrefix(s.http, "http://0.0.0.0:") && !strings.HasPrefix(s.http, "http://[::]:") {
		t.Errorf("sim mode with listen 0.0.0.0:0 serves on %s, want all interfaces as asked", s.http)
	}
}
