package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A hub killed (SIGKILL) in the middle of an upload leaves the partial file; the next start
// removes it, so no piece of a photo escapes retention.
func TestKilledMidUploadLeavesNoPartialFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := addDevice(t, dir, "m1")
	s := startServe(t, dir)
	c, err := net.Dial("tcp", strings.TrimPrefix(s.http, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /v1/photos/P1 HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
		creds.Token, 8<<20)
	c.Write(append([]byte{0xff, 0xd8, 0xff}, make([]byte, 1<<20)...)) // 1 MiB of 8, then the kill
	partial := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "photos", ".upload-*"))
		return m
	}
	for deadline := time.Now().Add(10 * time.Second); len(partial()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no partial upload file appeared")
		}
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	if len(partial()) == 0 {
		t.Fatal("the partial file vanished with the kill: the test did not test anything")
	}
	startServe(t, dir)
	for deadline := time.Now().Add(10 * time.Second); len(partial()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partial upload still there after a restart: %v", partial())
		}
	}
}
