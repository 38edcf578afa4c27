package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
)

var brokerUsers = map[string]string{"m1": "pw-m1", broker.OpsUser: "pw-ops", broker.HubUser: "pw-hub"}

// operator is an MQTT client (the fleet operator or the hub) recording what it receives.
type operator struct {
	mc mqtt.Client
	mu sync.Mutex
	ch chan mqtt.Message
}

func connectOperator(t *testing.T, b *mosquittotest.Broker, user string) *operator {
	t.Helper()
	op := &operator{ch: make(chan mqtt.Message, 1000)}
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(user + "-test").SetUsername(user).
		SetPassword(brokerUsers[user]).SetCleanSession(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { op.ch <- m })
	op.mc = mqtt.NewClient(o)
	if tok := op.mc.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", user, tok.Error())
	}
	t.Cleanup(func() { op.mc.Disconnect(50) })
	return op
}

func (op *operator) subscribe(t *testing.T, filter string) {
	t.Helper()
	if tok := op.mc.Subscribe(filter, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

func (op *operator) publish(t *testing.T, topic string, retained bool, payload string) {
	t.Helper()
	if tok := op.mc.Publish(topic, 1, retained, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// await returns the next message on a topic matching pred, or fails after d.
func (op *operator) await(t *testing.T, d time.Duration, what string, pred func(mqtt.Message) bool) mqtt.Message {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-op.ch:
			if pred(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
			return nil
		}
	}
}

// TestAgentOverMQTT runs the agent against a real mosquitto with the shipped ACL: it comes
// online, publishes its session events in order, answers commands, applies (or refuses)
// desired configuration, acts on the hub's binding, and says offline when stopped.
func TestAgentOverMQTT(t *testing.T) {
	needsRealTime(t)
	_, clip, _ := setup(t)
	b := mosquittotest.Start(t, mosquittotest.Options{Users: brokerUsers})
	ops := connectOperator(t, b, broker.OpsUser)
	ops.subscribe(t, "mirror/m1/#")
	hub := connectOperator(t, b, broker.HubUser)

	p := startAgent(t, "--set", "camera.source="+clip, "--set", "device.id=m1", "--set", "mqtt.url="+b.URL(),
		"--set", "mqtt.password=pw-m1", "--set", "telemetry_interval=5s")
	topic := func(s string) func(mqtt.Message) bool { return func(m mqtt.Message) bool { return m.Topic() == s } }
	st := ops.await(t, 15*time.Second, "online status", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/status" && strings.Contains(string(m.Payload()), `"state":"online"`)
	})
	_ = st

	// The session's events arrive in order with seq counting from 1; the QR shows, the hub
	// binds the photo as a scan would, and the photo is bound.
	var seqs []int
	var types []string
	for len(types) == 0 || types[len(types)-1] != "qr.shown" {
		m := ops.await(t, 30*time.Second, "session events", topic("mirror/m1/events"))
		var ev struct {
			Seq     int    `json:"seq"`
			Type    string `json:"type"`
			PhotoID string `json:"photo_id"`
		}
		json.Unmarshal(m.Payload(), &ev)
		seqs, types = append(seqs, ev.Seq), append(types, ev.Type)
		if ev.Type == "qr.shown" {
			hub.publish(t, "mirror/m1/binding", false, fmt.Sprintf(
				`{"binding_id":"01JD00000000000000000000B1","photo_id":%q,"scene":"s1","event":"SCAN","user":"u1","at":"2026-11-20T10:00:00.000Z"}`, ev.PhotoID))
		}
	}
	m := ops.await(t, 10*time.Second, "photo.bound", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/events" && strings.Contains(string(m.Payload()), `"type":"photo.bound"`)
	})
	if !strings.Contains(string(m.Payload()), `"event":"SCAN"`) {
		t.Errorf("photo.bound = %s, want the binding's event", m.Payload())
	}
	if strings.Join(types, ",") != "session.opened,photo.captured,qr.shown" {
		t.Errorf("events = %v", types)
	}
	for i, s := range seqs {
		if s != i+1 {
			t.Errorf("seq %v: want 1, 2, 3…", seqs)
			break
		}
	}

	// Commands: ping answers, an unknown light scene is bad_args, a repeated id runs once.
	ops.publish(t, "mirror/m1/cmd/ping", false, `{"id":"r1"}`)
	res := ops.await(t, 10*time.Second, "ping result", topic("mirror/m1/cmd/ping/result"))
	if !strings.Contains(string(res.Payload()), `"ok":true`) || !strings.Contains(string(res.Payload()), `"uptime_s"`) {
		t.Errorf("ping result = %s", res.Payload())
	}
	ops.publish(t, "mirror/m1/cmd/set-light", false, `{"id":"r2","args":{"scene":"disco"}}`)
	res = ops.await(t, 10*time.Second, "set-light result", topic("mirror/m1/cmd/set-light/result"))
	if !strings.Contains(string(res.Payload()), `"code":"bad_args"`) {
		t.Errorf("set-light disco = %s, want bad_args", res.Payload())
	}
	ops.publish(t, "mirror/m1/cmd/analytics", false, `{"id":"r4","args":{"since":"1h"}}`)
	res = ops.await(t, 10*time.Second, "analytics result", topic("mirror/m1/cmd/analytics/result"))
	if !strings.Contains(string(res.Payload()), `"sessions":1`) || !strings.Contains(string(res.Payload()), `"bound":1`) {
		t.Errorf("analytics = %s, want one session with one bound photo", res.Payload())
	}
	ops.publish(t, "mirror/m1/cmd/snapshot", false, `{"id":"r3"}`)
	res = ops.await(t, 10*time.Second, "snapshot result", topic("mirror/m1/cmd/snapshot/result"))
	if strings.Contains(string(res.Payload()), `"ok":true`) {
		t.Errorf("snapshot without fleet.allow_snapshot = %s, want refused", res.Payload())
	}

	// Desired configuration: a live key applies; a bad value is reported and not applied.
	ops.publish(t, "mirror/m1/config/desired", true, `{"version":2,"config":{"presence":{"exit_grace":"4s"}}}`)
	rep := ops.await(t, 10*time.Second, "reported v2", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/config/reported" && strings.Contains(string(m.Payload()), `"version":2`)
	})
	if !strings.Contains(string(rep.Payload()), `"exit_grace":"4s"`) || strings.Contains(string(rep.Payload()), "pw-m1") {
		t.Errorf("reported = %s, want exit_grace 4s and no password", rep.Payload())
	}
	ops.publish(t, "mirror/m1/config/desired", true, `{"version":3,"config":{"presence":{"enter_dwell":"45s"}}}`)
	rep = ops.await(t, 10*time.Second, "reported v3", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/config/reported" && strings.Contains(string(m.Payload()), `"version":3`)
	})
	if !strings.Contains(string(rep.Payload()), `"code":"invalid_config"`) || !strings.Contains(string(rep.Payload()), "presence.enter_dwell: must be between 0s and 30s") {
		t.Errorf("reported for a bad value = %s, want invalid_config naming the key", rep.Payload())
	}
	// A zone the camera's frame cannot hold is refused at the door, naming the key and the
	// real frame, and the zone in force stays (#23: it used to be reported applied, then
	// dropped at the next frame).
	ops.publish(t, "mirror/m1/config/desired", true, `{"version":4,"config":{"presence":{"zone":"0,0,99999999999,1"}}}`)
	rep = ops.await(t, 10*time.Second, "reported v4", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/config/reported" && strings.Contains(string(m.Payload()), `"version":4`)
	})
	if !strings.Contains(string(rep.Payload()), `"code":"invalid_config"`) || !strings.Contains(string(rep.Payload()), "presence.zone: 0,0,99999999999,1 is outside the 640×480 camera frame") ||
		!strings.Contains(string(rep.Payload()), `"zone":""`) {
		t.Errorf("reported for an impossible zone = %s, want invalid_config naming presence.zone and the old zone in force", rep.Payload())
	}
	ops.publish(t, "mirror/m1/config/desired", true, `{"version":5,"config":{"presence":{"zone":"0,0,320,240"}}}`)
	rep = ops.await(t, 10*time.Second, "reported v5", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/config/reported" && strings.Contains(string(m.Payload()), `"version":5`)
	})
	if strings.Contains(string(rep.Payload()), `"error"`) || !strings.Contains(string(rep.Payload()), `"zone":"0,0,320,240"`) {
		t.Errorf("reported for a zone inside the frame = %s, want applied", rep.Payload())
	}
	ops.publish(t, "mirror/m1/config/desired", true, "") // clear the retained message

	// A clean stop says offline itself.
	p.cmd.Process.Signal(syscall.SIGTERM)
	m = ops.await(t, 15*time.Second, "offline status", func(m mqtt.Message) bool {
		return m.Topic() == "mirror/m1/status" && strings.Contains(string(m.Payload()), `"state":"offline"`)
	})
	if strings.Contains(string(m.Payload()), "connection lost") {
		t.Errorf("clean stop published the Last Will %s, want its own offline", m.Payload())
	}
}

