package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/cmd/internal/config"
	"github.com/fitmirror/fitmirror/internal/wire"
	"github.com/fitmirror/fitmirror/session"
	"github.com/fitmirror/fitmirror/session/store"
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
	if strings.Count(out.String(), config.Redacted) != 2 {
		t.Errorf("want both secrets redacted:\n%s", out.String())
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

// A full disk (a real 1 MiB tmpfs under the state directory): events that cannot be recorded
// are counted, /healthz turns degraded and says why, and once space returns one outbox.failed
// event tells the fleet how many were lost. What was recorded before stays.
func TestFullDiskDegradesHealthAndReportsLostEvents(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a 1 MiB tmpfs (the tests run as root, like the rest of the suite's mounts): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	db, err := store.OpenDB(filepath.Join(dir, "mirror.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rec := &recorder{db: db, log: log}
	h := newHealth(time.Minute, log)
	h.cameraOK, h.storage = func() bool { return true }, rec.storageOK
	var storage []bool
	rec.onStorage = func(ok bool, _ string) { storage = append(storage, ok) }

	ev := func(i int) session.Event {
		return session.Event{Type: wire.EventStaffCalled, At: time.Now(), Data: map[string]any{"i": i, "pad": strings.Repeat("x", 2000)}}
	}
	rec.record(ev(0))
	// Fill the disk.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	n := 0
	for i := 1; i <= 500 && rec.failures.Load() == 0; i++ {
		rec.record(ev(i))
		n = i
	}
	for i := n + 1; i <= n+10; i++ { // a few more while the disk stays full
		rec.record(ev(i))
	}
	failed := rec.failures.Load()
	if failed == 0 {
		t.Fatal("no append failed on a full disk: the test did not fill it")
	}
	st := h.status(time.Now())
	if st.Status != "degraded" || st.Storage != "failing" || !strings.Contains(st.Reason, "events not recorded") && !strings.Contains(st.Reason, "full") {
		t.Errorf("health on a full disk = %+v, want degraded with the reason", st)
	}
	if c := strings.Count(logs.String(), "cannot record events"); c != 1 {
		t.Errorf("the failures were logged %d times, want once", c)
	}

	// Space returns: the next retry records outbox.failed, health is ok again.
	os.Remove(filepath.Join(dir, "filler"))
	rec.recover()
	if st := h.status(time.Now()); st.Status != "ok" || st.Storage != "ok" {
		t.Errorf("health after space returned = %+v, want ok", st)
	}
	evs, err := db.Pending(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	var data struct {
		Lost  int
		Error string
	}
	json.Unmarshal(last.Data, &data)
	if last.Type != wire.EventOutboxFailed || uint64(data.Lost) != failed || data.Error == "" {
		t.Errorf("last event = %s %s, want outbox.failed with %d lost", last.Type, last.Data, failed)
	}
	if want := n + 11 - int(failed); len(evs)-1 != want {
		t.Errorf("%d events recorded before outbox.failed, want the %d that succeeded", len(evs)-1, want)
	}
	if len(storage) != 2 || storage[0] || !storage[1] {
		t.Errorf("the fleet was told %v, want [false true] (degraded, then healthy)", storage)
	}
}

// The agent's listeners as a shopper's phone and an attacker on the store network see them:
// the kiosk answers only to loopback names (DNS rebinding), the photo page carries its
// headers, and a flood of idle connections from one address is cut to the per-client cap.
func TestAgentListenersHardened(t *testing.T) {
	_, clip, _ := setup(t)
	p := startAgentInProcess(t, hooks{}, "camera.source="+clip)
	for host, want := range map[string]int{"evil.example:8080": http.StatusMisdirectedRequest, "127.0.0.1": 0} {
		req, _ := http.NewRequest("GET", p.kioskURL+"/healthz", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if (want != 0 && res.StatusCode != want) || (want == 0 && res.StatusCode == http.StatusMisdirectedRequest) {
			t.Errorf("kiosk with Host %q = %d", host, res.StatusCode)
		}
	}
	var photoAddr string
	for _, line := range strings.Split(p.log(), "\n") {
		var rec struct{ Msg, Listen string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "photo page ready" {
			photoAddr = rec.Listen
		}
	}
	if photoAddr == "" {
		t.Fatalf("no photo page listener in the log:\n%s", p.log())
	}
	res, err := http.Get("http://" + photoAddr + "/p/nosuch?k=x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("photo page headers: %v", res.Header)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", photoAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++
		}
	}
	if open > photoConnsPerClient {
		t.Errorf("%d idle connections from one address held by the photo page, want at most %d", open, photoConnsPerClient)
	}
}
