package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/internal/testexec"
	"github.com/fitmirror/fitmirror/internal/wire"
)

// `mirror-cloud serve` runs the console on its own listener, fed by the embedded broker: an
// operator added with `operator add` logs in and sees a mirror that logged in to the broker,
// and its ping reaches the mirror and comes back. The WeChat-facing listener has no console.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	creds := addDevice(t, state, "m1")
	addOperator(t, state, "otto", "operator", "otto-password-1234")
	s := startServe(t, state)
	if s.console == s.http || !strings.HasPrefix(s.console, "http://127.0.0.1:") {
		t.Fatalf("console at %q (hub at %s), want a loopback listener of its own", s.console, s.http)
	}
	if resp, err := http.Get(s.http + "/api/mirrors"); err == nil && resp.StatusCode != http.StatusNotFound {
		t.Errorf("the hub's listener answers /api/mirrors: %s", resp.Status)
	}
	o := paho.NewClientOptions().AddBroker("tcp://" + s.mqtt).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword).SetProtocolVersion(4)
	m := paho.NewClient(o)
	if tok := m.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mirror connect: %v", tok.Error())
	}
	defer m.Disconnect(0)
	m.Subscribe("mirror/m1/cmd/+", 1, func(c paho.Client, msg paho.Message) {
		var req wire.CommandRequest
		json.Unmarshal(msg.Payload(), &req)
		b, _ := json.Marshal(wire.CommandResult{ID: req.ID, OK: true, Data: json.RawMessage(`{"uptime_s":7,"version":"9.9.9"}`)})
		c.Publish(msg.Topic()+"/result", 1, false, b)
	}).Wait()
	st, _ := json.Marshal(wire.Status{State: wire.StateOnline, Version: "9.9.9", Since: wire.Time{Time: time.Now()}})
	m.Publish("mirror/m1/status", 1, true, st).Wait()
	m.Publish("mirror/m1/telemetry", 1, false, []byte(`{"fps":15,"cpu_pct":20,"disk_free_mb":900}`)).Wait()

	c, csrf := consoleSession(t, s.console, "otto", "otto-password-1234")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(s.console + "/api/mirrors")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"id":"m1","state":"online"`) && strings.Contains(string(b), `"fps":15`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/mirrors = %s %s, want m1 online with telemetry", resp.Status, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", s.console+"/api/mirrors/m1/cmd/ping", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"uptime_s":7`) {
		t.Errorf("ping through the embedded broker: %s %s", resp.Status, b)
	}
	// The mirror's events reach the console's timeline and funnel, each once however often
	// it is sent (a resend after a reconnection).
	for _, ev := range []string{
		`{"seq":1,"id":"01A","type":"qr.shown","at":"` + wire.FormatTime(time.Now()) + `","photo_id":"P1","data":{}}`,
		`{"seq":2,"id":"01B","type":"photo.bound","at":"` + wire.FormatTime(time.Now()) + `","photo_id":"P1","data":{"event":"SCAN"}}`,
		`{"seq":2,"id":"01B","type":"photo.bound","at":"` + wire.FormatTime(time.Now()) + `","photo_id":"P1","data":{"event":"SCAN"}}`,
	} {
		m.Publish("mirror/m1/events", 1, false, []byte(ev)).Wait()
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(s.console + "/api/funnel?group=mirror")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"key":"m1","qr_shown":1,"scanned":0,"bound":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/funnel = %s %s, want m1 with 1 shown and 1 bound", resp.Status, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := c.Get(s.console + "/api/mirrors/m1/events"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Count(string(b), `"seq":`) != 2 || !strings.Contains(string(b), `"type":"photo.bound"`) {
			t.Errorf("m1's timeline = %s", b)
		}
	}
}

// consoleSession logs in to the console at base as name; it returns the client (with the
// session's cookie) and the session's CSRF token.
func consoleSession(t *testing.T, base, name, password string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, resp)
	}
	defer resp.Body.Close()
	var login struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&login)
	return c, login.CSRF
}

// A mirror's chart survives the hub's restart: `mirror-cloud serve` hears a mirror's
// telemetry, stops (SIGTERM), and the next `serve` on the same database shows that minute on
// the mirror's chart once the mirror is back, before it sent any telemetry again.
func TestServeConsoleTelemetryAfterRestart(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	creds := addDevice(t, state, "m1")
	addOperator(t, state, "otto", "viewer", "otto-password-1234")
	chart := func(s *server, c *http.Client) string {
		resp, err := c.Get(s.console + "/api/mirrors/m1/telemetry")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i, tele := range []string{`{"fps":15,"cpu_pct":20,"disk_free_mb":900}`, ""} {
		s := startServe(t, state)
		o := paho.NewClientOptions().AddBroker("tcp://" + s.mqtt).SetClientID("m1").SetUsername("m1").SetPassword(creds.MQTTPassword).SetProtocolVersion(4)
		m := paho.NewClient(o)
		if tok := m.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("mirror connect: %v", tok.Error())
		}
		st, _ := json.Marshal(wire.Status{State: wire.StateOnline, Version: "9.9.9", Since: wire.Time{Time: time.Now()}})
		m.Publish("mirror/m1/status", 1, true, st).Wait()
		if tele != "" {
			m.Publish("mirror/m1/telemetry", 1, false, []byte(tele)).Wait()
		}
		c, _ := consoleSession(t, s.console, "otto", "otto-password-1234")
		deadline := time.Now().Add(10 * time.Second)
		for b := chart(s, c); !strings.Contains(b, `"fps":15,"cpu":20`) || strings.Count(b, `"at":`) != 1; b = chart(s, c) {
			if time.Now().After(deadline) {
				t.Fatalf("serve %d: m1's telemetry = %s, want the one minute heard", i+1, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		m.Disconnect(0)
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("serve %d after SIGTERM: %v", i+1, err)
		}
	}
}

// addOperator runs `mirror-cloud operator add` for a hub in stateDir, the password on stdin.
func addOperator(t *testing.T, stateDir, name, role, password string) {
	t.Helper()
	add := testexec.Command(binary(t), "operator", "add", name, "--role", role, "--password-stdin", "--set", "state_dir="+stateDir)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("operator add: %v %s", err, out)
	}
}
