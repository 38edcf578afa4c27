package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cloud/fleet"
	"github.com/fitmirror/fitmirror/cloud/hub"
	"github.com/fitmirror/fitmirror/internal/jpegcheck/jpegtest"
	"github.com/fitmirror/fitmirror/internal/mqtttest"
	"github.com/fitmirror/fitmirror/internal/testexec"
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

// The sim-mode notice names only the listeners that run: with an external broker
// (mqtt.url) there is no embedded broker to expose.
func TestSimLoopbackNamesOnlyItsListeners(t *testing.T) {
	for _, tt := range []struct {
		url      string
		wantKeys []string
	}{
		{"", []string{"listen", "mqtt.embedded.listen"}},
		{"tcp://broker.store.example:1883", []string{"listen"}},
	} {
		cfg := defaultConfig()
		cfg.WeChat.Mode, cfg.Listen, cfg.MQTT.Embedded.Listen, cfg.MQTT.URL = "sim", ":8090", ":1883", tt.url
		keys, moved := simOnLoopback(&cfg)
		if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") || len(moved) != len(keys) {
			t.Errorf("mqtt.url %q: notice names %v (%v), want %v", tt.url, keys, moved, tt.wantKeys)
		}
	}
}

// A hub killed (SIGKILL) in the middle of writing an upload leaves the partial file; the next
// start removes it, so no piece of a photo escapes retention. The kill lands during a flood of
// 8 MB uploads (each written and fsynced to a temporary file), again until one is caught
// mid-write.
func TestKilledMidUploadLeavesNoPartialFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := addDevice(t, dir, "m1")
	partial := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "photos", ".upload-*"))
		return m
	}
	face, err := os.ReadFile("../../testdata/face.jpg")
	if err != nil {
		t.Fatal(err)
	}
	body := jpegtest.Padded(face, 8<<20-64) // a real photo, just under the 8 MiB limit
	var caught []string
	for round := 0; round < 20 && len(caught) == 0; round++ {
		s := startServe(t, dir, "photos.retention=1h")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/v1/photos/R%dW%dN%d", s.http, round, w, i), bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+creds.Token)
					req.Header.Set("Content-Type", "image/jpeg")
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}
			}()
		}
		for deadline := time.Now().Add(5 * time.Second); len(partial()) == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		close(stop)
		wg.Wait()
		caught = partial()
	}
	if len(caught) == 0 {
		t.Fatal("no kill in 20 rounds landed while an upload was being written")
	}
	startServe(t, dir)
	for deadline := time.Now().Add(10 * time.Second); len(partial()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partial upload still there after a restart: %v", partial())
		}
	}
}

// mirror-cloud device rotate: new credentials for a mirror; the old token and MQTT password
// stop working, the new ones work.
func TestDeviceRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := addDevice(t, dir, "m1")
	out, err := testexec.Command(binary(t), "device", "rotate", "m1", "--set", "state_dir="+dir).Output()
	if err != nil {
		t.Fatalf("device rotate: %v", err)
	}
	var fresh hub.Credentials
	if err := json.Unmarshal(out, &fresh); err != nil || fresh.Token == old.Token || fresh.MQTTPassword == old.MQTTPassword || fresh.DeviceID != "m1" {
		t.Fatalf("device rotate printed %s (%v)", out, err)
	}
	if err := testexec.Command(binary(t), "device", "rotate", "m9", "--set", "state_dir="+dir).Run(); err == nil {
		t.Error("device rotate of an unregistered device succeeded")
	}
	s := startServe(t, dir)
	for _, c := range []struct {
		token string
		want  int
	}{{old.Token, 401}, {fresh.Token, 400}} { // 400: an empty request, past authentication
		req, _ := http.NewRequest("POST", s.http+"/v1/qrcodes", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("token %.8s…: %d, want %d", c.token, resp.StatusCode, c.want)
		}
	}
	for _, c := range []struct {
		password string
		ok       bool
	}{{old.MQTTPassword, false}, {fresh.MQTTPassword, true}} {
		err := fleet.Probe(t.Context(), fleet.Options{Broker: "tcp://" + s.mqtt, DeviceID: "m1", Password: c.password})
		if (err == nil) != c.ok {
			t.Errorf("MQTT with the %s password: %v", map[bool]string{true: "new", false: "old"}[c.ok], err)
		}
	}
}

