package main

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/fitmirror/fitmirror/cloud/fleet/broker"
	"github.com/fitmirror/fitmirror/cloud/fleet/mosquittotest"
)

// received is what a watching operator got: QoS and retain flag by topic.
type received struct {
	qos      byte
	retained bool
}

// watch subscribes a second operator to mirror/m1/# at QoS 2 (a message arrives at its
// publisher's QoS) and returns what it received so far.
func watch(t *testing.T, b *mosquittotest.Broker, clientID string) func() map[string]received {
	t.Helper()
	var mu sync.Mutex
	got := map[string]received{}
	o := mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID(clientID).
		SetUsername(broker.OpsUser).SetPassword("pw-ops").
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			defer mu.Unlock()
			if _, seen := got[m.Topic()]; !seen {
				got[m.Topic()] = received{qos: m.Qos(), retained: m.Retained()}
			}
		})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	if tok := c.Subscribe("mirror/m1/#", 2, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return func() map[string]received {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]received{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// TestContractQoSAndRetain: what mirrorctl publishes to a mirror (a command, a desired
// configuration) goes out at the QoS and with the retain flag of the topic table of
// docs/contracts.md §1.
func TestContractQoSAndRetain(t *testing.T) {
	doc, err := os.ReadFile("../../docs/contracts.md")
	if err != nil {
		t.Fatal(err)
	}
	rule := func(topic string) received {
		t.Helper()
		for _, line := range strings.Split(string(doc), "\n") {
			if cells := strings.Split(line, "|"); len(cells) > 5 && strings.TrimSpace(cells[1]) == "`"+topic+"`" {
				if dir := strings.TrimSpace(cells[2]); dir != "→device" {
					t.Fatalf("docs/contracts.md: %s goes %s, want →device (mirrorctl publishes it)", topic, dir)
				}
				q := strings.TrimSpace(cells[3])
				return received{qos: q[0] - '0', retained: strings.TrimSpace(cells[4]) == "yes"}
			}
		}
		t.Fatalf("docs/contracts.md: no row for %s in the topic table", topic)
		return received{}
	}
	b := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"m1": "pw-m1", broker.OpsUser: "pw-ops"}})
	startMirror(t, b)
	waitOnline(t, b)
	live := watch(t, b, "ops-watch")
	if code, _, errOut := ctl(t, b, "cmd", "m1", "set-light", `{"scene":"daylight"}`); code != 0 {
		t.Fatalf("cmd set-light = %d %s", code, errOut)
	}
	if code, _, errOut := ctl(t, b, "config", "m1", "presence.enter_dwell=1s"); code != 0 {
		t.Fatalf("config = %d %s", code, errOut)
	}
	late := watch(t, b, "ops-late")
	time.Sleep(500 * time.Millisecond) // retained messages follow the SUBACK
	for topic, sent := range map[string]string{
		"mirror/{id}/cmd/{name}":     "mirror/m1/cmd/set-light",
		"mirror/{id}/config/desired": "mirror/m1/config/desired",
	} {
		want := rule(topic)
		got, ok := live()[sent]
		if !ok {
			t.Errorf("the watching operator received nothing on %s", sent)
		} else if got.qos != want.qos {
			t.Errorf("%s arrived at QoS %d, docs/contracts.md says %d", sent, got.qos, want.qos)
		}
		if r, ok := late()[sent]; (ok && r.retained) != want.retained {
			t.Errorf("%s retained = %v, docs/contracts.md says %v", sent, ok && r.retained, want.retained)
		}
	}
}
