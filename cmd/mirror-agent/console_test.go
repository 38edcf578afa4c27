package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fitmirror/fitmirror/internal/testexec"
)

// TestConsoleSeesTheAgent: a real agent with the hub provider shows up online on the fleet
// console with its telemetry and answers the console's ping; SIGKILLed, it turns offline (the
// broker's Last Will) and the webhook receives one alert.
func TestConsoleSeesTheAgent(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	var mu sync.Mutex
	var alerts []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		json.NewDecoder(r.Body).Decode(&v)
		mu.Lock()
		alerts = append(alerts, v)
		mu.Unlock()
	}))
	defer hook.Close()
	h := startHub(t, "alerts.webhook_url="+hook.URL, "alerts.after=10s")
	add := testexec.Command(cloudBin, "operator", "add", "otto", "--role", "operator", "--password-stdin", "--set", "state_dir="+h.state)
	add.Stdin = strings.NewReader("otto-password-1234\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v %s", err, out)
	}
	p := startAgent(t, append(h.agentArgs(clip), "--set", "telemetry_interval=5s")...)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", h.console+"/login", strings.NewReader(url.Values{"name": {"otto"}, "password": {"otto-password-1234"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, resp)
	}
	var login struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	type mirror struct {
		ID, State, Version string
		FPS                *float64
	}
	fleet := func() []mirror {
		resp, err := c.Get(h.console + "/api/mirrors")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ms []mirror
		json.NewDecoder(resp.Body).Decode(&ms)
		return ms
	}
	waitFleet := func(what string, within time.Duration, ok func(mirror) bool) {
		deadline := time.Now().Add(within)
		for {
			if ms := fleet(); len(ms) == 1 && ok(ms[0]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waited %v for %s: fleet %+v", within, what, fleet())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFleet("m1 online with telemetry", 40*time.Second, func(m mirror) bool {
		return m.ID == "m1" && (m.State == "online" || m.State == "degraded") && m.FPS != nil && m.Version != ""
	})
	req, _ = http.NewRequest("POST", h.console+"/api/mirrors/m1/cmd/ping", nil)
	req.Header.Set("X-CSRF-Token", login.CSRF)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"ok":true`) || !strings.Contains(string(b), `"uptime_s"`) {
		t.Errorf("the console's ping of the agent: %s %s", resp.Status, b)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	waitFleet("m1 offline", 60*time.Second, func(m mirror) bool { return m.State == "offline" || m.State == "silent" })
	deadline := time.Now().Add(40 * time.Second)
	for {
		mu.Lock()
		n := len(alerts)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert within 40 s of the agent going offline")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(6 * time.Second) // a second check of the alerts would send a duplicate now
	mu.Lock()
	defer mu.Unlock()
	if len(alerts) != 1 || alerts[0]["event"] != "alert" || alerts[0]["mirror"] != "m1" {
		t.Errorf("webhook got %v, want one alert for m1", alerts)
	}
}