// TestCheckReportsBrokerAndCamera: mirror-agent check names a missing camera and a wrong
// broker password, each on its own line with a hint, and exits 1.
func TestCheckReportsBrokerAndCamera(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{Users: brokerUsers})
	out, _, code := runAgentCmd(t, "check", "--set", "state_dir="+t.TempDir(), "--set", "camera.source=/nonexistent/camera.avi",
		"--set", "device.id=m1", "--set", "mqtt.url="+b.URL(), "--set", "mqtt.password=wrong",
		"--set", "display.listen=127.0.0.1:0", "--set", "cloud.local.listen=127.0.0.1:0",
		"--set", "display.renderer=framebuffer", "--set", "display.fb_device=/nonexistent/fb9")
	if code != 1 {
		t.Errorf("check exit = %d, want 1\n%s", code, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			lines[f[1]] = l
		}
	}
	for part, want := range map[string][]string{
		"camera":      {"FAIL", "/nonexistent/camera.avi", "— "},
		"framebuffer": {"FAIL", "/nonexistent/fb9", "— "},
		"broker":      {"FAIL", "mqtt.password", "— "},
		"detector":    {"ok"},
		"display":     {"ok"},
		"state":       {"ok"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[part], w) {
				t.Errorf("check line for %s = %q, want it to contain %q", part, lines[part], w)
			}
		}
	}
	out, _, code = runAgentCmd(t, "check", "--set", "state_dir="+t.TempDir(), "--set", "camera.source="+corruptOrClip(t),
		"--set", "device.id=m1", "--set", "mqtt.url="+b.URL(), "--set", "mqtt.password=pw-m1",
		"--set", "display.listen=127.0.0.1:0", "--set", "cloud.local.listen=127.0.0.1:0")
	if code != 0 {
		t.Errorf("check with everything right: exit %d\n%s", code, out)
	}
}