// rate_limits reach the hub: the photo page limited to 1 request/s answers 429 within a burst
// of 60 (the burst allowance is 10), and with the limit off (0) it never does (the default, 10
// a second with a burst of 40, would).
func TestRateLimitsConfigured(t *testing.T) {
	t.Parallel()
	burst := func(s *server) (tooMany int) {
		for range 60 {
			resp, err := http.Get(s.http + "/p/nothing-here")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				tooMany++
			}
		}
		return tooMany
	}
	if n := burst(startServe(t, t.TempDir(), "rate_limits.page=1")); n == 0 {
		t.Error("rate_limits.page=1: 60 page requests at once got no 429")
	}
	if n := burst(startServe(t, t.TempDir(), "rate_limits.page=0")); n != 0 {
		t.Errorf("rate_limits.page=0 (off): %d of 60 page requests got 429", n)
	}
}

// The real hub under decompression bombs: 40 uploads at once of a 1 KB progressive JPEG that
// declares 65535×65535 (which once killed the hub with "out of memory"), and of one that
// declares 4000×3000 and is cut short (it passes the header check and is decoded, inside the
// budget). Every one is refused, /healthz answers throughout, and the process's peak RSS
// stays under 400 MB (the decode budget is 512 MiB, one such decode needs about 20 MB).
func TestPhotoBombKeepsTheHubUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := addDevice(t, dir, "m1")
	s := startServe(t, dir, "photos.retention=1h")
	put := func(id string, body []byte) int {
		req, _ := http.NewRequest("PUT", s.http+"/v1/photos/"+id, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creds.Token)
		req.Header.Set("Content-Type", "image/jpeg")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("PUT %s: %v", id, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := jpegtest.Bomb(65535, 65535)
			if i%2 == 1 {
				body = jpegtest.Bomb(4000, 3000)
			}
			// The per-device limits (4 at once, 20 requests a second) turn some away with
			// 429 first; none may be stored.
			if st := put(fmt.Sprintf("B%d", i), body); st != 422 && st != 429 {
				t.Errorf("bomb %d = %d, want 422 (or 429)", i, st)
			}
		}()
	}
	wg.Wait()
	resp, err := http.Get(s.http + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz after the bombs: %v %v", resp, err)
	}
	resp.Body.Close()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var hwmKB int
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &hwmKB)
		}
	}
	if hwmKB == 0 || hwmKB > 400<<10 {
		t.Errorf("peak RSS %d kB, want under 400 MB", hwmKB)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "photos", "B*")); len(files) != 0 {
		t.Errorf("bombs stored: %v", files)
	}
}

// Revocation across processes (#23): a mirror's live MQTT session on the running hub's
// embedded broker is closed once `mirror-cloud device rotate` (another process, the same
// database) gives it new credentials, and again after `device remove`; the old session gets
// none of the commands sent after.
func TestRotateAndRemoveCloseTheLiveSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := addDevice(t, dir, "m1")
	s := startServe(t, dir, "mqtt.embedded.ops_password=ops-pw")
	live, got, err := mqtttest.Connect(t, s.mqtt, "m1", old.MQTTPassword)
	if err != nil {
		t.Fatal(err)
	}
	mqtttest.Subscribe(t, live, "mirror/m1/cmd/+", got)
	out, err := testexec.Command(binary(t), "device", "rotate", "m1", "--set", "state_dir="+dir).Output()
	if err != nil {
		t.Fatalf("device rotate: %v", err)
	}
	var fresh hub.Credentials
	json.Unmarshal(out, &fresh)
	for deadline := time.Now().Add(5 * time.Second); live.IsConnectionOpen(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session opened with the old password is still live 5 s after device rotate")
		}
	}
	ops, _, err := mqtttest.Connect(t, s.mqtt, "_ops", "ops-pw")
	if err != nil {
		t.Fatal(err)
	}
	ops.Publish("mirror/m1/cmd/restart", 1, false, `{"id":"c1"}`).Wait()
	select {
	case m := <-got:
		t.Fatalf("the old session received %+v after rotation", m)
	case <-time.After(300 * time.Millisecond):
	}
	// The new credentials work until the device is removed.
	next, _, err := mqtttest.Connect(t, s.mqtt, "m1", fresh.MQTTPassword)
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}
	out, err = testexec.Command(binary(t), "device", "remove", "m1", "--set", "state_dir="+dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "removed m1") {
		t.Fatalf("device remove = %s, %v", out, err)
	}
	for deadline := time.Now().Add(5 * time.Second); next.IsConnectionOpen(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the removed device's session is still live 5 s after device remove")
		}
	}
	if out, err := testexec.Command(binary(t), "device", "remove", "m1", "--set", "state_dir="+dir).CombinedOutput(); err == nil || !strings.Contains(string(out), `no device "m1"`) {
		t.Errorf("device remove twice = %s, %v; want it to say there is no such device", out, err)
	}
}
