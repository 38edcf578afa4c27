package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/wire"
)

// TestWatchdogStopsOnStall runs the agent (in this process) as systemd would (NOTIFY_SOCKET,
// WATCHDOG_USEC) with a hook that hangs its camera loop after 3 s: it must say READY=1, feed
// the watchdog while healthy, stop feeding it once the loop has been silent for
// health.stall_after, and /healthz must turn 503 naming the stalled pipeline.
func TestWatchdogStopsOnStall(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type msg struct {
		at   time.Time
		text string
	}
	msgs := make(chan msg, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- msg{time.Now(), string(buf[:n])}
		}
	}()
	start := time.Now()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "1000000")
	stallAt := start.Add(3 * time.Second)
	stall := func(ctx context.Context) { // a wedged driver: the loop hangs until the agent stops
		if time.Now().After(stallAt) {
			<-ctx.Done()
		}
	}
	p := startAgentInProcess(t, hooks{beforeObserve: stall}, "camera.source="+clip, "health.stall_after=2s", "health.display_lost_after=1h")

	get := func() (int, wire.Health) {
		res, err := http.Get(p.kioskURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var s wire.Health
		json.NewDecoder(res.Body).Decode(&s)
		return res.StatusCode, s
	}
	if code, s := get(); code != 200 || s.Status != "ok" {
		t.Errorf("/healthz before the stall = %d %+v, want 200 ok", code, s)
	}
	// The stall begins 3 s after start; give it stall_after (2 s) and a watchdog period.
	deadline := time.After(20 * time.Second)
	var unhealthyAt time.Time
	for unhealthyAt.IsZero() {
		select {
		case <-deadline:
			t.Fatalf("/healthz never turned unhealthy")
		case <-time.After(200 * time.Millisecond):
		}
		if code, s := get(); code == http.StatusServiceUnavailable && s.Parts["pipeline"] == "stalled" {
			unhealthyAt = time.Now()
		}
	}
	time.Sleep(2 * time.Second) // pings that were already due may still arrive; then silence
	var ready bool
	var pings, late int
	for len(msgs) > 0 {
		m := <-msgs
		for _, line := range strings.Split(m.text, "\n") {
			switch line {
			case "READY=1":
				ready = true
			case "WATCHDOG=1":
				pings++
				if m.at.After(unhealthyAt.Add(time.Second)) {
					late++
				}
			}
		}
	}
	if !ready {
		t.Errorf("no READY=1 on NOTIFY_SOCKET")
	}
	if pings == 0 {
		t.Errorf("no WATCHDOG=1 pings while healthy")
	}
	if late > 0 {
		t.Errorf("%d WATCHDOG=1 pings after the loop stalled, want none", late)
	}
	if d := unhealthyAt.Sub(start); d > 12*time.Second {
		t.Errorf("unhealthy %v after start, want within stall (3 s) + stall_after (2 s) + slack", d)
	}
}

// TestReloadOnSIGHUP: SIGHUP re-reads the file; live keys apply, others are named for a
// restart, and a broken file keeps the running configuration.
func TestReloadOnSIGHUP(t *testing.T) {
	_, clip, _ := setup(t)
	cfgFile := filepath.Join(t.TempDir(), "mirror.yaml")
	os.WriteFile(cfgFile, []byte("presence:\n  enter_dwell: 1s\n"), 0o644)
	p := startAgent(t, "--config", cfgFile, "--set", "camera.source="+clip, "--set", "health.display_lost_after=1h")

	waitLog := func(substr string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.log(), substr) {
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q", substr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.WriteFile(cfgFile, []byte("presence:\n  enter_dwell: 2s\nphotos:\n  jpeg_quality: 80\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(`"msg":"reload: configuration applied","device_id":"`)
	waitLog(`"changed":"presence.enter_dwell"`)
	waitLog(`"keys":"photos.jpeg_quality"`)

	os.WriteFile(cfgFile, []byte("presence:\n  enter_dwell: 99s\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(`reload: configuration not applied`)
	waitLog(`presence.enter_dwell: must be between 0s and 30s`)
	if code, _ := http.Get(p.kioskURL + "/healthz"); code == nil || code.StatusCode != 200 {
		t.Errorf("agent unhealthy after a bad reload")
	}
}

// startAgentInProcess runs runAgentWith in this test's process with hooks, on loopback ports
// chosen by the kernel, and waits for the "kiosk ready" log line; the agent stops at cleanup.
func startAgentInProcess(t *testing.T, h hooks, sets ...string) *agentProc {
	t.Helper()
	p := &agentProc{stateDir: t.TempDir(), logs: &bytes.Buffer{}, done: make(chan error, 1)}
	sets = append([]string{"log.format=json", "state_dir=" + p.stateDir, "display.listen=127.0.0.1:0",
		"cloud.local.listen=127.0.0.1:0"}, sets...)
	ready := make(chan string, 1)
	logw := writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		p.logs.Write(b)
		p.mu.Unlock()
		var rec struct{ Msg, URL string }
		if json.Unmarshal(b, &rec) == nil && rec.Msg == "kiosk ready" {
			ready <- rec.URL
		}
		return len(b), nil
	})
	cfg, log, err := load("", sets, logw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { p.done <- runAgentWith(ctx, cfg, log, func() (*Config, error) { return cfg, nil }, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("agent did not stop within 10 s of its context ending")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", p.log())
		}
	})
	select {
	case u := <-ready:
		p.kioskURL = strings.TrimSuffix(u, "/")
	case err := <-p.done:
		t.Fatalf("agent stopped before it was ready: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("agent not ready after 30s\n%s", p.log())
	}
	return p
}

// writerFunc is an io.Writer made of a function (slog's JSON handler writes one line a call).
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestHealthzAndMetricsReadOneTracker: /healthz and /metrics say the same thing about the same
// parts. With no kiosk page for health.display_lost_after, /healthz is 503 degraded with the
// display lost and its reason, and the metrics show mirror_healthy 0 and the display's
// mirror_part_healthy 0; with a page attached both are ok again.
func TestHealthzAndMetricsReadOneTracker(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	p := startAgentInProcess(t, hooks{}, "camera.source="+clip, "health.display_lost_after=1s")
	healthz := func() (int, wire.Health) {
		res, err := http.Get(p.kioskURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var h wire.Health
		json.NewDecoder(res.Body).Decode(&h)
		return res.StatusCode, h
	}
	metrics := func() string {
		res, err := http.Get(p.kioskURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 15 s", what)
			}
		}
	}
	waitFor("display lost", func() bool { _, h := healthz(); return h.Parts[wire.PartDisplay] == "lost" })
	code, h := healthz()
	if code != http.StatusServiceUnavailable || h.Status != wire.HealthDegraded || len(h.Problems) == 0 || h.Problems[0].Reason == "" {
		t.Errorf("/healthz with no page = %d %+v, want 503 degraded with the display's reason", code, h)
	}
	m := metrics()
	for _, want := range []string{"mirror_healthy 0", `mirror_part_healthy{part="display"} 0`, `mirror_part_healthy{part="storage"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics with no page lacks %q", want)
		}
	}
	ctx, detach := context.WithCancel(context.Background())
	defer detach()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.kioskURL+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	waitFor("/healthz ok with a page attached", func() bool { c, _ := healthz(); return c == http.StatusOK })
	if m := metrics(); !strings.Contains(m, "mirror_healthy 1") || !strings.Contains(m, `mirror_part_healthy{part="display"} 1`) {
		t.Errorf("/metrics with a page attached: not healthy")
	}
}
